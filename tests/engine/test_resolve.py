"""The resolver's precedence (DECISIONS.md, "Rules") and the rulebook's value checks. No DB.

Most specific scope wins, per field and per channel: agent, then role, then global, then the
rulebook's default. No row means *inherit*; a row with ``None`` means unlimited / no timer.
"""

from __future__ import annotations

import itertools

import pytest

from cc_rules.engine.resolve import RoleSets, RuleIndex, RuleRow
from cc_rules.engine.rulebook import CHANNELS, RULES, RuleValueError, parse_value

AGENT, ROLE, OTHER_ROLE = 7, 3, 4
_ids = itertools.count(1)


def row(scope: str, key: str, value, channel: str | None = None, target: int | None = None):
    """A rule row as the selector builds it: the value already parsed by the rulebook."""
    if target is None:
        target = {"agent": AGENT, "role": ROLE, "global": None}[scope]
    return RuleRow(
        id=next(_ids),
        key=key,
        scope=scope,
        target=target,
        channel=channel,
        value=parse_value(key, value),
    )


def resolve(
    *rows: RuleRow,
    role_visible: frozenset[str] | None = None,
    role_codes: frozenset[str] | None = None,
    global_visible: frozenset[str] = frozenset({"voice", "email"}),
    global_codes: frozenset[str] = frozenset({"break", "lunch"}),
    role_id: int | None = ROLE,
):
    roles = {
        ROLE: RoleSets(ROLE, "blended", role_visible, role_codes),
        OTHER_ROLE: RoleSets(OTHER_ROLE, "voice_only", frozenset({"voice"}), frozenset({"x"})),
    }
    index = RuleIndex(rows, roles, global_visible, global_codes)
    return index.resolve(AGENT, role_id)


# -- precedence ---------------------------------------------------------------------------------
def test_without_rows_every_field_is_the_rulebook_default():
    rules = resolve()
    for key, definition in RULES.items():
        channel = "voice" if definition.per_channel else None
        setting = rules.setting(key, channel)
        assert setting.value == definition.default
        assert setting.ref.scope == "default"
        assert setting.ref.rule_id is None


def test_global_row_beats_the_default():
    rules = resolve(row("global", "total_cap", 4))
    assert rules.value("total_cap") == 4
    assert rules.setting("total_cap").ref.scope == "global"


def test_role_row_beats_the_global_row():
    rules = resolve(row("global", "total_cap", 4), row("role", "total_cap", 6))
    assert rules.value("total_cap") == 6
    assert rules.setting("total_cap").ref.scope == "role"


def test_agent_row_beats_role_and_global_rows():
    agent_row = row("agent", "total_cap", 2)
    rules = resolve(row("global", "total_cap", 4), row("role", "total_cap", 6), agent_row)
    setting = rules.setting("total_cap")
    assert setting.value == 2
    assert setting.ref.scope == "agent"
    assert setting.ref.rule_id == agent_row.id


def test_the_setting_names_the_rule_number_key_and_channel_it_came_from():
    role_row = row("role", "acw_seconds", 15, channel="voice")
    ref = resolve(role_row).setting("acw_seconds", "voice").ref
    assert (ref.rnum, ref.key, ref.scope, ref.channel, ref.rule_id) == (
        "R14",
        "acw_seconds",
        "role",
        "voice",
        role_row.id,
    )


def test_rows_of_another_agent_or_role_do_not_apply():
    rules = resolve(
        row("agent", "total_cap", 1, target=AGENT + 1),
        row("role", "total_cap", 2, target=OTHER_ROLE),
        row("global", "total_cap", 9),
    )
    assert rules.value("total_cap") == 9


def test_an_agent_without_a_role_gets_global_rows_and_global_sets():
    rules = resolve(row("role", "total_cap", 2), row("global", "total_cap", 9), role_id=None)
    assert rules.value("total_cap") == 9
    assert rules.visible == frozenset({"voice", "email"})
    assert rules.role is None


# -- per field, per channel -----------------------------------------------------------------------
def test_agent_override_of_chat_cap_leaves_the_roles_email_cap_in_force():
    rules = resolve(
        row("role", "channel_cap", 2, channel="chat"),
        row("role", "channel_cap", 3, channel="email"),
        row("agent", "channel_cap", 1, channel="chat"),
    )
    assert rules.value("channel_cap", "chat") == 1
    assert rules.setting("channel_cap", "chat").ref.scope == "agent"
    assert rules.value("channel_cap", "email") == 3
    assert rules.setting("channel_cap", "email").ref.scope == "role"


def test_agent_override_of_one_field_leaves_other_fields_of_the_channel_alone():
    rules = resolve(
        row("role", "acw_enabled", True, channel="voice"),
        row("role", "acw_seconds", 15, channel="voice"),
        row("agent", "acw_seconds", 60, channel="voice"),
    )
    assert rules.value("acw_seconds", "voice") == 60
    assert rules.value("acw_enabled", "voice") is True
    assert rules.setting("acw_enabled", "voice").ref.scope == "role"


def test_per_channel_rows_apply_to_their_channel_only():
    rules = resolve(
        row("global", "channel_cap", 5, channel="email"),
        row("role", "channel_cap", 1, channel="voice"),
    )
    assert rules.value("channel_cap", "voice") == 1
    assert rules.value("channel_cap", "email") == 5
    assert rules.value("channel_cap", "chat") is None  # default: unlimited
    assert rules.setting("channel_cap", "chat").ref.scope == "default"


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_resolves_on_its_own(channel):
    rows = [row("global", "mark_done_required", False, channel=c) for c in CHANNELS]
    rows.append(row("agent", "mark_done_required", True, channel=channel))
    rules = resolve(*rows)
    assert {c for c in CHANNELS if rules.value("mark_done_required", c)} == {channel}


# -- set-valued rules are replaced whole -----------------------------------------------------------
def test_blocking_pairs_of_the_role_replace_the_global_pairs_whole():
    rules = resolve(
        row("global", "blocking_pairs", [["voice", "chat"], ["voice", "email"]]),
        row("role", "blocking_pairs", [["chat", "email"]]),
    )
    assert rules.value("blocking_pairs") == frozenset({("chat", "email")})


def test_an_empty_agent_set_replaces_the_roles_set_rather_than_inheriting_it():
    rules = resolve(
        row("role", "pending_release_on", ["hangup", "sent"]),
        row("agent", "pending_release_on", []),
    )
    assert rules.value("pending_release_on") == frozenset()
    assert rules.setting("pending_release_on").ref.scope == "agent"


def test_release_events_of_the_agent_replace_the_roles_events_whole():
    rules = resolve(
        row("role", "pending_release_on", ["hangup", "chat_ended", "sent", "workbin"]),
        row("agent", "pending_release_on", ["hangup"]),
    )
    assert rules.value("pending_release_on") == frozenset({"hangup"})


# -- visibility and reason codes: role or global --------------------------------------------------
def test_a_role_with_its_own_channels_sees_only_those():
    rules = resolve(role_visible=frozenset({"email"}))
    assert rules.visible == frozenset({"email"})
    assert rules.visible_ref.scope == "role"
    assert rules.visible_ref.rule_id == ROLE


def test_a_role_without_its_own_channels_inherits_the_global_set():
    rules = resolve(role_visible=None, global_visible=frozenset({"voice", "im"}))
    assert rules.visible == frozenset({"voice", "im"})
    assert rules.visible_ref.scope == "global"


def test_role_reason_codes_replace_the_global_codes():
    rules = resolve(role_codes=frozenset({"coaching"}))
    assert rules.reason_codes == frozenset({"coaching"})
    assert rules.reason_codes_ref.scope == "role"


def test_a_role_without_reason_codes_uses_the_global_codes():
    rules = resolve(role_codes=None, global_codes=frozenset({"break", "lunch"}))
    assert rules.reason_codes == frozenset({"break", "lunch"})
    assert rules.reason_codes_ref.scope == "global"


# -- None is a value; absence is inherit -------------------------------------------------------
def test_role_null_cap_means_unlimited_and_overrides_the_global_cap():
    rules = resolve(
        row("global", "channel_cap", 1, channel="chat"),
        row("role", "channel_cap", None, channel="chat"),
    )
    setting = rules.setting("channel_cap", "chat")
    assert setting.value is None
    assert setting.ref.scope == "role"


def test_agent_null_timer_means_no_timer_and_overrides_the_roles_seconds():
    rules = resolve(
        row("role", "acw_seconds", 15, channel="voice"),
        row("agent", "acw_seconds", None, channel="voice"),
    )
    assert rules.value("acw_seconds", "voice") is None
    assert rules.setting("acw_seconds", "voice").ref.scope == "agent"


def test_no_agent_row_inherits_the_roles_value_not_null():
    rules = resolve(row("role", "acw_seconds", 15, channel="voice"))
    assert rules.value("acw_seconds", "voice") == 15
    assert rules.setting("acw_seconds", "voice").ref.scope == "role"


def test_default_null_is_reported_as_default_not_as_a_configured_value():
    rules = resolve()
    setting = rules.setting("total_cap")
    assert setting.value is None
    assert setting.ref.scope == "default"


# -- the rulebook refuses nonsense -------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("channel_cap", -1, "cannot be negative"),
        ("total_cap", -3, "cannot be negative"),
        ("channel_cap", True, "whole number"),
        ("total_cap", False, "whole number"),
        ("channel_cap", 2.5, "whole number"),
        ("channel_cap", "3", "whole number"),
        ("blocking_pairs", [["chat", "chat"]], "blocks a channel by itself"),
        ("blocking_pairs", [["voice", "fax"]], "Unknown channel"),
        ("blocking_pairs", [["voice"]], "not an [active, blocked] pair"),
        ("blocking_pairs", "voice,chat", "pairs"),
        ("pending_release_on", ["hangup", "hung_up"], "Unknown end event"),
        ("pending_release_on", "hangup", "A list of end events"),
        ("after_done", "lunch", "is not one of"),
        ("after_done", "after_call_work", "is not one of"),
        ("acw_after_timer", "logged_off", "is not one of"),
        ("acw_seconds", 0, "must be positive"),
        ("acw_seconds", -5, "must be positive"),
        ("offer_timeout_seconds", 0, "must be positive"),
        ("acw_seconds", True, "whole number"),
        ("acw_enabled", "yes", "true or false"),
        ("after_done_reason", "", "reason code"),
    ],
)
def test_parse_value_refuses_nonsense(key, value, message):
    with pytest.raises(RuleValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_value(key, value)


def test_parse_value_refuses_an_unknown_rule():
    with pytest.raises(RuleValueError, match="Unknown rule"):
        parse_value("max_fun", 1)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("channel_cap", 0, 0),
        ("channel_cap", None, None),
        ("acw_seconds", None, None),
        ("acw_seconds", 15, 15),
        ("after_done", "keep_acw", "keep_acw"),
        ("blocking_pairs", [["voice", "chat"]], frozenset({("voice", "chat")})),
        ("pending_release_on", [], frozenset()),
    ],
)
def test_parse_value_accepts_sensible_values(key, value, expected):
    assert parse_value(key, value) == expected
