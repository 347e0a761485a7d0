"""The supervisor's decisions (issue 16, item 2; DECISIONS.md "Supervisor force", "Logout",
"After-call work"): logging the whole agent out, DND off only, extending or ending a channel's
wrap-up (R2, R3, R14, R15). No database."""

from __future__ import annotations

import pytest

from cc_rules.engine import decide, reasons
from cc_rules.engine.types import AgentLive, ChannelLive
from tests.engine.test_decide_status import live, make_rules

ACW = make_rules(
    {
        "pending_enabled": True,
        "acw_enabled": {"voice": True},
        "acw_after_timer": {"voice": "ready"},
        "after_done": {"voice": "keep_acw"},
        "acw_extendable": {"voice": True},
    }
)
ACW_NR = make_rules(
    {
        "acw_after_timer": {"voice": "not_ready"},
        "after_done": {"voice": "manual"},
        "acw_extendable": {"voice": False},
    }
)


def in_acw(**kwargs) -> ChannelLive:
    return live("voice", "after_call_work", **kwargs)


def agent(**channels: ChannelLive) -> AgentLive:
    return AgentLive(dnd=True, channels=channels)


# -- logout of every channel (R2) ---------------------------------------------------------------
def test_supervisor_logout_with_no_open_work_is_allowed_even_in_acw_or_pending():
    found = agent(
        voice=in_acw(pending_status="not_ready", pending_reason="lunch"),
        chat=live("chat", "ready"),
    )
    assert decide.supervisor_logout(found) is None


def test_supervisor_logout_with_open_work_names_how_much_and_where():
    found = agent(
        voice=live("voice", "ready", open_work=1, open_count=1),
        chat=live("chat", "ready", open_work=2, open_count=2),
        email=live("email", "not_ready"),
    )
    refusal = decide.supervisor_logout(found)
    assert refusal is not None
    assert (refusal.code, refusal.rule) == (reasons.ACTIVE_INTERACTIONS, decide.SUPERVISOR_RULE)
    assert refusal.detail.startswith("3 interaction(s) still open (2 on chat, 1 on voice)")


def test_an_offer_counts_as_open_work_for_the_logout():
    # Open work = offered or active (DECISIONS.md "Words"); a child that takes no slot too.
    found = agent(chat=live("chat", "ready", open_work=1, open_count=0))
    assert decide.supervisor_logout(found).code == reasons.ACTIVE_INTERACTIONS


# -- DND (R3): off only -------------------------------------------------------------------------
def test_supervisor_may_turn_dnd_off():
    assert decide.supervisor_dnd(False) is None


def test_supervisor_may_not_turn_dnd_on():
    refusal = decide.supervisor_dnd(True)
    assert (refusal.code, refusal.rule) == (reasons.DND_ON_NOT_ALLOWED, decide.SUPERVISOR_RULE)
    assert "only turn do-not-disturb off" in refusal.detail


# -- wrap-up: extend (R15) and end (R14) --------------------------------------------------------
@pytest.mark.parametrize(
    ("rules", "state", "action", "code", "rule_key"),
    [
        (ACW, in_acw(), "extend", None, None),
        (ACW, in_acw(), "end", None, None),
        (ACW_NR, in_acw(), "end", None, None),  # ending needs no extend rule
        # R15: where the agent may not extend, neither may a supervisor; the rule names why.
        (ACW_NR, in_acw(), "extend", reasons.WRAP_UP_NOT_EXTENDABLE, "acw_extendable"),
        # Not in ACW: nothing to extend or end, whatever the status.
        (ACW, live("voice", "ready"), "extend", reasons.INVALID_TRANSITION, "supervisor_override"),
        (ACW, live("voice", "not_ready", reason="break"), "end", reasons.INVALID_TRANSITION,
         "supervisor_override"),
        (ACW, live("voice", "logged_off"), "end", reasons.INVALID_TRANSITION,
         "supervisor_override"),
    ],
)  # fmt: skip
def test_supervisor_wrap_up(rules, state, action, code, rule_key):
    refusal = decide.supervisor_wrap_up(rules, state, action)
    if code is None:
        assert refusal is None
        return
    assert (refusal.code, refusal.rule.key) == (code, rule_key)
    assert refusal.detail


def test_refused_extend_names_the_role_rule_row():
    refusal = decide.supervisor_wrap_up(ACW_NR, in_acw(), "extend")
    assert (refusal.rule.scope, refusal.rule.channel) == ("role", "voice")
    assert refusal.rule.rule_id is not None


# -- ending ACW lands where the timer would (acw_exit, trigger "supervisor") --------------------
@pytest.mark.parametrize(
    ("rules", "state", "target", "rule_key"),
    [
        # 1. a held pending status first (R8)
        (ACW, in_acw(pending_status="not_ready", pending_reason="lunch", pre_acw_reason="break"),
         ("not_ready", "lunch", "supervisor", True), "pending_enabled"),
        # 2. else the (not_ready, reason) pair it had before ACW, reasonless included
        (ACW, in_acw(pre_acw_status="not_ready", pre_acw_reason="break"),
         ("not_ready", "break", "supervisor", False), "acw_after_timer"),
        (ACW, in_acw(pre_acw_status="not_ready"),
         ("not_ready", None, "supervisor", False), "acw_after_timer"),
        # 3. else the after-timer status, whatever after_done says (keep_acw, manual)
        (ACW, in_acw(pre_acw_status="ready"), ("ready", None, "supervisor", False),
         "acw_after_timer"),
        (ACW_NR, in_acw(pre_acw_status="ready"),
         ("not_ready", "acw_timeout", "supervisor", False), "acw_after_timer"),
    ],
)  # fmt: skip
def test_supervisor_end_of_acw_lands_where_the_timer_would(rules, state, target, rule_key):
    exit_ = decide.acw_exit(rules, state, "supervisor")
    timer = decide.acw_exit(rules, state, "timer")
    got = exit_.target
    assert (got.status, got.reason, got.cause, got.from_pending) == target
    assert got.rule.key == rule_key
    assert exit_.cancel_deadline is True
    # the same place as the timer, only the cause differs
    assert (got.status, got.reason, got.rule) == (
        timer.target.status,
        timer.target.reason,
        timer.target.rule,
    )
    assert timer.target.cause == "wrap_up_timer"


def test_supervisor_end_of_acw_on_a_channel_no_longer_visible_logs_it_off():
    rules = make_rules({"acw_after_timer": {"voice": "ready"}}, visible=("chat",))
    exit_ = decide.acw_exit(rules, in_acw(), "supervisor")
    assert (exit_.target.status, exit_.target.cause, exit_.target.rule.key) == (
        "logged_off",
        "supervisor",
        "visibility_lost",
    )
