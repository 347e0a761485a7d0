"""Tables for the engine functions where rules meet (DECISIONS.md, "Combinations"; R1, R2, R4,
R6, R8, R9, R13, R14, R15). No database: effective rules are built the way the resolver
builds them (``tests/engine/test_decide_status.make_rules``).
"""

from __future__ import annotations

import pytest

from cc_rules.engine import decide, forwarding, reasons
from cc_rules.engine.types import AgentLive, ChannelLive
from tests.engine.test_decide_status import make_rules

ACW_VOICE = make_rules({"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 30}})
PENDING_SENT = make_rules({"pending_enabled": True, "pending_release_on": ["sent"]})
PENDING_SENT_ACW = make_rules(
    {
        "pending_enabled": True,
        "pending_release_on": ["sent"],
        "acw_enabled": {"voice": True, "email": True},
        "acw_seconds": {"voice": 30, "email": 30},
    }
)
HELD = {"pending_status": "not_ready", "pending_reason": "break"}


def ch(channel: str = "voice", status: str = "ready", **kwargs) -> ChannelLive:
    return ChannelLive(channel, status, **kwargs)


# -- decide.work_ended: release, drop, visibility, assist ---------------------------------------
@pytest.mark.parametrize(
    ("name", "rules", "state", "how", "assist", "acw", "release", "dropped"),
    [
        ("released, no ACW", PENDING_SENT, ch("email", **HELD), "sent", False, False,
         ("not_ready", "break", "pending_released"), False),
        ("not released, no ACW: dropped", PENDING_SENT, ch("email", **HELD), "workbin", False,
         False, None, True),
        ("released, ACW: kept for ACW's end", PENDING_SENT_ACW, ch("email", **HELD), "sent",
         False, True, None, False),
        ("not released, ACW: dropped now", PENDING_SENT_ACW, ch("voice", **HELD), "hangup",
         False, True, None, True),
        ("invisible: logged off", make_rules(visible=("email",)), ch("voice"), "hangup", False,
         False, ("logged_off", None, "system"), False),
        ("invisible with a held status: logged off, held dropped", make_rules(
            {"pending_enabled": True, "pending_release_on": ["sent"]}, visible=("email",)),
         ch("voice", **HELD), "hangup", False, False, ("logged_off", None, "system"), True),
        ("assist: no ACW by default", ACW_VOICE, ch("voice"), "hangup", True, False, None, False),
        ("assist with acw_after_assist", make_rules(
            {"acw_enabled": {"voice": True}, "acw_after_assist": True}), ch("voice"), "hangup",
         True, True, None, False),
    ],
)  # fmt: skip
def test_work_ended_combinations(name, rules, state, how, assist, acw, release, dropped):
    outcome = decide.work_ended(rules, state, how, was_last=True, assist=assist)
    assert outcome.start_acw is acw, name
    landed = outcome.release
    got = (landed.status, landed.reason, landed.cause) if landed else None
    assert got == release, name
    assert (outcome.drop_pending is not None) is dropped, name
    if dropped:
        assert str(outcome.drop_pending).startswith("R8:pending_release_on"), name


# -- decide.acw_exit: the whole pre-ACW pair, pending, visibility ---------------------------------
@pytest.mark.parametrize(
    ("name", "rules", "state", "trigger", "landing"),
    [
        ("pre-ACW not_ready without a reason comes back as is", ACW_VOICE,
         ch(status="after_call_work", pre_acw_status="not_ready"), "timer", ("not_ready", None)),
        ("pre-ACW not_ready with a reason", ACW_VOICE,
         ch(status="after_call_work", pre_acw_status="not_ready", pre_acw_reason="break"),
         "timer", ("not_ready", "break")),
        ("pre-ACW ready: the rule's status", ACW_VOICE,
         ch(status="after_call_work", pre_acw_status="ready"), "timer", ("ready", None)),
        ("held not_ready lands even with outbound work open", ACW_VOICE,
         ch(status="after_call_work", open_work=1, **HELD), "timer", ("not_ready", "break")),
        ("held logged_off waits for outbound work", ACW_VOICE,
         ch(status="after_call_work", open_work=1, pending_status="logged_off"), "timer",
         ("ready", None)),
        ("invisible: ACW ends as logged_off", make_rules(visible=("email",)),
         ch(status="after_call_work", **HELD), "timer", ("logged_off", None)),
    ],
)  # fmt: skip
def test_acw_exit_combinations(name, rules, state, trigger, landing):
    target = decide.acw_exit(rules, state, trigger).target
    assert (target.status, target.reason) == landing, name


# -- decide.status_request: manual status during ACW (issue 13 case 10) -------------------------
@pytest.mark.parametrize(
    ("state", "ask", "action"),
    [
        (ch(status="after_call_work", open_work=1), ("not_ready", "lunch"), "apply"),
        (ch(status="after_call_work", open_work=1), ("logged_off", None), "hold"),
        (ch(status="ready", open_work=1), ("not_ready", "lunch"), "hold"),
    ],
)
def test_a_manual_status_during_acw_applies_at_once_even_with_outbound_open(state, ask, action):
    rules = make_rules({"pending_enabled": True})
    assert decide.status_request(rules, state, *ask).action == action


# -- decide.supervisor_force, logout, missed_offer, visibility_lost, acts_on_acw -------------------
@pytest.mark.parametrize(
    ("state", "status", "code"),
    [
        (ch(status="logged_off"), "ready", reasons.AGENT_NOT_LOGGED_IN),
        (ch(status="logged_off"), "not_ready", reasons.AGENT_NOT_LOGGED_IN),
        (ch(status="logged_off"), "logged_off", None),
        (ch(status="ready", open_work=1), "logged_off", reasons.ACTIVE_INTERACTIONS),
        (ch(status="after_call_work"), "ready", None),
        (ch(status="ready"), "not_ready", None),
    ],
)
def test_supervisor_force(state, status, code):
    refusal = decide.supervisor_force(state, status)
    assert (refusal.code if refusal else None) == code


@pytest.mark.parametrize(
    ("channels", "refused"),
    [({"voice": ch(open_work=1)}, True), ({"voice": ch(), "chat": ch("chat")}, False), ({}, False)],
)
def test_logout_is_refused_while_work_is_open(channels, refused):
    refusal = decide.logout(AgentLive(dnd=True, channels=channels))
    assert (refusal is not None) is refused


@pytest.mark.parametrize(
    ("rules", "state", "by_rule", "expected"),
    [
        (make_rules({"missed_offer_not_ready": True}), ch(), True, ("not_ready", "missed_offer")),
        (make_rules({"missed_offer_not_ready": True}), ch(), False, None),  # deactivation
        (make_rules({"missed_offer_not_ready": True}), ch(status="not_ready"), True, None),
        (make_rules(), ch(), True, None),
    ],
)
def test_missed_offer(rules, state, by_rule, expected):
    target = decide.missed_offer(rules, state, by_rule=by_rule)
    assert ((target.status, target.reason) if target else None) == expected


@pytest.mark.parametrize(
    ("visible", "state", "logs_off"),
    [
        (("email",), ch(), True),
        (("email",), ch(status="after_call_work"), True),
        (("email",), ch(open_work=1), False),  # stays for its open work
        (("email",), ch(status="logged_off"), False),
        (("voice",), ch(), False),
    ],
)
def test_visibility_lost(visible, state, logs_off):
    target = decide.visibility_lost(make_rules(visible=visible), state)
    assert (target is not None) is logs_off
    if target:
        assert (target.status, target.cause, str(target.rule)) == (
            "logged_off",
            "system",
            "R1:visibility_lost@default",
        )


@pytest.mark.parametrize(
    ("state", "interaction", "acts"),
    [
        (ch(status="after_call_work", acw_interaction=5), 5, True),
        (ch(status="after_call_work", acw_interaction=5), 4, False),
        (ch(status="after_call_work", acw_interaction=None), 5, False),
        (ch(status="ready", acw_interaction=5), 5, False),
    ],
)
def test_acw_belongs_to_the_interaction_whose_end_started_it(state, interaction, acts):
    assert decide.acts_on_acw(state, interaction) is acts


# -- forwarding (R4) ------------------------------------------------------------------------------
def party(agent_id, extension, forward_to=None, *, status="ready", dnd=False):
    rules = make_rules()
    live = AgentLive(dnd=dnd, channels={"voice": ch(status=status)})
    return forwarding.Party(agent_id, extension, forward_to, rules, live)


@pytest.mark.parametrize(
    ("named", "target", "channel", "allowed", "code", "to_agent", "forwarded_to"),
    [
        (party(1, "11"), None, "voice", True, "allowed", 1, None),
        (party(1, "11", "12"), party(2, "12"), "voice", True, "allowed", 2, "12"),
        (party(1, "11", "12"), party(2, "12", status="not_ready"), "voice", False,
         "forward_target_unavailable", 2, "12"),
        (party(1, "11", "12"), party(2, "12", dnd=True), "voice", False,
         "forward_target_unavailable", 2, "12"),
        (party(1, "11", "12"), None, "voice", False, "forward_target_unavailable", None, "12"),
        (party(1, "11", "12"), party(2, "13"), "voice", False, "forward_target_unavailable",
         None, "12"),  # the target moved: its extension is not the forwarded one
        (party(1, "11", "12", status="not_ready"), party(2, "12"), "voice", True, "allowed", 2,
         "12"),  # the named agent's own status does not matter when forwarding
    ],
)  # fmt: skip
def test_offer_to_applies_forwarding(named, target, channel, allowed, code, to_agent, forwarded_to):
    outcome = forwarding.offer_to(named, channel, target)
    assert (outcome.decision.allowed, outcome.decision.code) == (allowed, code)
    assert outcome.agent_id == to_agent
    assert outcome.forwarded_to == forwarded_to
    if not allowed and target is not None and target.extension == forwarded_to:
        assert outcome.target_code in reasons.OFFER_CHECK_ORDER


def test_only_voice_follows_forwarding():
    outcome = forwarding.offer_to(party(1, "11", "12"), "chat", party(2, "12"))
    assert outcome.agent_id == 1
    assert outcome.forwarded_to is None


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"target_exists": False}, "unknown_extension"),
        ({"to_extension": "11"}, "own_extension"),
        ({"target_forwards": True}, "forwarding_chain"),
        ({"forwarded_to_me": True}, "forwarding_chain"),
        ({}, None),
    ],
)
def test_forwarding_refusal(kwargs, code):
    arguments = {
        "own_extension": "11",
        "to_extension": "12",
        "target_exists": True,
        "target_forwards": False,
        "forwarded_to_me": False,
    } | kwargs
    assert forwarding.forwarding_refusal(**arguments) == code
