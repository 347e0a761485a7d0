"""Two sweepers (and a flood of duplicate wake-ups) at once never fire a timer twice (issue 5).

Real threads, each with its own PostgreSQL connection, on committed data (``transaction=True``):
the claim is ``FOR UPDATE OF agent SKIP LOCKED`` and every fire re-checks the row's version
under the agent's lock, so each due timer leaves exactly one ``wrap_up_timer`` history row.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from cc_rules.models import AgentChannelState, StatusChange
from cc_rules.selectors import db_now
from cc_rules.services import audit, timers
from tests.factories import VOICE_ONLY, a_role

from .calls import FAST_HASHER, bulk_agents_in_acw

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("transactional_db", "voice_only"),
]

AGENTS = 50
ROUNDS = 3


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.CC_SEND_WAKEUPS = False
    settings.PASSWORD_HASHERS = FAST_HASHER


@pytest.fixture
def voice_only(transactional_db):
    """The role the bulk agents get: voice ACW 10 s, then not_ready (committed)."""
    return a_role("voice_only", **VOICE_ONLY)


def run_at_once(*jobs):
    """Start every job in its own thread at the same instant; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i, job):
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a sweeper hung"
    if errors:
        raise errors[0]
    return results


def fired_per_state(state_ids: list[int]) -> Counter:
    rows = StatusChange.objects.filter(
        cause="wrap_up_timer", agent__channel_states__pk__in=state_ids, channel_id="voice"
    ).values_list("agent__channel_states__pk", flat=True)
    return Counter(rows)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_sweepers_at_once_fire_every_due_timer_exactly_once(round_, monkeypatch):
    monkeypatch.setattr(timers, "SWEEP_BATCH", 7)  # small batches: more claims to interleave
    state_ids = bulk_agents_in_acw(
        AGENTS,
        role="voice_only",
        deadline=db_now() - timedelta(seconds=1),
        prefix=f"sweep{round_}-",
    )
    versions = dict(
        AgentChannelState.objects.filter(pk__in=state_ids).values_list("pk", "wrap_up_version")
    )

    def wake_ups():  # every ETA wake-up delivered at the same moment as the sweeps
        return sum(timers.wrap_up_fire(pk, versions[pk]) for pk in state_ids)

    run_at_once(
        lambda: timers.sweep(batch=7),
        lambda: timers.sweep(batch=7),
        wake_ups,
    )

    # Whatever did not fire in this pass (skipped as locked) fires on a later sweep.
    timers.sweep()
    counts = fired_per_state(state_ids)
    assert sorted(counts) == sorted(state_ids)
    assert set(counts.values()) == {1}, "a timer fired twice"
    assert not AgentChannelState.objects.filter(pk__in=state_ids, status="after_call_work").exists()
    assert set(
        AgentChannelState.objects.filter(pk__in=state_ids).values_list("status", "reason")
    ) == {("not_ready", "acw_timeout")}
    assert audit.verify_chain().intact


def test_a_sweep_skips_an_agent_locked_by_a_request_and_fires_it_afterwards():
    """SKIP LOCKED: a sweep never waits for an agent another transaction holds."""
    from django.db import transaction

    from cc_rules.models import Agent

    (state_id,) = bulk_agents_in_acw(
        1, role="voice_only", deadline=db_now() - timedelta(seconds=1), prefix="locked-"
    )
    agent_id = AgentChannelState.objects.get(pk=state_id).agent_id
    holding = threading.Event()
    release = threading.Event()

    def hold_the_agent():
        with transaction.atomic():
            Agent.objects.select_for_update().get(pk=agent_id)
            holding.set()
            release.wait(timeout=30)
        connection.close()

    holder = threading.Thread(target=hold_the_agent)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        assert timers.sweep()["wrap_up"] == 0  # returns at once instead of waiting
    finally:
        release.set()
        holder.join(timeout=30)
    assert timers.sweep()["wrap_up"] == 1
    assert fired_per_state([state_id]) == {state_id: 1}
