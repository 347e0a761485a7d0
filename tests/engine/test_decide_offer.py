"""Tables for ``decide.may_take_work``: the offer decision (R1, R3, R6, R8, R9, R10). No database.

Check order (DECISIONS.md, "Offers and routing"): channel_not_visible → logged_off → dnd_active →
pending_held → after_call_work → not_ready → channel_cap_reached → total_cap_reached →
blocked_by_channel. Each order row switches on *every* later failure at once, so a check that
runs too early shows up as the wrong code.
"""

from __future__ import annotations

from typing import Any

import pytest

from cc_rules.engine import decide, reasons
from cc_rules.engine.resolve import RoleSets, RuleIndex, RuleRow
from cc_rules.engine.rulebook import CHANNELS, parse_value
from cc_rules.engine.types import AgentLive, ChannelLive, EffectiveRules

AGENT_ID = 7
ROLE_ID = 3
VISIBLE = ("voice", "email", "chat", "im")
ROLE_RULES: dict[str, Any] = {
    "channel_cap": {"voice": 1, "chat": 2, "email": 3},
    "total_cap": 4,
    "blocking_pairs": [["voice", "chat"]],
    "pending_enabled": True,
    "acw_enabled": {"voice": True, "chat": True},
    "consult_takes_slot": True,
}


def make_rules(
    role: dict[str, Any] | None = None,
    *,
    agent: dict[str, Any] | None = None,
    visible: tuple[str, ...] = VISIBLE,
) -> EffectiveRules:
    """Effective rules built by the real resolver. Row ids: role rows from 100, agent from 500."""
    rows: list[RuleRow] = []

    def add(scope: str, target: int, values: dict[str, Any], first_id: int) -> None:
        n = 0
        for key, value in values.items():
            per_channel = value if isinstance(value, dict) else {None: value}
            for channel, v in per_channel.items():
                rows.append(RuleRow(first_id + n, key, scope, target, channel, parse_value(key, v)))
                n += 1

    add("role", ROLE_ID, ROLE_RULES if role is None else role, 100)
    add("agent", AGENT_ID, agent or {}, 500)
    roles = {ROLE_ID: RoleSets(ROLE_ID, "blended", frozenset(visible), frozenset({"break"}))}
    return RuleIndex(rows, roles, frozenset(CHANNELS), frozenset()).resolve(AGENT_ID, ROLE_ID)


RULES = make_rules()
CHAT_HIDDEN = make_rules(visible=("voice", "email", "im"))


def agent_live(dnd: bool = False, **channels: dict[str, Any]) -> AgentLive:
    """``chat={"status": "ready", "open": 2}``: open = open_count = open_work unless given."""
    out = {}
    for code, spec in channels.items():
        spec = dict(spec)
        n = spec.pop("open", 0)
        spec.setdefault("open_count", n)
        spec.setdefault("open_work", n)
        out[code] = ChannelLive(code, spec.pop("status", "ready"), **spec)
    return AgentLive(dnd=dnd, channels=out)


# -- the check order -------------------------------------------------------------------------
ORDER = reasons.OFFER_CHECK_ORDER
STATUS_FAILURES = {
    reasons.LOGGED_OFF: "logged_off",
    reasons.AFTER_CALL_WORK: "after_call_work",
    reasons.NOT_READY: "not_ready",
}


def failing_from(stage: int) -> tuple[EffectiveRules, AgentLive]:
    """Rules and live state on which every check from ``ORDER[stage]`` on fails (chat offer)."""
    on = set(ORDER[stage:])
    rules = CHAT_HIDDEN if reasons.CHANNEL_NOT_VISIBLE in on else RULES
    status = next((s for code, s in STATUS_FAILURES.items() if code in on), "ready")
    chat: dict[str, Any] = {"status": status, "reason": "break" if status == "not_ready" else None}
    if reasons.PENDING_HELD in on:
        chat |= {"pending_status": "not_ready", "pending_reason": "break"}
    # chat cap 2, total cap 4, voice blocks chat: pick open counts that break exactly those on.
    if reasons.CHANNEL_CAP_REACHED in on:
        counts = {"chat": 2, "voice": 1, "email": 1}  # chat full, total 4, voice open
    elif reasons.TOTAL_CAP_REACHED in on:
        counts = {"chat": 1, "voice": 1, "email": 2}  # total 4, voice open
    else:
        counts = {"chat": 0, "voice": 1, "email": 0}  # only voice open: blocks chat
    live = agent_live(
        dnd=reasons.DND_ACTIVE in on,
        chat=chat | {"open": counts["chat"]},
        voice={"status": "ready", "open": counts["voice"]},
        email={"status": "ready", "open": counts["email"]},
    )
    return rules, live


@pytest.mark.parametrize(("stage", "code"), list(enumerate(ORDER)), ids=list(ORDER))
def test_it_refuses_with_the_first_failing_check_in_the_documented_order(stage, code):
    rules, live = failing_from(stage)
    decision = decide.may_take_work(rules, live, "chat")
    assert (decision.allowed, decision.code) == (False, code)


def test_the_check_order_is_the_one_decisions_md_documents():
    assert ORDER == (
        "channel_not_visible",
        "logged_off",
        "dnd_active",
        "pending_held",
        "after_call_work",
        "not_ready",
        "channel_cap_reached",
        "total_cap_reached",
        "blocked_by_channel",
    )


# -- each code names the rule that decided ---------------------------------------------------
def _one_failure(code: str) -> tuple[EffectiveRules, AgentLive]:
    """Exactly one check fails (the chat offer is otherwise fine)."""
    ok = {"chat": {"status": "ready"}, "voice": {"status": "ready"}, "email": {"status": "ready"}}
    if code == reasons.CHANNEL_NOT_VISIBLE:
        return CHAT_HIDDEN, agent_live(**ok)
    if code == reasons.DND_ACTIVE:
        return RULES, agent_live(dnd=True, **ok)
    if code in STATUS_FAILURES:
        return RULES, agent_live(**(ok | {"chat": {"status": STATUS_FAILURES[code]}}))
    if code == reasons.PENDING_HELD:
        chat = {"status": "ready", "open": 1, "pending_status": "logged_off"}
        return RULES, agent_live(**(ok | {"chat": chat}))
    if code == reasons.CHANNEL_CAP_REACHED:
        return RULES, agent_live(**(ok | {"chat": {"status": "ready", "open": 2}}))
    if code == reasons.TOTAL_CAP_REACHED:
        return RULES, agent_live(
            **(ok | {"chat": {"status": "ready", "open": 1}, "email": {"open": 3}})
        )
    assert code == reasons.BLOCKED_BY_CHANNEL
    return RULES, agent_live(**(ok | {"voice": {"status": "ready", "open": 1}}))


EXPECTED_RULE = {
    reasons.CHANNEL_NOT_VISIBLE: f"R1:visible_channels@role#{ROLE_ID}",
    reasons.LOGGED_OFF: str(decide.STATUS_RULE),
    reasons.DND_ACTIVE: str(decide.DND_RULE),
    reasons.PENDING_HELD: "R8:pending_enabled@role#",
    reasons.AFTER_CALL_WORK: "R14:acw_enabled[chat]@role#",
    reasons.NOT_READY: str(decide.STATUS_RULE),
    reasons.CHANNEL_CAP_REACHED: "R9:channel_cap[chat]@role#",
    reasons.TOTAL_CAP_REACHED: "R9:total_cap@role#",
    reasons.BLOCKED_BY_CHANNEL: "R9:blocking_pairs@role#",
}


@pytest.mark.parametrize("code", ORDER)
def test_each_refusal_names_the_rule_that_decided(code):
    rules, live = _one_failure(code)
    decision = decide.may_take_work(rules, live, "chat")
    assert (decision.allowed, decision.code) == (False, code)
    assert str(decision.rule).startswith(EXPECTED_RULE[code])


def test_it_allows_a_ready_agent_under_every_cap_and_names_the_channel_cap():
    live = agent_live(chat={"status": "ready", "open": 1}, email={"open": 2})
    decision = decide.may_take_work(RULES, live, "chat")
    assert (decision.allowed, decision.code) == (True, reasons.ALLOWED)
    assert str(decision.rule).startswith("R9:channel_cap[chat]@role#")


def test_an_agent_scope_rule_decides_over_the_role_and_is_named():
    rules = make_rules(agent={"total_cap": 1})
    live = agent_live(chat={"status": "ready"}, email={"open": 1})
    decision = decide.may_take_work(rules, live, "chat")
    assert decision.code == reasons.TOTAL_CAP_REACHED
    assert decision.rule.scope == "agent"
    assert decision.rule.rule_id == 500


def test_im_never_counts_toward_the_total_cap():
    live = agent_live(chat={"status": "ready"}, im={"status": "ready", "open": 9})
    assert decide.may_take_work(RULES, live, "chat").allowed


def test_a_channel_without_a_state_row_is_logged_off():
    assert decide.may_take_work(RULES, agent_live(), "email").code == reasons.LOGGED_OFF


def test_unlimited_caps_never_refuse():
    rules = make_rules({"channel_cap": {"chat": None}, "total_cap": None})
    live = agent_live(chat={"status": "ready", "open": 500}, email={"open": 500})
    assert decide.may_take_work(rules, live, "chat").allowed


def test_blocking_pairs_are_directional():
    live = agent_live(chat={"status": "ready", "open": 1}, voice={"status": "ready"})
    assert decide.may_take_work(RULES, live, "voice").allowed  # chat does not block voice


def test_blocking_counts_open_work_that_takes_no_slot():
    # A consultation call that takes no slot is still a call in progress.
    live = agent_live(chat={"status": "ready"}, voice={"open_count": 0, "open_work": 1})
    assert decide.may_take_work(RULES, live, "chat").code == reasons.BLOCKED_BY_CHANNEL


# -- outbound (R10): skips DND, ACW and ready ---------------------------------------------------
@pytest.mark.parametrize(
    ("dnd", "status"),
    [(True, "ready"), (False, "after_call_work"), (False, "not_ready"), (True, "after_call_work")],
)
def test_outbound_skips_dnd_acw_and_not_ready(dnd, status):
    live = agent_live(dnd=dnd, voice={"status": status})
    decision = decide.may_take_work(RULES, live, "voice", outbound=True)
    assert (decision.allowed, decision.code) == (True, reasons.ALLOWED)


@pytest.mark.parametrize(
    ("rules", "voice", "others", "code"),
    [
        (
            make_rules(visible=("email", "chat")),
            {"status": "not_ready"},
            {},
            reasons.CHANNEL_NOT_VISIBLE,
        ),
        (RULES, {"status": "logged_off"}, {}, reasons.LOGGED_OFF),
        (
            RULES,
            {"status": "not_ready", "pending_status": "logged_off"},
            {},
            reasons.PENDING_HELD,
        ),
        (RULES, {"status": "not_ready", "open": 1}, {}, reasons.CHANNEL_CAP_REACHED),
        (RULES, {"status": "not_ready"}, {"email": {"open": 3}, "chat": {"open": 1}}, "total"),
        (
            make_rules(ROLE_RULES | {"blocking_pairs": [["email", "voice"]]}),
            {"status": "after_call_work"},
            {"email": {"open": 1}},
            reasons.BLOCKED_BY_CHANNEL,
        ),
    ],
    ids=["invisible", "logged_off", "pending", "channel_cap", "total_cap", "blocked"],
)
def test_outbound_still_checks_visibility_login_pending_caps_and_pairs(rules, voice, others, code):
    code = reasons.TOTAL_CAP_REACHED if code == "total" else code
    live = agent_live(dnd=True, voice=voice, **others)
    decision = decide.may_take_work(rules, live, "voice", outbound=True)
    assert (decision.allowed, decision.code) == (False, code)


# -- assist (R6): consult/conference teammate -------------------------------------------------
@pytest.mark.parametrize("status", ["ready", "not_ready", "after_call_work"])
def test_a_teammate_need_not_be_ready_to_be_consulted(status):
    live = agent_live(voice={"status": status})
    assert decide.may_take_work(RULES, live, "voice", assist=True).allowed


@pytest.mark.parametrize(
    ("dnd", "voice", "code"),
    [
        (True, {"status": "ready"}, reasons.DND_ACTIVE),
        (True, {"status": "not_ready"}, reasons.DND_ACTIVE),
        (False, {"status": "logged_off"}, reasons.LOGGED_OFF),
        (False, {"status": "not_ready", "open": 1}, reasons.CHANNEL_CAP_REACHED),
        (False, {"status": "not_ready", "open": 1, "pending_status": "x"}, reasons.PENDING_HELD),
    ],
    ids=["dnd_ready", "dnd_not_ready", "logged_off", "at_cap", "pending"],
)
def test_a_teammate_is_refused_in_dnd_logged_off_pending_or_at_cap(dnd, voice, code):
    live = agent_live(dnd=dnd, voice=voice)
    assert decide.may_take_work(RULES, live, "voice", assist=True).code == code


def test_a_teammate_who_does_not_see_the_channel_is_refused():
    rules = make_rules(visible=("email", "chat"))
    live = agent_live(voice={"status": "ready"})
    decision = decide.may_take_work(rules, live, "voice", assist=True)
    assert decision.code == reasons.CHANNEL_NOT_VISIBLE


# -- counts=False: a child that takes no slot skips the caps -----------------------------------
def test_a_child_that_takes_no_slot_skips_channel_and_total_caps():
    rules = make_rules(ROLE_RULES | {"consult_takes_slot": False})
    live = agent_live(voice={"status": "not_ready", "open": 1}, email={"open": 3})
    counted = decide.may_take_work(rules, live, "voice", assist=True)
    assert counted.code == reasons.CHANNEL_CAP_REACHED
    free = decide.may_take_work(rules, live, "voice", assist=True, counts=False)
    assert (free.allowed, free.code) == (True, reasons.ALLOWED)
    assert str(free.rule).startswith("R6:consult_takes_slot@role#")


def test_a_child_that_takes_no_slot_still_needs_login_and_no_dnd():
    live = agent_live(dnd=True, voice={"status": "ready", "open": 1})
    decision = decide.may_take_work(RULES, live, "voice", assist=True, counts=False)
    assert decision.code == reasons.DND_ACTIVE
    live = agent_live(voice={"status": "logged_off"})
    decision = decide.may_take_work(RULES, live, "voice", assist=True, counts=False)
    assert decision.code == reasons.LOGGED_OFF


def test_a_child_that_takes_no_slot_still_obeys_blocking_pairs():
    rules = make_rules(
        ROLE_RULES | {"consult_takes_slot": False, "blocking_pairs": [["chat", "voice"]]}
    )
    live = agent_live(voice={"status": "not_ready"}, chat={"open": 1})
    decision = decide.may_take_work(rules, live, "voice", assist=True, counts=False)
    assert decision.code == reasons.BLOCKED_BY_CHANNEL
