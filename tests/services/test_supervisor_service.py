"""The supervisor's services (issue 16, item 2): log the whole agent out, DND off, extend or end
a channel's wrap-up; each recorded with the cause ``supervisor`` and the supervisor as actor, or
refused by the engine with nothing written (R2, R3, R8, R14, R15, R16).

alice is blended (pending on; voice ACW 15 s → ready, extendable), bob is voice only (pending
off; voice ACW 10 s → not_ready, not extendable); sam supervises.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from cc_rules.models import Agent, AgentChannelState, Interaction, StatusChange
from cc_rules.services import interactions
from cc_rules.services import status as status_svc
from cc_rules.services import supervisor as svc
from cc_rules.services.errors import Invalid, NotFound, Refused
from tests.factories import (
    BLENDED,
    REASONS,
    VOICE_ONLY,
    InteractionFactory,
    a_role,
    a_supervisor,
    an_agent,
)
from tests.factories import reason_codes as make_reason_codes
from tests.services.history_checks import assert_history_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]
SUPERVISOR_RULE = "R2:supervisor_override@default"


@pytest.fixture
def people(db):
    make_reason_codes(*REASONS)
    an_agent("alice", role=a_role("blended", **BLENDED), logged_in=True, ready_on=["voice"])
    an_agent("bob", role=a_role("voice_only", **VOICE_ONLY), logged_in=True, ready_on=["voice"])
    a_supervisor("sam")


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user").get(user__username=username)


def by(username: str) -> dict:
    return {
        "actor": get_user_model().objects.get(username=username),
        "request_id": f"req-{username}",
    }


def state(username: str, channel: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id=channel)


def rows(username: str) -> list[StatusChange]:
    return list(StatusChange.objects.filter(agent__user__username=username).order_by("seq"))


def new_rows(username: str, since: int) -> list[tuple]:
    return [
        (r.event, r.channel_id, r.from_status, r.to_status, r.reason, r.cause, r.actor_name)
        for r in rows(username)[since:]
    ]


def open_work(username: str, channel: str) -> Interaction:
    return InteractionFactory(agent=agent(username), channel_id=channel)


def into_acw(username: str, *, pending: tuple[str, str] | None = None) -> Interaction:
    """A call on voice, ended by hang-up: ACW starts (with ``pending`` held, if given)."""
    work = open_work(username, "voice")
    if pending:
        status_svc.channel_set_status(
            agent(username).pk, "voice", status=pending[0], reason=pending[1], **by(username)
        )
    interactions.interaction_end(
        agent(username), work.pk, how="hangup", workbin=None, **by(username)
    )
    assert state(username, "voice").status == "after_call_work"
    return work


def dnd_on(username: str) -> None:
    status_svc.agent_set_dnd(agent(username).pk, enabled=True, **by(username))


# -- log out of every channel -------------------------------------------------------------------
def test_supervisor_logout_logs_off_every_channel_clears_pending_and_deadline_and_dnd():
    into_acw("alice", pending=("not_ready", "lunch"))
    dnd_on("alice")
    voice = state("alice", "voice")
    assert (voice.pending_status, voice.wrap_up_deadline is not None) == ("not_ready", True)
    before = len(rows("alice"))

    result = svc.supervisor_logout(agent("alice").pk, **by("sam"))

    assert {s.status for s in AgentChannelState.objects.filter(agent=agent("alice"))} == {
        "logged_off"
    }
    voice = state("alice", "voice")
    assert (voice.pending_status, voice.wrap_up_deadline, voice.wrap_up_extended) == (
        None,
        None,
        False,
    )
    assert result.agent.dnd is False
    assert agent("alice").dnd is False
    written = new_rows("alice", before)
    assert ("pending", "voice", "not_ready", "", "lunch", "supervisor", "sam") in written
    assert written[-1] == ("dnd", None, "on", "off", "", "supervisor", "sam")
    logged_off = [r for r in written if r[0] == "status"]
    assert {r[1] for r in logged_off} == {"voice", "email", "chat", "im"}
    assert all(r[3:] == ("logged_off", "", "supervisor", "sam") for r in logged_off)
    for row in rows("alice")[before:]:
        assert (row.rule, row.request_id, row.actor.username) == (SUPERVISOR_RULE, "req-sam", "sam")
    assert_history_consistent(agent("alice"))


def test_supervisor_logout_is_refused_while_work_is_open_and_writes_nothing():
    open_work("alice", "chat")
    open_work("alice", "chat")
    dnd_on("alice")
    before = len(rows("alice"))

    with pytest.raises(Refused) as refused:
        svc.supervisor_logout(agent("alice").pk, **by("sam"))

    assert refused.value.code == "active_interactions"
    assert refused.value.rule == SUPERVISOR_RULE
    assert refused.value.detail.startswith("2 interaction(s) still open (2 on chat)")
    assert len(rows("alice")) == before
    assert state("alice", "voice").status == "ready"
    assert agent("alice").dnd is True


def test_supervisor_logout_of_an_agent_already_logged_off_writes_nothing():
    svc.supervisor_logout(agent("alice").pk, **by("sam"))
    before = len(rows("alice"))
    svc.supervisor_logout(agent("alice").pk, **by("sam"))
    assert len(rows("alice")) == before


# -- DND off (R3) -------------------------------------------------------------------------------
def test_supervisor_turns_dnd_off_with_a_row_and_statuses_stay():
    dnd_on("alice")
    before = len(rows("alice"))

    result = svc.supervisor_set_dnd(agent("alice").pk, enabled=False, **by("sam"))

    assert result.agent.dnd is False
    assert new_rows("alice", before) == [("dnd", None, "on", "off", "", "supervisor", "sam")]
    assert rows("alice")[-1].rule == SUPERVISOR_RULE
    assert state("alice", "voice").status == "ready"  # R3: statuses underneath are kept
    assert_history_consistent(agent("alice"))


def test_supervisor_dnd_off_when_already_off_writes_nothing():
    before = len(rows("alice"))
    svc.supervisor_set_dnd(agent("alice").pk, enabled=False, **by("sam"))
    assert len(rows("alice")) == before


def test_supervisor_may_not_turn_dnd_on():
    before = len(rows("alice"))
    with pytest.raises(Invalid) as invalid:
        svc.supervisor_set_dnd(agent("alice").pk, enabled=True, **by("sam"))
    assert (invalid.value.status, invalid.value.code) == (400, "dnd_on_not_allowed")
    assert invalid.value.fields == {"enabled": ["dnd_on_not_allowed"]}
    assert agent("alice").dnd is False
    assert len(rows("alice")) == before


# -- extend a channel's wrap-up (R15) -----------------------------------------------------------
def test_supervisor_extends_the_wrap_up_the_deadline_is_cleared():
    work = into_acw("alice")
    before = len(rows("alice"))

    result = svc.supervisor_wrap_up_extend(agent("alice").pk, "voice", **by("sam"))

    voice = state("alice", "voice")
    assert (voice.status, voice.wrap_up_deadline, voice.wrap_up_extended) == (
        "after_call_work",
        None,
        True,
    )
    assert voice.wrap_up_interaction_id == work.pk  # done on the call still ends it
    assert result.state.wrap_up_extended is True
    assert len(rows("alice")) == before  # no change of status, no row (as the agent's extend)


def test_supervisor_extend_is_refused_where_the_rule_forbids_it():
    into_acw("bob")
    with pytest.raises(Refused) as refused:
        svc.supervisor_wrap_up_extend(agent("bob").pk, "voice", **by("sam"))
    assert refused.value.code == "wrap_up_not_extendable"
    assert refused.value.rule.startswith("R15:acw_extendable[voice]@role#")
    assert state("bob", "voice").wrap_up_deadline is not None


def test_supervisor_extend_outside_acw_is_refused():
    with pytest.raises(Refused) as refused:
        svc.supervisor_wrap_up_extend(agent("alice").pk, "voice", **by("sam"))
    assert refused.value.code == "invalid_transition"
    assert refused.value.detail == "The voice channel is not in after-call work."


def test_supervisor_wrap_up_on_a_channel_the_role_does_not_see_is_not_found():
    with pytest.raises(NotFound):
        svc.supervisor_wrap_up_extend(agent("bob").pk, "chat", **by("sam"))
    with pytest.raises(NotFound):
        svc.supervisor_wrap_up_end(agent("bob").pk, "chat", **by("sam"))


# -- end a channel's wrap-up now (R14, R8) ------------------------------------------------------
def test_supervisor_ends_the_wrap_up_into_the_pending_status():
    into_acw("alice", pending=("not_ready", "lunch"))
    before = len(rows("alice"))

    result = svc.supervisor_wrap_up_end(agent("alice").pk, "voice", **by("sam"))

    voice = state("alice", "voice")
    assert (voice.status, voice.reason, voice.pending_status, voice.wrap_up_deadline) == (
        "not_ready",
        "lunch",
        None,
        None,
    )
    assert result.state.status == "not_ready"
    assert new_rows("alice", before) == [
        ("pending", "voice", "not_ready", "not_ready", "lunch", "supervisor", "sam"),
        ("status", "voice", "after_call_work", "not_ready", "lunch", "supervisor", "sam"),
    ]
    assert rows("alice")[-1].rule.startswith("R8:pending_enabled@role#")
    assert_history_consistent(agent("alice"))


def test_supervisor_ends_the_wrap_up_where_the_timer_would():
    call = into_acw("bob")
    before = len(rows("bob"))

    svc.supervisor_wrap_up_end(agent("bob").pk, "voice", **by("sam"))

    voice = state("bob", "voice")
    assert (voice.status, voice.reason, voice.wrap_up_deadline) == (
        "not_ready",
        "acw_timeout",
        None,
    )
    [row] = rows("bob")[before:]
    assert (row.from_status, row.to_status, row.cause, row.actor_name) == (
        "after_call_work",
        "not_ready",
        "supervisor",
        "sam",
    )
    assert row.rule.startswith("R14:acw_after_timer[voice]@role#")
    assert row.interaction_id == call.pk
    assert_history_consistent(agent("bob"))


def test_supervisor_ends_an_extended_wrap_up():
    into_acw("alice")
    svc.supervisor_wrap_up_extend(agent("alice").pk, "voice", **by("sam"))
    svc.supervisor_wrap_up_end(agent("alice").pk, "voice", **by("sam"))
    voice = state("alice", "voice")
    assert (voice.status, voice.wrap_up_extended, voice.wrap_up_interaction_id) == (
        "ready",
        False,
        None,
    )
    assert_history_consistent(agent("alice"))


def test_supervisor_end_outside_acw_is_refused_and_writes_nothing():
    before = len(rows("alice"))
    with pytest.raises(Refused) as refused:
        svc.supervisor_wrap_up_end(agent("alice").pk, "voice", **by("sam"))
    assert (refused.value.code, refused.value.rule) == ("invalid_transition", SUPERVISOR_RULE)
    assert len(rows("alice")) == before
    assert state("alice", "voice").status == "ready"


def test_a_stale_timer_after_the_supervisor_ended_the_wrap_up_does_nothing():
    from cc_rules.services import timers

    into_acw("alice")
    voice = state("alice", "voice")
    svc.supervisor_wrap_up_end(agent("alice").pk, "voice", **by("sam"))
    before = len(rows("alice"))
    assert timers.wrap_up_fire(voice.pk, voice.wrap_up_version) is False
    assert len(rows("alice")) == before
