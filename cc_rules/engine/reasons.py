"""Stable reason codes. Clients and auditors match on these strings; never rename one."""

from typing import Final

# Decisions on new work, in the order the checks run (DECISIONS.md, "Offers and routing").
ALLOWED: Final = "allowed"
CHANNEL_NOT_VISIBLE: Final = "channel_not_visible"
LOGGED_OFF: Final = "logged_off"
DND_ACTIVE: Final = "dnd_active"
PENDING_HELD: Final = "pending_held"
AFTER_CALL_WORK: Final = "after_call_work"
NOT_READY: Final = "not_ready"
CHANNEL_CAP_REACHED: Final = "channel_cap_reached"
TOTAL_CAP_REACHED: Final = "total_cap_reached"
BLOCKED_BY_CHANNEL: Final = "blocked_by_channel"

OFFER_CHECK_ORDER: Final = (
    CHANNEL_NOT_VISIBLE,
    LOGGED_OFF,
    DND_ACTIVE,
    PENDING_HELD,
    AFTER_CALL_WORK,
    NOT_READY,
    CHANNEL_CAP_REACHED,
    TOTAL_CAP_REACHED,
    BLOCKED_BY_CHANNEL,
)

# Other refusals (API.md, "Errors").
NO_ELIGIBLE_AGENT: Final = "no_eligible_agent"
FORWARD_TARGET_UNAVAILABLE: Final = "forward_target_unavailable"
ACTIVE_INTERACTIONS: Final = "active_interactions"
MARK_DONE_REQUIRED: Final = "mark_done_required"
WRAP_UP_NOT_EXTENDABLE: Final = "wrap_up_not_extendable"
INVALID_TRANSITION: Final = "invalid_transition"
REQUEST_IN_PROGRESS: Final = "request_in_progress"
CLICK_TO_CONTACT_DISABLED: Final = "click_to_contact_disabled"
REASON_REQUIRED: Final = "reason_required"
UNKNOWN_REASON: Final = "unknown_reason"
OFFER_EXPIRED: Final = "offer_expired"
PARENT_NOT_ACTIVE: Final = "parent_not_active"
AGENT_NOT_LOGGED_IN: Final = "agent_not_logged_in"
NUMBER_TYPE_NOT_ALLOWED: Final = "number_type_not_allowed"
# 400, not 409: the request itself is not one a supervisor may make (R3: only the agent turns
# do-not-disturb on).
DND_ON_NOT_ALLOWED: Final = "dnd_on_not_allowed"

# System reasons written on status changes the system makes; exempt from "reason required".
SYSTEM_LOGIN: Final = "login"
SYSTEM_ACW_TIMEOUT: Final = "acw_timeout"
SYSTEM_MISSED_OFFER: Final = "missed_offer"
SYSTEM_REASONS: Final = frozenset({SYSTEM_LOGIN, SYSTEM_ACW_TIMEOUT, SYSTEM_MISSED_OFFER})

# What each refusal code means, for the OpenAPI schema and the README (one line each).
DESCRIPTIONS: Final = {
    CHANNEL_NOT_VISIBLE: "the agent's role does not see the channel (R1)",
    LOGGED_OFF: "the agent is logged off the channel (R2)",
    DND_ACTIVE: "do-not-disturb is on (R3)",
    PENDING_HELD: "a status is pending on the channel (R8)",
    AFTER_CALL_WORK: "the channel is in after-call work (R14)",
    NOT_READY: "the channel is not ready (R2)",
    CHANNEL_CAP_REACHED: "the channel's cap is reached (R9)",
    TOTAL_CAP_REACHED: "the cap over all channels is reached (R9)",
    BLOCKED_BY_CHANNEL: "open work on another channel blocks this one (R9)",
    NO_ELIGIBLE_AGENT: "routing found no agent who may take the work now",
    FORWARD_TARGET_UNAVAILABLE: "the agent forwards (R4) to an extension that cannot take it",
    ACTIVE_INTERACTIONS: "work is still open; it cannot be logged off",
    MARK_DONE_REQUIRED: "mark the interaction done before closing it (R12)",
    WRAP_UP_NOT_EXTENDABLE: "wrap-up cannot be extended here (R15)",
    INVALID_TRANSITION: "the state does not allow it (e.g. not the ACW of this interaction)",
    REQUEST_IN_PROGRESS: "the same Idempotency-Key is still being answered",
    CLICK_TO_CONTACT_DISABLED: "click-to-contact is off for the agent (R11)",
    OFFER_EXPIRED: "the offer's deadline has passed; it is missed",
    PARENT_NOT_ACTIVE: "party action (R10) needs its parent interaction active",
    AGENT_NOT_LOGGED_IN: "a supervisor cannot bring a logged-off channel to another status",
    NUMBER_TYPE_NOT_ALLOWED: "the number's type is not in dialable_number_types (R11)",
}
