"""Every configurable rule: its key, the R-number it implements, its type and global default.

A rule row (``cc_rules.models.Rule``) stores one value for one key at one scope (global, role
or agent) and, for per-channel keys, one channel. Absence of a row means *inherit*; the value
``None`` means *unlimited* / *no timer* where the definition allows it, so the three are distinct
values (DECISIONS.md, "Rules"). Set-valued rules are replaced whole by a more specific scope.

This module is plain Python: the admin form, the API and the resolver all validate through
``RuleDef.parse``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHANNELS: tuple[str, ...] = (
    "voice",
    "email",
    "chat",
    "facebook",
    "twitter",
    "workitem",
    "im",
    "cobrowse",
)
STATUSES: tuple[str, ...] = ("logged_off", "ready", "not_ready", "after_call_work")
END_EVENTS: tuple[str, ...] = ("hangup", "chat_ended", "sent", "workbin")

# Which `how` ends an interaction on which channel (DECISIONS.md, "Words").
CHANNEL_END_EVENTS: dict[str, frozenset[str]] = {
    "voice": frozenset({"hangup"}),
    "chat": frozenset({"chat_ended"}),
    "facebook": frozenset({"chat_ended"}),
    "twitter": frozenset({"chat_ended"}),
    "cobrowse": frozenset({"chat_ended"}),
    "email": frozenset({"sent", "workbin"}),
    "workitem": frozenset({"sent", "workbin"}),
    "im": frozenset(),
}

AFTER_TIMER_CHOICES = ("ready", "not_ready")
# Phone number types as phonenumbers names them (R11, ``dialable_number_types``).
NUMBER_TYPES: tuple[str, ...] = (
    "fixed_line",
    "mobile",
    "fixed_line_or_mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "unknown",
)
DIALABLE_BY_DEFAULT = frozenset({"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free"})
AFTER_DONE_CHOICES = ("ready", "not_ready", "keep_acw", "manual")


class RuleValueError(ValueError):
    """A rule value that makes no sense; the message is shown to the admin as is."""


def _cap(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleValueError("A cap is a whole number of interactions, or null for unlimited.")
    if value < 0:
        raise RuleValueError("A cap cannot be negative.")
    if value > 1000:
        raise RuleValueError("A cap above 1000 is not a cap; use null for unlimited.")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise RuleValueError("This rule is true or false.")
    return value


def _seconds_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleValueError("Seconds are a whole number, or null for no timer.")
    if value <= 0:
        raise RuleValueError("Seconds must be positive; use null for no timer.")
    if value > 86400:
        raise RuleValueError("Seconds cannot exceed one day (86400).")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise RuleValueError(f"{value!r} is not one of: {', '.join(choices)}.")
        return str(value)

    return parse


def _end_events(value: Any) -> frozenset[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleValueError(f"A list of end events, each one of: {', '.join(END_EVENTS)}.")
    unknown = sorted(set(value) - set(END_EVENTS))
    if unknown:
        raise RuleValueError(f"Unknown end event(s): {', '.join(unknown)}.")
    return frozenset(value)


def _number_types(value: Any) -> frozenset[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleValueError(f"A list of number types, each one of: {', '.join(NUMBER_TYPES)}.")
    unknown = sorted(set(value) - set(NUMBER_TYPES))
    if unknown:
        raise RuleValueError(f"Unknown number type(s): {', '.join(unknown)}.")
    return frozenset(value)


def _pairs(value: Any) -> frozenset[tuple[str, str]]:
    """R9 blocking pairs: [[A, B], …] = while active on A, no new work on B."""
    if not isinstance(value, list | tuple):
        raise RuleValueError('A list of [active, blocked] channel pairs, e.g. [["voice", "chat"]].')
    pairs = set()
    for pair in value:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(c, str) for c in pair)
        ):
            raise RuleValueError(f"{pair!r} is not an [active, blocked] pair of channels.")
        active, blocked = pair
        unknown = sorted({active, blocked} - set(CHANNELS))
        if unknown:
            raise RuleValueError(f"Unknown channel(s): {', '.join(unknown)}.")
        if active == blocked:
            raise RuleValueError(
                f"The pair [{active}, {blocked}] blocks a channel by itself; "
                "use the channel cap for that."
            )
        pairs.add((active, blocked))
    return frozenset(pairs)


def _reason_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 32:
        raise RuleValueError("A reason code (text up to 32 characters), or null.")
    return value


@dataclass(frozen=True)
class RuleDef:
    key: str
    rule: str  # the R-number in DOMAIN.md
    label: str
    per_channel: bool
    default: Any
    parse: Callable[[Any], Any]
    help: str
    agent_scope: bool = True

    def encode(self, value: Any) -> Any:
        """The JSON form of a parsed value (sets become sorted lists)."""
        if isinstance(value, frozenset):
            return sorted(list(v) if isinstance(v, tuple) else v for v in value)
        return value


RULES: dict[str, RuleDef] = {
    d.key: d
    for d in (
        RuleDef(
            "channel_cap",
            "R9",
            "Max open interactions on the channel",
            True,
            None,
            _cap,
            "Whole number, or null for unlimited.",
        ),
        RuleDef(
            "total_cap",
            "R9",
            "Max open interactions over all channels",
            False,
            None,
            _cap,
            "Whole number, or null for unlimited. IM never counts.",
        ),
        RuleDef(
            "blocking_pairs",
            "R9",
            "While active on A, no new work on B",
            False,
            frozenset(),
            _pairs,
            'List of [A, B] pairs, e.g. [["voice", "chat"]]. Replaced whole.',
        ),
        RuleDef(
            "pending_enabled",
            "R8",
            "Hold status requests while handling work",
            False,
            False,
            _bool,
            "true: a status asked for during open work waits until the work ends.",
        ),
        RuleDef(
            "pending_release_on",
            "R8",
            "End events that release a pending status",
            False,
            frozenset(END_EVENTS),
            _end_events,
            "List of hangup, chat_ended, sent, workbin. Replaced whole.",
        ),
        RuleDef(
            "reason_required",
            "R2",
            "Not Ready needs a reason code",
            False,
            False,
            _bool,
            "true: not_ready must name one of the role's reason codes.",
        ),
        RuleDef(
            "acw_enabled",
            "R14",
            "After-call work follows the last interaction",
            True,
            False,
            _bool,
            "true: the channel goes to after_call_work when its last open work ends.",
        ),
        RuleDef(
            "acw_seconds",
            "R14",
            "Wrap-up timer (seconds)",
            True,
            None,
            _seconds_or_none,
            "Whole seconds, or null for no timer (ACW lasts until done or a manual status).",
        ),
        RuleDef(
            "acw_after_timer",
            "R14",
            "Status when the wrap-up timer ends",
            True,
            "ready",
            _choice(AFTER_TIMER_CHOICES),
            "ready or not_ready (reason acw_timeout).",
        ),
        RuleDef(
            "acw_extendable",
            "R15",
            "Agent may extend wrap-up indefinitely",
            True,
            False,
            _bool,
            "true: POST …/wrap-up/extend/ clears the deadline.",
        ),
        RuleDef(
            "after_done",
            "R13",
            "Status after mark done",
            True,
            "manual",
            _choice(AFTER_DONE_CHOICES),
            "ready, not_ready (with after_done_reason), keep_acw (timer still ends ACW) or "
            "manual (done cancels the timer; the agent sets the status).",
        ),
        RuleDef(
            "after_done_reason",
            "R13",
            "Reason code for not_ready after done",
            True,
            None,
            _reason_or_none,
            "A reason code of the role, or null.",
        ),
        RuleDef(
            "mark_done_required",
            "R12",
            "Mark done required before close",
            True,
            False,
            _bool,
            "true: close before done answers 409 mark_done_required.",
        ),
        RuleDef(
            "click_to_contact",
            "R11",
            "Click-to-contact on chat messages",
            False,
            True,
            _bool,
            "true: phone numbers and e-mails found in chat messages can be used.",
        ),
        RuleDef(
            "consult_takes_slot",
            "R6",
            "Consultation/conference takes a slot of the teammate",
            False,
            True,
            _bool,
            "true: a child interaction counts toward the teammate's caps.",
        ),
        RuleDef(
            "acw_after_assist",
            "R6",
            "After-call work for the teammate after a consultation/conference",
            False,
            False,
            _bool,
            "true: ending a consultation or conference child starts the teammate's ACW as any "
            "work does; false: no ACW for assisting.",
        ),
        RuleDef(
            "offer_timeout_seconds",
            "R9",
            "Seconds an offer waits before it is missed",
            False,
            30,
            _seconds_or_none,
            "Whole seconds, or null: offers never expire.",
        ),
        RuleDef(
            "missed_offer_not_ready",
            "R9",
            "A missed offer sets the channel not_ready",
            False,
            False,
            _bool,
            "true: a missed offer sets not_ready with reason missed_offer.",
        ),
        RuleDef(
            "dialable_number_types",
            "R11",
            "Phone number types click-to-contact may dial",
            False,
            DIALABLE_BY_DEFAULT,
            _number_types,
            f"List of {', '.join(NUMBER_TYPES)}. Replaced whole. Other types answer 409 "
            "number_type_not_allowed.",
        ),
    )
}


def parse_value(key: str, value: Any) -> Any:
    """Validate and normalise a rule value; raise RuleValueError with an admin-facing message."""
    try:
        definition = RULES[key]
    except KeyError:
        raise RuleValueError(f"Unknown rule {key!r}.") from None
    return definition.parse(value)
