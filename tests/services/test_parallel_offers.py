"""Caps never break under parallel offers (issue 4, "Caps never break"; R9; DECISIONS.md lock
order). Real threads, each with its own PostgreSQL connection, released together by a barrier;
admission is decided under the agent's row lock, so exactly the cap is admitted every round.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection, transaction

from cc_rules.models import Agent, Interaction, Rule
from cc_rules.services import interactions as svc
from cc_rules.services import status as status_service
from cc_rules.services.errors import ServiceError
from cc_rules.services.sessions import retry_transient
from tests.factories import SOCIAL, a_role, an_agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PARALLEL = 50
TWO_CHATS = {"channel_cap": {"chat": 2}}
ROUNDS = 20


@pytest.fixture
def chat_agents(transactional_db, settings):
    """alice and sam (chat cap 2) and sofia (chat cap 3 by role), committed: threads see them."""
    settings.CC_SEND_WAKEUPS = False
    two_chats = a_role("blended", visible=["voice", "email", "chat", "im"], rules=TWO_CHATS)
    an_agent("alice", role=two_chats)
    an_agent("sam", role=two_chats)
    an_agent("sofia", role=a_role("social", **SOCIAL))


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user", "role").get(user__username=username)


def make_ready(username: str, channel: str) -> Agent:
    row = agent(username)
    status_service.session_login(row.pk, channels=[channel], actor=None, request_id="test")
    status_service.channel_set_status(
        row.pk, channel, status="ready", reason=None, actor=None, request_id="test"
    )
    return row


def in_parallel(n: int, call: Callable[[int], object]) -> list[object]:
    """Run ``call(i)`` in ``n`` threads released at once; each result or the ServiceError code.

    Each thread uses (and closes) its own database connection; any other exception is kept and
    fails the test.
    """
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = call(i)
        except ServiceError as exc:
            results[i] = exc.code
        except BaseException as exc:  # kept: reported by the assertion below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an offer never returned (deadlock?)"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    close_old_connections()
    return results


def outcome(results: list[object]) -> Counter:
    return Counter("admitted" if isinstance(r, Interaction) else r for r in results)


def open_chats(agent_ids: list[int]) -> Counter:
    rows = Interaction.objects.filter(
        agent_id__in=agent_ids, channel_id="chat", state__in=("offered", "active")
    ).values_list("agent__user__username", flat=True)
    return Counter(rows)


def test_fifty_parallel_offers_at_one_agent_admit_exactly_the_chat_cap(chat_agents):
    alice = make_ready("alice", "chat")  # chat cap 2 (role)

    def offer(i: int) -> Interaction:
        return svc.offer_inbound(
            channel="chat",
            contact=None,
            agent=alice,
            extension=None,
            actor=None,
            request_id=f"parallel-{i}",
        )

    for round_no in range(ROUNDS):
        results = in_parallel(PARALLEL, offer)
        assert outcome(results) == {"admitted": 2, "channel_cap_reached": PARALLEL - 2}, round_no
        assert open_chats([alice.pk]) == {"alice": 2}, round_no
        # Reset: the router's offers are rejected; the slots are free again, nothing deleted.
        for admitted in (r for r in results if isinstance(r, Interaction)):
            svc.interaction_reject(alice, admitted.pk, actor=None, request_id="reset")
        assert open_chats([alice.pk]) == {}
    assert Interaction.objects.filter(agent=alice, state="rejected").count() == 2 * ROUNDS


def test_fifty_parallel_routed_offers_fill_three_agents_to_their_caps(chat_agents):
    # sofia's role allows 3 chats; an agent-scope rule makes her chat cap 2 like the others.
    Rule.objects.create(
        scope="agent", agent=agent("sofia"), key="channel_cap", channel_id="chat", value=2
    )
    agents = [make_ready(name, "chat") for name in ("alice", "sam", "sofia")]
    ids = [a.pk for a in agents]

    def offer(i: int) -> Interaction:
        return svc.offer_inbound(
            channel="chat",
            contact=None,
            agent=None,
            extension=None,
            actor=None,
            request_id=f"routed-{i}",
        )

    for round_no in range(ROUNDS // 4):
        results = in_parallel(PARALLEL, offer)
        assert outcome(results) == {"admitted": 6, "no_eligible_agent": PARALLEL - 6}, round_no
        assert open_chats(ids) == {"alice": 2, "sam": 2, "sofia": 2}, round_no
        for admitted in (r for r in results if isinstance(r, Interaction)):
            svc.interaction_reject(admitted.agent, admitted.pk, actor=None, request_id="reset")
        assert open_chats(ids) == {}


def test_a_routed_offer_waits_for_an_eligible_agent_busy_in_another_request(chat_agents):
    """An agent whose row another request holds for a moment is still eligible: the routed
    offer must not answer no_eligible_agent just because her lock was taken when it looked."""
    alice = make_ready("alice", "chat")
    locked, release = threading.Event(), threading.Event()

    def hold_alices_row() -> None:
        try:
            with transaction.atomic():
                Agent.objects.select_for_update().get(pk=alice.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_alices_row)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        threading.Timer(0.5, release.set).start()
        routed = svc.offer_inbound(
            channel="chat", contact=None, agent=None, extension=None, actor=None, request_id="r"
        )
    finally:
        release.set()
        holder.join(timeout=30)
    assert routed.agent_id == alice.pk


def test_a_real_deadlock_is_retried_and_both_transactions_commit(chat_agents):
    """Two transactions lock two agents in opposite orders (what the lock order forbids):
    PostgreSQL aborts one with "deadlock detected" (40P01), and ``retry_transient`` runs that
    one again, after the other committed."""
    first, second = agent("alice").pk, agent("sam").pk
    both_hold_one = threading.Barrier(2)
    tries: Counter = Counter()

    def crosswise(i: int) -> str:
        order = (first, second) if i == 0 else (second, first)

        def body() -> str:
            tries[i] += 1
            with transaction.atomic():
                Agent.objects.select_for_update().get(pk=order[0])
                if tries[i] == 1:
                    both_hold_one.wait(timeout=30)
                Agent.objects.select_for_update().get(pk=order[1])
            return "committed"

        return retry_transient(body)

    assert in_parallel(2, crosswise) == ["committed", "committed"]
    assert sorted(tries.values()) == [1, 2]  # the victim ran twice, the other once
