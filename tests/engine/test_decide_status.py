"""Tables for the status decisions of the engine (R2, R3, R7, R8, R9, R13, R14). No database.

Effective rules are built the way the resolver builds them (``RuleIndex`` over rule rows), so
the ``RuleRef`` a decision names carries a real scope and row id.
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
CODES = ("break", "lunch", "meeting")


def make_rules(
    role: dict[str, Any] | None = None,
    *,
    glob: dict[str, Any] | None = None,
    visible: tuple[str, ...] = ("voice", "email", "chat", "im"),
    codes: tuple[str, ...] = CODES,
) -> EffectiveRules:
    """Rules as the resolver makes them. ``role``/``glob``: {key: value} or {key: {channel: v}}
    for per-channel keys. Row ids: role rows from 100, global rows from 1."""
    rows: list[RuleRow] = []

    def add(scope: str, target: int | None, values: dict[str, Any], first_id: int) -> None:
        for key, value in values.items():
            if isinstance(value, dict):
                for channel, v in value.items():
                    rows.append(
                        RuleRow(
                            first_id + len(rows), key, scope, target, channel, parse_value(key, v)
                        )
                    )
            else:
                rows.append(
                    RuleRow(first_id + len(rows), key, scope, target, None, parse_value(key, value))
                )

    add("global", None, glob or {}, 1)
    add("role", ROLE_ID, role or {}, 100)
    roles = {ROLE_ID: RoleSets(ROLE_ID, "blended", frozenset(visible), frozenset(codes))}
    index = RuleIndex(rows, roles, frozenset(CHANNELS), frozenset())
    return index.resolve(AGENT_ID, ROLE_ID)


PENDING_ON = make_rules({"pending_enabled": True})
PENDING_OFF = make_rules({"pending_enabled": False})


def live(channel: str = "chat", status: str = "ready", **kwargs: Any) -> ChannelLive:
    return ChannelLive(channel, status, **kwargs)


# -- decide.status_request (R2, R7, R8) ---------------------------------------------------------
NR_BREAK = {"status": "not_ready", "reason": "break"}
WORK = {"open_count": 1, "open_work": 1}


@pytest.mark.parametrize(
    ("name", "rules", "state", "ask", "action", "code", "rule"),
    [
        # PUT is idempotent: same status, reason, no pending → no-op.
        ("same not_ready+reason", PENDING_ON, live(**NR_BREAK), NR_BREAK, "noop", "unchanged",
         "R2:per_channel_status@default"),
        ("same ready", PENDING_ON, live(), {"status": "ready"}, "noop", "unchanged",
         "R2:per_channel_status@default"),
        ("same logged_off", PENDING_ON, live(status="logged_off"), {"status": "logged_off"},
         "noop", "unchanged", "R2:per_channel_status@default"),
        ("same, with open work", PENDING_ON, live(**NR_BREAK, **WORK), NR_BREAK, "noop",
         "unchanged", "R2:per_channel_status@default"),
        # No open work: everything applies at once.
        ("reason change alone is a change", PENDING_ON, live(**NR_BREAK),
         {"status": "not_ready", "reason": "lunch"}, "apply", "applied",
         "R2:per_channel_status@default"),
        ("ready → not_ready", PENDING_ON, live(), NR_BREAK, "apply", "applied",
         "R2:per_channel_status@default"),
        ("not_ready → ready", PENDING_ON, live(**NR_BREAK), {"status": "ready"}, "apply",
         "applied", "R2:per_channel_status@default"),
        ("ready → logged_off", PENDING_ON, live(), {"status": "logged_off"}, "apply", "applied",
         "R2:per_channel_status@default"),
        ("logged_off → ready", PENDING_ON, live(status="logged_off"), {"status": "ready"},
         "apply", "applied", "R2:per_channel_status@default"),
        ("a manual status during ACW", PENDING_ON, live(status="after_call_work"), NR_BREAK,
         "apply", "applied", "R2:per_channel_status@default"),
        # Open work, pending rule on (R8): held; replaced; ready never held and cancels.
        ("held", PENDING_ON, live(**WORK), NR_BREAK, "hold", "pending_held",
         "R8:pending_enabled@role#100"),
        ("logged_off held", PENDING_ON, live(**WORK), {"status": "logged_off"}, "hold",
         "pending_held", "R8:pending_enabled@role#100"),
        ("new request replaces pending", PENDING_ON,
         live(pending_status="not_ready", pending_reason="break", **WORK),
         {"status": "not_ready", "reason": "lunch"}, "hold", "pending_held",
         "R8:pending_enabled@role#100"),
        ("logged_off replaces pending not_ready", PENDING_ON,
         live(pending_status="not_ready", pending_reason="break", **WORK),
         {"status": "logged_off"}, "hold", "pending_held", "R8:pending_enabled@role#100"),
        ("asking again for the pending status", PENDING_ON,
         live(pending_status="not_ready", pending_reason="break", **WORK), NR_BREAK, "noop",
         "unchanged", "R8:pending_enabled@role#100"),
        ("ready while ready cancels pending", PENDING_ON,
         live(pending_status="not_ready", pending_reason="break", **WORK), {"status": "ready"},
         "cancel_pending", "pending_cancelled", "R2:per_channel_status@default"),
        ("ready while not_ready is never held", PENDING_ON,
         live(status="not_ready", reason="lunch", pending_status="logged_off", **WORK),
         {"status": "ready"}, "apply", "applied", "R2:per_channel_status@default"),
        # Open work that does not count toward caps is still open work (a consultation child).
        ("uncounted open work holds too", PENDING_ON, live(open_count=0, open_work=1), NR_BREAK,
         "hold", "pending_held", "R8:pending_enabled@role#100"),
        # Open work, pending rule off: applies at once (R7); logged_off is refused.
        ("R7: not_ready at once", PENDING_OFF, live(**WORK), NR_BREAK, "apply", "applied",
         "R7:time_accounting@default"),
        ("R7: logged_off refused", PENDING_OFF, live(**WORK), {"status": "logged_off"},
         "refuse", "active_interactions", "R8:pending_enabled@role#100"),
        ("R7: rule absent = default off", make_rules(), live(**WORK), NR_BREAK, "apply",
         "applied", "R7:time_accounting@default"),
        ("R7: ready with open work", PENDING_OFF, live(**NR_BREAK, **WORK), {"status": "ready"},
         "apply", "applied", "R2:per_channel_status@default"),
    ],
)  # fmt: skip
def test_status_request(name, rules, state, ask, action, code, rule):
    outcome = decide.status_request(rules, state, ask["status"], ask.get("reason"))
    assert (outcome.action, outcome.code, str(outcome.rule)) == (action, code, rule), name


def test_pending_rule_from_global_scope_names_the_global_row():
    rules = make_rules(glob={"pending_enabled": True})
    outcome = decide.status_request(rules, live(**WORK), "not_ready", "break")
    assert outcome.action == "hold"
    assert outcome.rule.scope == "global"
    assert outcome.rule.rule_id == 1


def test_asking_for_the_current_status_while_pending_cancels_the_pending_one():
    """Not held again as a pending not_ready→not_ready 'change': the agent wants to stay."""
    state = live(**NR_BREAK, pending_status="logged_off", **WORK)
    outcome = decide.status_request(PENDING_ON, state, "not_ready", "break")
    assert (outcome.action, outcome.code) == ("cancel_pending", "pending_cancelled")


# -- decide.check_reason (R2) -------------------------------------------------------------------
REQUIRED = make_rules({"reason_required": True})


@pytest.mark.parametrize(
    ("rules", "status", "reason", "expected"),
    [
        (PENDING_ON, "ready", None, None),
        (PENDING_ON, "logged_off", None, None),
        (PENDING_ON, "not_ready", None, None),  # not required by default
        (PENDING_ON, "not_ready", "break", None),
        (REQUIRED, "not_ready", "lunch", None),
        (REQUIRED, "not_ready", None, ("reason_required", "R2:reason_required@role#100")),
        (REQUIRED, "ready", None, None),  # required only for not_ready
        (PENDING_ON, "not_ready", "nap", ("unknown_reason", "R2:reason_codes@role#3")),
        (PENDING_ON, "not_ready", "BREAK", ("unknown_reason", "R2:reason_codes@role#3")),
        (PENDING_ON, "not_ready", "", ("unknown_reason", "R2:reason_codes@role#3")),
        # System reasons are written by the system only, never accepted from a client.
        (PENDING_ON, "not_ready", "login", ("unknown_reason", "R2:reason_codes@role#3")),
        (PENDING_ON, "not_ready", "acw_timeout", ("unknown_reason", "R2:reason_codes@role#3")),
        (PENDING_ON, "not_ready", "missed_offer", ("unknown_reason", "R2:reason_codes@role#3")),
        (REQUIRED, "not_ready", "login", ("unknown_reason", "R2:reason_codes@role#3")),
        # Only not_ready takes a reason.
        (PENDING_ON, "ready", "break", ("unknown_reason", "R2:reason_codes@role#3")),
        (PENDING_ON, "logged_off", "break", ("unknown_reason", "R2:reason_codes@role#3")),
    ],
)
def test_check_reason(rules, status, reason, expected):
    refusal = decide.check_reason(rules, status, reason)
    assert (None if refusal is None else (refusal[0], str(refusal[1]))) == expected


def test_system_reasons_are_refused_even_if_a_role_lists_them():
    rules = make_rules(codes=("break", "login"))
    assert decide.check_reason(rules, "not_ready", "login") is not None


def test_check_reason_uses_the_global_codes_when_the_role_has_none():
    index = RuleIndex([], {ROLE_ID: RoleSets(ROLE_ID, "x", None, None)}, frozenset(CHANNELS),
                      frozenset({"coffee"}))  # fmt: skip
    rules = index.resolve(AGENT_ID, ROLE_ID)
    assert decide.check_reason(rules, "not_ready", "coffee") is None
    code, rule = decide.check_reason(rules, "not_ready", "break")
    assert (code, rule.scope) == ("unknown_reason", "global")


# -- decide.may_take_work: check order (DECISIONS.md "Offers and routing") ----------------------
CAPS = make_rules(
    {
        "channel_cap": {"chat": 1, "voice": 1},
        "total_cap": 2,
        "blocking_pairs": [["voice", "chat"]],
        "pending_enabled": True,
        "acw_enabled": {"chat": True},
    }
)


def agent(dnd: bool = False, **channels: ChannelLive) -> AgentLive:
    return AgentLive(dnd=dnd, channels=channels)


# Each step repairs exactly the first failing check, so the codes must come out in order.
LADDER = [
    ("workitem", agent(True, workitem=live("workitem", "logged_off")), "channel_not_visible",
     "R1:visible_channels@role"),
    ("chat", agent(True, chat=live(status="logged_off", pending_status="logged_off")),
     "logged_off", "R2:per_channel_status@default"),
    ("chat", agent(True, chat=live(status="after_call_work", pending_status="not_ready")),
     "dnd_active", "R3:do_not_disturb@default"),
    ("chat", agent(False, chat=live(status="after_call_work", pending_status="not_ready")),
     "pending_held", "R8:pending_enabled@role"),
    ("chat", agent(False, chat=live(status="after_call_work")), "after_call_work",
     "R14:acw_enabled[chat]@role"),
    ("chat", agent(False, chat=live(status="not_ready", reason="break")), "not_ready",
     "R2:per_channel_status@default"),
    ("chat", agent(False, chat=live(open_count=1, open_work=1)), "channel_cap_reached",
     "R9:channel_cap[chat]@role"),
    ("chat", agent(False, chat=live(), email=live("email", open_count=2, open_work=2)),
     "total_cap_reached", "R9:total_cap@role"),
    ("chat", agent(False, chat=live(), voice=live("voice", "not_ready", open_count=1,
                                                   open_work=1)),
     "blocked_by_channel", "R9:blocking_pairs@role"),
    ("chat", agent(False, chat=live(), voice=live("voice")), "allowed",
     "R9:channel_cap[chat]@role"),
]  # fmt: skip


@pytest.mark.parametrize(("channel", "state", "code", "rule"), LADDER)
def test_may_take_work_check_order(channel, state, code, rule):
    decision = decide.may_take_work(CAPS, state, channel)
    assert (decision.allowed, decision.code) == (code == "allowed", code)
    assert str(decision.rule).split("#")[0] == rule  # R-number, key, channel and scope


def test_ladder_codes_follow_the_documented_order():
    codes = [step[2] for step in LADDER[:-1]]
    assert tuple(codes) == reasons.OFFER_CHECK_ORDER


def test_a_channel_without_a_state_row_is_logged_off():
    assert decide.may_take_work(CAPS, agent(), "chat").code == "logged_off"


OUTBOUND = [
    # Outbound (R10) skips DND, ACW and not_ready ...
    (agent(True, chat=live()), "allowed"),
    (agent(False, chat=live(status="after_call_work")), "allowed"),
    (agent(False, chat=live(status="not_ready", reason="break")), "allowed"),
    (agent(True, chat=live(status="not_ready", reason="break")), "allowed"),
    # ... but not visibility, login, pending, caps or blocking pairs.
    (agent(True, chat=live(status="logged_off")), "logged_off"),
    (agent(False, chat=live(status="not_ready", pending_status="logged_off")), "pending_held"),
    (agent(True, chat=live(status="not_ready", open_count=1, open_work=1)),
     "channel_cap_reached"),
    (agent(False, chat=live(), email=live("email", open_count=2, open_work=2)),
     "total_cap_reached"),
    (agent(False, chat=live(status="not_ready"), voice=live("voice", open_work=1)),
     "blocked_by_channel"),
]  # fmt: skip


@pytest.mark.parametrize(("state", "code"), OUTBOUND)
def test_outbound_skips_dnd_acw_and_not_ready(state, code):
    assert decide.may_take_work(CAPS, state, "chat", outbound=True).code == code


def test_outbound_still_needs_a_visible_channel():
    decision = decide.may_take_work(CAPS, agent(), "workitem", outbound=True)
    assert decision.code == "channel_not_visible"


def test_im_never_counts_toward_the_total_cap():
    state = agent(chat=live(), im=live("im", open_count=5, open_work=5))
    assert decide.may_take_work(CAPS, state, "chat").code == "allowed"


def test_unlimited_caps_never_refuse():
    rules = make_rules({"channel_cap": {"chat": None}, "total_cap": None})
    state = agent(chat=live(open_count=500, open_work=500))
    assert decide.may_take_work(rules, state, "chat").allowed


def test_zero_cap_refuses_the_first_offer():
    rules = make_rules({"channel_cap": {"chat": 0}})
    assert decide.may_take_work(rules, agent(chat=live()), "chat").code == "channel_cap_reached"


def test_blocking_pairs_are_directional():
    """[voice, chat] blocks chat while on a call, not voice while chatting."""
    state = agent(voice=live("voice"), chat=live(open_count=1, open_work=1))
    rules = make_rules({"blocking_pairs": [["voice", "chat"]]})
    assert decide.may_take_work(rules, state, "voice").code == "allowed"


# -- decide.acw_exit (R8, R13, R14) -------------------------------------------------------------
ACW = make_rules(
    {
        "pending_enabled": True,
        "acw_enabled": {"voice": True},
        "acw_after_timer": {"voice": "ready"},
        "after_done": {"voice": "ready"},
    }
)
ACW_NR = make_rules(
    {
        "acw_after_timer": {"voice": "not_ready"},
        "after_done": {"voice": "not_ready"},
        "after_done_reason": {"voice": "meeting"},
    }
)
KEEP = make_rules({"after_done": {"voice": "keep_acw"}, "acw_after_timer": {"voice": "ready"}})
MANUAL = make_rules({"after_done": {"voice": "manual"}})


def in_acw(**kwargs: Any) -> ChannelLive:
    return live("voice", "after_call_work", **kwargs)


@pytest.mark.parametrize(
    ("rules", "state", "trigger", "target", "cancel", "rule_key"),
    [
        # 1. A held pending status comes first, for either trigger.
        (ACW, in_acw(pending_status="not_ready", pending_reason="lunch", pre_acw_reason="break"),
         "timer", ("not_ready", "lunch", "wrap_up_timer"), True, "pending_enabled"),
        (ACW, in_acw(pending_status="logged_off", pre_acw_reason="break"), "done",
         ("logged_off", None, "after_done"), True, "pending_enabled"),
        # 2. Else the not_ready reason the channel had before ACW.
        (ACW, in_acw(pre_acw_reason="break"), "timer", ("not_ready", "break", "wrap_up_timer"),
         True, "acw_after_timer"),
        (ACW, in_acw(pre_acw_reason="break"), "done", ("not_ready", "break", "after_done"),
         True, "after_done"),
        # 3. Else the rule.
        (ACW, in_acw(), "timer", ("ready", None, "wrap_up_timer"), True, "acw_after_timer"),
        (ACW, in_acw(), "done", ("ready", None, "after_done"), True, "after_done"),
        (ACW_NR, in_acw(), "timer", ("not_ready", "acw_timeout", "wrap_up_timer"), True,
         "acw_after_timer"),
        (ACW_NR, in_acw(), "done", ("not_ready", "meeting", "after_done"), True, "after_done"),
        # keep_acw: done is no exit and the timer runs on; the timer still ends ACW.
        (KEEP, in_acw(), "done", None, False, "after_done"),
        (KEEP, in_acw(pending_status="not_ready", pending_reason="lunch"), "done", None, False,
         "after_done"),
        (KEEP, in_acw(), "timer", ("ready", None, "wrap_up_timer"), True, "acw_after_timer"),
        # manual: done cancels the timer; the agent sets the status by hand.
        (MANUAL, in_acw(), "done", None, True, "after_done"),
        (MANUAL, in_acw(pre_acw_reason="break"), "done", None, True, "after_done"),
    ],
)  # fmt: skip
def test_acw_exit(rules, state, trigger, target, cancel, rule_key):
    exit_ = decide.acw_exit(rules, state, trigger)
    got = None if exit_.target is None else (
        exit_.target.status, exit_.target.reason, exit_.target.cause
    )  # fmt: skip
    assert got == target
    assert exit_.cancel_deadline is cancel
    decided_by = exit_.target.rule if exit_.target is not None else exit_.rule
    assert decided_by.key == rule_key


def test_acw_exit_defaults_are_manual_after_done_and_ready_after_timer():
    rules = make_rules()
    assert decide.acw_exit(rules, in_acw(), "done").target is None
    assert decide.acw_exit(rules, in_acw(), "timer").target.status == "ready"


# -- decide.work_ended (R8, R14) ----------------------------------------------------------------
ENDED = make_rules(
    {
        "pending_enabled": True,
        "acw_enabled": {"voice": True, "email": False},
        "acw_seconds": {"voice": 15},
        "pending_release_on": ["hangup", "chat_ended", "sent"],
    }
)
NO_TIMER = make_rules({"acw_enabled": {"voice": True}, "acw_seconds": {"voice": None}})
PENDING_NR = {"pending_status": "not_ready", "pending_reason": "break"}


@pytest.mark.parametrize(
    ("rules", "state", "how", "last", "acw", "seconds", "release", "rule"),
    [
        # Only the last open interaction matters (ending 1 of 3 emails changes nothing).
        (ENDED, live("email", **PENDING_NR), "sent", False, False, None, None, None),
        (ENDED, live("voice", **PENDING_NR), "hangup", False, False, None, None, None),
        # ACW wins over a pending release: the pending status waits until ACW ends.
        (ENDED, live("voice", **PENDING_NR), "hangup", True, True, 15, None,
         "R14:acw_seconds[voice]@role"),
        (ENDED, live("voice", "not_ready", reason="break"), "hangup", True, True, 15, None,
         "R14:acw_seconds[voice]@role"),
        (NO_TIMER, live("voice"), "hangup", True, True, None, None, "R14:acw_enabled[voice]@role"),
        # No ACW: a pending status is released by a configured event ...
        (ENDED, live("chat", **PENDING_NR), "chat_ended", True, False, None,
         ("not_ready", "break", "pending_released"), "R8:pending_release_on@role"),
        (ENDED, live("email", pending_status="logged_off"), "sent", True, False, None,
         ("logged_off", None, "pending_released"), "R8:pending_release_on@role"),
        # ... and only by a configured event: any other drops it (DECISIONS.md
        # "Combinations"); the outcome's rule names the release rule.
        (ENDED, live("email", **PENDING_NR), "workbin", True, False, None, None,
         "R8:pending_release_on@role"),
        (make_rules({"pending_release_on": ["hangup"]}), live("chat", **PENDING_NR),
         "chat_ended", True, False, None, None, "R8:pending_release_on@role"),
        # Nothing pending, no ACW: nothing happens to the status.
        (ENDED, live("chat"), "chat_ended", True, False, None, None, None),
        # A channel already logged off is left alone.
        (ENDED, live("voice", "logged_off"), "hangup", True, False, None, None, None),
    ],
)  # fmt: skip
def test_work_ended(rules, state, how, last, acw, seconds, release, rule):
    outcome = decide.work_ended(rules, state, how, was_last=last)
    assert outcome.start_acw is acw
    assert outcome.acw_seconds == seconds
    got = None if outcome.release is None else (
        outcome.release.status, outcome.release.reason, outcome.release.cause
    )  # fmt: skip
    assert got == release
    assert (None if outcome.rule is None else str(outcome.rule).split("#")[0]) == rule


def test_release_defaults_to_every_end_event():
    rules = make_rules({"pending_enabled": True})
    for channel, how in (("voice", "hangup"), ("chat", "chat_ended"), ("email", "workbin")):
        outcome = decide.work_ended(rules, live(channel, **PENDING_NR), how, was_last=True)
        assert outcome.release is not None, how
