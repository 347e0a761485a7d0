"""R10 party action and R11 click-to-contact: which contact points a chat offers, and whether the
agent may use one now (DECISIONS.md, "Combinations": click-to-contact, party action).

Pure functions over text, effective rules and live state; the region for numbers written without
a country code is passed in (``CC_DEFAULT_REGION`` in the settings). The message path (the points
listed with ``allowed``/``code``/``rule``) and the write path (``start_outbound``) both call
``click_to_contact``, so what a message offers and what a call accepts never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from . import reasons
from .decide import may_take_work
from .types import AgentLive, Decision, EffectiveRules, RuleRef, builtin

PHONE: str = "phone"
EMAIL: str = "email"
POINT_CHANNEL: dict[str, str] = {PHONE: "voice", EMAIL: "email"}  # the outbound channel per kind
CHANNEL_POINT: dict[str, str] = {v: k for k, v in POINT_CHANNEL.items()}

# The rulebook's names for phonenumbers' number types (rulebook.NUMBER_TYPES).
_TYPE_NAMES: dict[int, str] = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed_line",
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "uan",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}

# An address a customer can be written to: a dotted domain with a letter TLD, so ``x@localhost``
# (or an order reference such as ``4711@shop``) is not a contact point.
_EMAIL = re.compile(
    r"(?<![\w.+-])"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?![\w-])"
)
_MAX_EMAIL = 254
PARENT_RULE: RuleRef = builtin("R10", "party_action_parent")


@dataclass(frozen=True)
class Point:
    """One contact point: ``kind`` phone (``value`` in E.164, with its ``number_type``) or
    email (``value`` lower-cased: compared case-insensitively)."""

    kind: str
    value: str
    number_type: str | None = None

    @property
    def channel(self) -> str:
        return POINT_CHANNEL[self.kind]


def _phone(number: phonenumbers.PhoneNumber) -> Point:
    return Point(
        PHONE,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
    )


def points_in(text: str, region: str) -> list[Point]:
    """R11: every phone number and e-mail address in ``text``, in order, without duplicates.

    Numbers are found by phonenumbers' matcher (valid numbers only, so order and customer
    numbers are not taken for phones); one without a country code is read in ``region``.
    """
    found: list[Point] = []
    seen: set[tuple[str, str]] = set()
    matches = [_phone(m.number) for m in phonenumbers.PhoneNumberMatcher(text, region)]
    emails = [Point(EMAIL, m.group(0).lower()) for m in _EMAIL.finditer(text)]
    for point in [*matches, *(e for e in emails if len(e.value) <= _MAX_EMAIL)]:
        if (point.kind, point.value) not in seen:
            seen.add((point.kind, point.value))
            found.append(point)
    return found


def normalise(kind: str, value: str, region: str) -> Point | None:
    """``value`` as a point of ``kind`` (``030 98765432`` → ``+493098765432`` in ``DE``;
    e-mail lower-cased), or None when it is no valid number or address."""
    if kind == EMAIL:
        value = value.strip()
        match = _EMAIL.fullmatch(value)
        return Point(EMAIL, value.lower()) if match and len(value) <= _MAX_EMAIL else None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return _phone(number) if phonenumbers.is_valid_number(number) else None


def match(wanted: Point, among: list[tuple[str, Point | None]]) -> str | None:
    """The original of the first of ``among`` (original, normalised) that is ``wanted``."""
    for original, point in among:
        if point is not None and (point.kind, point.value) == (wanted.kind, wanted.value):
            return original
    return None


def click_to_contact(rules: EffectiveRules, live: AgentLive, point: Point) -> Decision:
    """R11 click-to-contact: may this agent use ``point`` (found in the contact's messages) now?

    Checked in this order, so codes are stable: the ``click_to_contact`` rule
    (``click_to_contact_disabled``); for a phone, its number type against
    ``dialable_number_types`` (``number_type_not_allowed``: premium rate and shared cost are
    not dialable by default); then the outbound decision on the point's channel
    (``may_take_work(outbound=True)``, R10/R9).
    """
    switch = rules.setting("click_to_contact")
    if not switch.value:
        return Decision(False, reasons.CLICK_TO_CONTACT_DISABLED, switch.ref)
    if point.kind == PHONE:
        dialable = rules.setting("dialable_number_types")
        if point.number_type not in dialable.value:
            return Decision(False, reasons.NUMBER_TYPE_NOT_ALLOWED, dialable.ref)
    return may_take_work(rules, live, point.channel, outbound=True)


def party_action_parent(parent_state: str) -> Decision:
    """R10 party action: the interaction it is started from must be open (``active``);
    an ended (or offered, missed…) parent → ``parent_not_active`` (DECISIONS.md,
    "Combinations": party action)."""
    if parent_state != "active":
        return Decision(False, reasons.PARENT_NOT_ACTIVE, PARENT_RULE)
    return Decision(True, reasons.ALLOWED, None)
