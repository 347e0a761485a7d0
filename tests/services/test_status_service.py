"""The status services: R2, R3, R7, R8 (pending and its release through the interaction
services), R13/R14 (leaving ACW into a pending status), R16 (history).

alice is ``blended``: pending on, voice has ACW (15 s timer, ready after done and timer);
bob is ``voice_only``: pending off, voice ACW 10 s then ``not_ready``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cc_rules.choices import Status
from cc_rules.models import Agent, AgentChannelState, Interaction, Rule, StatusChange
from cc_rules.services import interactions, ledger, timers
from cc_rules.services import status as svc
from cc_rules.services.errors import Invalid, NotFound, Refused
from cc_rules.services.sessions import open_session
from tests.factories import (
    BLENDED,
    REASONS,
    VOICE_ONLY,
    WorkbinFactory,
    a_role,
    a_supervisor,
    an_agent,
    reason_codes,
)
from tests.services.history_checks import assert_history_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]


@pytest.fixture
def people(db):
    """alice (blended: pending on, voice ACW 15 s → ready, done → ready), bob (voice_only:
    pending off, voice ACW 10 s → not_ready), tom at extension 1003, sam (a supervisor); the
    reason codes break, lunch, meeting, training and the follow-up workbin."""
    reason_codes(*REASONS)
    WorkbinFactory(name="follow-up")
    an_agent("alice", role=a_role("blended", **BLENDED), extension="1001")
    an_agent("bob", role=a_role("voice_only", **VOICE_ONLY), extension="1002")
    an_agent("tom", extension="1003")
    a_supervisor("sam")


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user", "role").get(user__username=username)


def user(username: str):
    return get_user_model().objects.get(username=username)


def who(username: str) -> dict:
    return {"actor": user(username), "request_id": f"req-{username}"}


def state(username: str, channel: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id=channel)


def rows(username: str) -> list[StatusChange]:
    return list(StatusChange.objects.filter(agent__user__username=username).order_by("seq"))


def login(username: str) -> Agent:
    a = agent(username)
    svc.session_login(a.pk, channels=None, **who(username))
    return a


def put(username: str, channel: str, status: str, reason: str | None = None):
    """The agent's PUT: (result, the channel's row as left, held as pending)."""
    result = svc.channel_set_status(
        agent(username).pk, channel, status=status, reason=reason, **who(username)
    )
    return result, result.state, result.held


def open_work(username: str, channel: str) -> Interaction:
    return Interaction.objects.create(
        agent=agent(username),
        channel_id=channel,
        direction="inbound",
        state="active",
        created_at=timezone.now(),
    )


def end(work: Interaction, how: str, workbin: str | None = None) -> Interaction:
    return interactions.interaction_end(
        work.agent, work.pk, how=how, workbin=workbin, **who(work.agent.user.username)
    )


def expire_wrap_up(username: str, channel: str) -> bool:
    """Move the deadline into the past (never the clock) and fire the timer service."""
    row = state(username, channel)
    assert row.wrap_up_deadline is not None
    AgentChannelState.objects.filter(pk=row.pk).update(
        wrap_up_deadline=row.wrap_up_deadline - timedelta(days=1)
    )
    return timers.wrap_up_fire(row.pk, row.wrap_up_version)


# -- login, logout, history rows ----------------------------------------------------------------
def test_login_writes_one_row_per_channel_with_actor_request_id_and_rule():
    a = login("alice")
    history = rows("alice")
    assert len(history) == 4
    for row in history:
        assert (row.event, row.cause, row.reason, row.actor_name) == (
            "status",
            "agent",
            "login",
            "alice",
        )
        assert row.request_id == "req-alice"
        assert row.rule == "R2:per_channel_status@default"
    assert_history_consistent(a)


def test_logout_clears_a_pending_status_left_in_acw_with_a_row():
    a = login("alice")
    work = open_work("alice", "voice")
    put("alice", "voice", "not_ready", "lunch")
    end(work, "hangup")  # ACW starts; the pending status waits for it (R8)
    assert state("alice", "voice").pending_status == "not_ready"

    svc.session_logout(a.pk, **who("alice"))

    voice = state("alice", "voice")
    assert (voice.status, voice.pending_status, voice.wrap_up_deadline) == (
        "logged_off",
        None,
        None,
    )
    assert [(r.event, r.from_status, r.to_status) for r in rows("alice")[-2:]] == [
        ("pending", "not_ready", ""),
        ("status", "after_call_work", "logged_off"),
    ]
    assert_history_consistent(a)


def test_an_unknown_agent_is_not_found():
    with pytest.raises(NotFound):
        svc.channel_set_status(10**9, "voice", status="ready", reason=None, **who("alice"))


def test_an_illegal_transition_is_refused_as_invalid_transition_not_a_crash():
    a = agent("alice")
    sess = open_session(a.pk, **who("alice"))
    with pytest.raises(Refused) as refused:
        ledger.set_status(
            sess, sess.state("voice"), Status.AFTER_CALL_WORK, None, cause="agent", rule=None
        )
    assert refused.value.code == "invalid_transition"
    assert rows("alice") == []


# -- pending status (R8) and its release --------------------------------------------------------
def test_pending_is_released_when_the_last_chat_ends_not_before():
    a = login("alice")
    first, second = open_work("alice", "chat"), open_work("alice", "chat")
    _, held_state, held = put("alice", "chat", "not_ready", "break")
    assert held
    assert held_state.pending_status == "not_ready"

    end(first, "chat_ended")
    chat = state("alice", "chat")
    assert (chat.status, chat.reason, chat.pending_status) == ("not_ready", "login", "not_ready")

    end(second, "chat_ended")
    chat = state("alice", "chat")
    assert (chat.status, chat.reason, chat.pending_status) == ("not_ready", "break", None)
    last = rows("alice")[-1]
    assert (last.cause, last.interaction_id) == ("pending_released", second.pk)
    assert_history_consistent(a)


def test_asking_for_the_current_status_cancels_the_pending_one_with_a_row():
    a = login("alice")
    put("alice", "chat", "not_ready", "break")
    open_work("alice", "chat")
    put("alice", "chat", "logged_off")
    count = len(rows("alice"))

    _, chat, held = put("alice", "chat", "not_ready", "break")

    assert not held
    assert (chat.status, chat.reason, chat.pending_status) == ("not_ready", "break", None)
    assert [(r.event, r.from_status, r.to_status) for r in rows("alice")[count:]] == [
        ("pending", "logged_off", "")
    ]
    assert_history_consistent(a)


def test_pending_logged_off_is_released_into_logged_off():
    a = login("alice")
    work = open_work("alice", "email")
    put("alice", "email", "logged_off")
    end(work, "sent")
    assert state("alice", "email").status == "logged_off"
    assert state("alice", "chat").status == "not_ready"  # the other channels stay
    assert_history_consistent(a)


def test_a_held_status_ended_by_no_release_event_is_dropped_not_applied():
    """DECISIONS.md "Combinations", pending and release events: a held status never outlives
    the work it waits for; ended by another event it is dropped with a ``not_released`` row."""
    a = login("alice")
    Rule.objects.create(scope="agent", agent=a, key="pending_release_on", value=["sent"])
    work = open_work("alice", "email")
    put("alice", "email", "not_ready", "break")

    end(work, "workbin", workbin="follow-up")

    email = state("alice", "email")
    assert (email.status, email.reason, email.pending_status) == ("not_ready", "login", None)
    dropped = rows("alice")[-1]
    assert (dropped.event, dropped.cause, dropped.from_status, dropped.to_status) == (
        "pending",
        "not_released",
        "not_ready",
        "",
    )
    assert dropped.interaction_id == work.pk
    _, email, held = put("alice", "email", "ready")
    assert not held
    assert (email.status, email.pending_status) == ("ready", None)
    assert_history_consistent(a)


def test_acw_wins_over_a_pending_release_then_lands_in_the_pending_status_by_timer():
    a = login("alice")
    put("alice", "voice", "ready")
    work = open_work("alice", "voice")
    put("alice", "voice", "not_ready", "lunch")

    end(work, "hangup")
    voice = state("alice", "voice")
    assert (voice.status, voice.pending_status) == ("after_call_work", "not_ready")
    assert voice.wrap_up_deadline is not None

    assert expire_wrap_up("alice", "voice")
    voice = state("alice", "voice")
    assert (voice.status, voice.reason, voice.pending_status) == ("not_ready", "lunch", None)
    assert voice.wrap_up_deadline is None
    last = rows("alice")[-1]
    assert (last.from_status, last.to_status, last.cause) == (
        "after_call_work",
        "not_ready",
        "wrap_up_timer",
    )
    assert last.rule.startswith("R8:pending_enabled")
    assert_history_consistent(a)


def test_done_during_acw_lands_in_the_pending_status():
    a = login("alice")
    put("alice", "voice", "ready")
    work = open_work("alice", "voice")
    put("alice", "voice", "logged_off")
    end(work, "hangup")

    interactions.interaction_done(a, work.pk, **who("alice"))

    voice = state("alice", "voice")
    assert (voice.status, voice.pending_status) == ("logged_off", None)
    assert rows("alice")[-1].cause == "after_done"
    assert_history_consistent(a)


def test_the_timer_returns_to_the_not_ready_reason_from_before_acw():
    a = login("alice")
    put("alice", "voice", "not_ready", "break")
    work = open_work("alice", "voice")  # outbound work is allowed while not ready
    end(work, "hangup")
    assert state("alice", "voice").pre_acw_reason == "break"

    assert expire_wrap_up("alice", "voice")

    voice = state("alice", "voice")
    assert (voice.status, voice.reason) == ("not_ready", "break")
    assert_history_consistent(a)


def test_a_manual_status_during_acw_applies_and_cancels_the_deadline():
    a = login("alice")
    put("alice", "voice", "ready")
    work = open_work("alice", "voice")
    end(work, "hangup")
    before = state("alice", "voice")
    assert before.wrap_up_deadline is not None

    _, voice, held = put("alice", "voice", "not_ready", "meeting")

    assert not held
    assert (voice.status, voice.reason, voice.wrap_up_deadline) == ("not_ready", "meeting", None)
    assert voice.wrap_up_version > before.wrap_up_version
    assert not timers.wrap_up_fire(before.pk, before.wrap_up_version)  # stale: does nothing
    assert state("alice", "voice").reason == "meeting"
    assert_history_consistent(a)


def test_dnd_never_pauses_a_pending_release():
    a = login("alice")
    work = open_work("alice", "chat")
    put("alice", "chat", "not_ready", "break")
    svc.agent_set_dnd(a.pk, enabled=True, **who("alice"))
    end(work, "chat_ended")
    assert (state("alice", "chat").reason, agent("alice").dnd) == ("break", True)
    assert_history_consistent(a)


# -- R7: pending off ----------------------------------------------------------------------------
def test_pending_off_not_ready_starts_at_once_while_the_call_goes_on():
    b = login("bob")
    put("bob", "voice", "ready")
    work = open_work("bob", "voice")

    _, voice, held = put("bob", "voice", "not_ready", "break")

    assert not held
    assert (voice.status, voice.reason, voice.pending_status) == ("not_ready", "break", None)
    last = rows("bob")[-1]
    assert voice.since == last.at  # not_ready time counts from this moment
    assert Interaction.objects.get(pk=work.pk).state == "active"
    # The call ends: ACW, then the timer lands in the not_ready reason from before ACW.
    end(work, "hangup")
    assert state("bob", "voice").status == "after_call_work"
    assert expire_wrap_up("bob", "voice")
    assert (state("bob", "voice").status, state("bob", "voice").reason) == ("not_ready", "break")
    assert_history_consistent(b)


def test_pending_off_logged_off_with_open_work_is_refused():
    login("bob")
    open_work("bob", "voice")
    with pytest.raises(Refused) as refused:
        put("bob", "voice", "logged_off")
    assert refused.value.code == "active_interactions"
    assert state("bob", "voice").status == "not_ready"


# -- supervisor ---------------------------------------------------------------------------------
def test_supervisor_force_during_acw_clears_deadline_and_pending():
    a = login("alice")
    put("alice", "voice", "ready")
    work = open_work("alice", "voice")
    put("alice", "voice", "not_ready", "lunch")
    end(work, "hangup")

    voice = svc.supervisor_force_status(
        a.pk, "voice", status="ready", reason=None, **who("sam")
    ).state

    assert (voice.status, voice.pending_status, voice.wrap_up_deadline) == ("ready", None, None)
    new = rows("alice")[-2:]
    assert [(r.event, r.cause, r.actor_name) for r in new] == [
        ("pending", "supervisor", "sam"),
        ("status", "supervisor", "sam"),
    ]
    assert_history_consistent(a)


def test_supervisor_force_of_the_current_status_writes_nothing():
    a = login("alice")
    put("alice", "voice", "not_ready", "break")
    count = len(rows("alice"))
    svc.supervisor_force_status(a.pk, "voice", status="not_ready", reason="break", **who("sam"))
    assert len(rows("alice")) == count
    svc.supervisor_force_status(a.pk, "voice", status="not_ready", reason="lunch", **who("sam"))
    assert len(rows("alice")) == count + 1


def test_supervisor_force_validates_the_reason():
    a = login("alice")
    with pytest.raises(Invalid):
        svc.supervisor_force_status(a.pk, "voice", status="not_ready", reason="nap", **who("sam"))


# -- forwarding (R4) ----------------------------------------------------------------------------
def test_forwarding_writes_the_target_and_refuses_loops_either_way():
    a, b = agent("alice"), agent("bob")
    svc.agent_set_forwarding(a.pk, to_extension="1002", **who("alice"))
    assert agent("alice").forward_to == "1002"
    for ext in ("1001", "1003"):  # back to alice (loop), or on to tom (chain)
        with pytest.raises(Invalid) as invalid:
            svc.agent_set_forwarding(b.pk, to_extension=ext, **who("bob"))
        assert invalid.value.fields == {"to_extension": ["forwarding_chain"]}
    svc.agent_set_forwarding(a.pk, to_extension=None, **who("alice"))
    svc.agent_set_forwarding(b.pk, to_extension="1001", **who("bob"))
    assert agent("bob").forward_to == "1001"


# -- work opened during ACW (outbound skips the ACW check) --------------------------------------
def test_leaving_acw_keeps_a_pending_logged_off_while_a_call_started_in_acw_is_open():
    a = login("alice")
    put("alice", "voice", "ready")
    end(open_work("alice", "voice"), "hangup")
    assert state("alice", "voice").status == "after_call_work"
    call = open_work("alice", "voice")  # a party action: outbound is allowed during ACW
    _, _, held = put("alice", "voice", "logged_off")
    assert held  # the call is open, the pending rule is on (R8)

    assert expire_wrap_up("alice", "voice")

    voice = state("alice", "voice")
    assert Interaction.objects.get(pk=call.pk).state == "active"
    assert voice.status != "logged_off"  # never logged off under an open call
    assert voice.pending_status == "logged_off"  # still waiting for the call to end
    assert_history_consistent(a)
