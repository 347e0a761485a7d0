"""Tables for ``engine.contact_points``: R10 party action and R11 click-to-contact. No database.

DECISIONS.md, "Combinations": click-to-contact offers only points the contact wrote, read by
phonenumbers in the default region; e-mail compared case-insensitively; number types follow
``dialable_number_types``; order numbers and ``x@localhost`` are no contact points; a party
action needs an active parent.
"""

from __future__ import annotations

import pytest

from cc_rules.engine import reasons
from cc_rules.engine.contact_points import (
    Point,
    click_to_contact,
    match,
    normalise,
    party_action_parent,
    points_in,
)
from cc_rules.engine.rulebook import RULES, RuleValueError, parse_value

from .test_decide_offer import agent_live, make_rules

READY = agent_live(voice={"status": "not_ready"}, email={"status": "ready"})


def found(text: str, region: str = "DE") -> list[tuple[str, str, str | None]]:
    return [(p.kind, p.value, p.number_type) for p in points_in(text, region)]


# -- which text is a contact point ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Meine Nummer: 030 98765432", [("phone", "+493098765432", "fixed_line")]),
        ("+49 (0)30 98765432 oder 0049 30 98765432", [("phone", "+493098765432", "fixed_line")]),
        ("Handy 0151 23456789", [("phone", "+4915123456789", "mobile")]),
        ("Hotline 0800 1234567", [("phone", "+498001234567", "toll_free")]),
        ("Ruf +49 900 1234567 an", [("phone", "+499001234567", "premium_rate")]),
        ("Service 0180 1234567", [("phone", "+491801234567", "shared_cost")]),
        ("Schreib an Kim.Lee@Example.COM!", [("email", "kim.lee@example.com", None)]),
        ("(kim@example.de), kim@EXAMPLE.de.", [("email", "kim@example.de", None)]),
        ("Bestellnummer 4711-0815-2231, order #123456789", []),
        ("Kundennr 1234567890, Rechnung Nr. 98765432, Auftrag 2024-000123", []),
        ("root@localhost oder x@localhost", []),
        ("Ticket 4711@shop und @kim", []),
        ("", []),
    ],
)
def test_points_in_finds_phones_and_emails_but_no_order_numbers(text, expected):
    assert found(text) == expected


def test_a_number_without_country_code_is_read_in_the_default_region():
    assert found("030 98765432", "AT") != found("030 98765432", "DE")
    assert found("+49 30 98765432", "US") == [("phone", "+493098765432", "fixed_line")]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("phone", "030 98765432", "+493098765432"),
        ("phone", "+49 30 9876-5432", "+493098765432"),
        ("phone", "0049 (30) 98765432", "+493098765432"),
        ("phone", "+493098765432", "+493098765432"),
        ("phone", "12", None),
        ("phone", "not a number", None),
        ("email", " Kim.Lee@Example.COM ", "kim.lee@example.com"),
        ("email", "x@localhost", None),
        ("email", "kim", None),
    ],
)
def test_normalise_reads_a_typed_address_as_the_engine_compares_it(kind, value, expected):
    point = normalise(kind, value, "DE")
    assert (point.value if point else None) == expected


def test_match_returns_the_original_on_file():
    on_file = [("+49 30 1111111", normalise("phone", "+49 30 1111111", "DE")), ("junk", None)]
    assert match(Point("phone", "+49301111111", "fixed_line"), on_file) == "+49 30 1111111"
    assert match(Point("phone", "+49302222222", "fixed_line"), on_file) is None


# -- click_to_contact: may the agent use a point now? (R11) -----------------------------------
PHONE = Point("phone", "+493098765432", "fixed_line")
PREMIUM = Point("phone", "+499001234567", "premium_rate")
SHARED = Point("phone", "+491801234567", "shared_cost")
MAIL = Point("email", "kim@example.com")


@pytest.mark.parametrize(
    ("agent_rules", "point", "live", "expected"),
    [
        ({}, PHONE, READY, (True, reasons.ALLOWED, None)),
        ({}, MAIL, READY, (True, reasons.ALLOWED, None)),
        ({}, PREMIUM, READY, (False, reasons.NUMBER_TYPE_NOT_ALLOWED, "R11:dialable_number_types")),
        ({}, SHARED, READY, (False, reasons.NUMBER_TYPE_NOT_ALLOWED, "R11:dialable_number_types")),
        (
            {"dialable_number_types": ["premium_rate"]},
            PREMIUM,
            READY,
            (True, reasons.ALLOWED, None),
        ),
        (
            {"dialable_number_types": ["premium_rate"]},
            PHONE,
            READY,
            (False, reasons.NUMBER_TYPE_NOT_ALLOWED, "R11:dialable_number_types"),
        ),
        # The switch comes first: a premium number with click-to-contact off names the switch.
        (
            {"click_to_contact": False},
            PREMIUM,
            READY,
            (False, reasons.CLICK_TO_CONTACT_DISABLED, "R11:click_to_contact"),
        ),
        # Then the outbound decision: number types are no matter for an e-mail.
        (
            {"dialable_number_types": []},
            MAIL,
            agent_live(voice={"status": "ready"}),
            (False, reasons.LOGGED_OFF, "R2:per_channel_status"),
        ),
        (
            {},
            PHONE,
            agent_live(dnd=True, voice={"status": "not_ready"}),
            (True, reasons.ALLOWED, None),
        ),
        (
            {},
            PHONE,
            agent_live(voice={"status": "ready", "open": 1}),
            (False, reasons.CHANNEL_CAP_REACHED, "R9:channel_cap"),
        ),
    ],
)
def test_click_to_contact_decides_switch_then_number_type_then_outbound(
    agent_rules, point, live, expected
):
    decision = click_to_contact(make_rules(agent=agent_rules), live, point)
    allowed, code, rule = expected
    assert (decision.allowed, decision.code) == (allowed, code)
    if rule is None:
        assert decision.rule is None or decision.allowed
    else:
        assert str(decision.rule).startswith(rule)


def test_dialable_number_types_default_refuses_premium_rate_and_shared_cost():
    default = RULES["dialable_number_types"].default
    assert default == {"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free"}
    assert parse_value("dialable_number_types", ["mobile", "mobile"]) == {"mobile"}
    with pytest.raises(RuleValueError, match="premium"):
        parse_value("dialable_number_types", ["premium"])
    with pytest.raises(RuleValueError):
        parse_value("dialable_number_types", "mobile")


# -- party action (R10) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "allowed"),
    [("active", True), ("offered", False), ("ended", False), ("done", False), ("closed", False)],
)
def test_party_action_needs_an_active_parent(state, allowed):
    decision = party_action_parent(state)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.code == reasons.PARENT_NOT_ACTIVE
        assert str(decision.rule) == "R10:party_action_parent@default"
