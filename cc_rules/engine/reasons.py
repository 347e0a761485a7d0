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

# System reasons written on status changes the system makes; exempt from "reason required".
SYSTEM_LOGIN: Final = "login"
SYSTEM_ACW_TIMEOUT: Final = "acw_timeout"
SYSTEM_MISSED_OFFER: Final = "missed_offer"
SYSTEM_REASONS: Final = frozenset({SYSTEM_LOGIN, SYSTEM_ACW_TIMEOUT, SYSTEM_MISSED_OFFER})
