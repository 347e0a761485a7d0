"""Concurrent status requests for one agent on PostgreSQL (issue 3, "Done when").

20 real threads, each with its own database connection, fire mixed requests for alice at the
same moment (a barrier releases them together), three rounds. The agent row lock must
serialise them: afterwards the live state equals the history's last rows, ``seq`` is 1..N, the
hash chain links, and per channel the status rows tile time (R16).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from cc_rules.models import Agent, AgentChannelState, Interaction, StatusChange
from cc_rules.services import status as svc
from cc_rules.services.errors import ServiceError
from tests.factories import BLENDED, REASONS, a_role, an_agent, reason_codes
from tests.services.history_checks import assert_history_consistent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
ROUNDS = 3


@pytest.fixture
def alice(transactional_db) -> Agent:
    """A blended agent (pending on: R8) with the reason codes the requests name, committed
    (threads must see it). ``transactional_db`` is named so that conftest lifts history
    protection for the final flush."""
    reason_codes(*REASONS)
    return an_agent("alice", role=a_role("blended", **BLENDED))


def requests_for(agent_id: int, actor) -> list[Callable[[], object]]:
    """Twenty requests mixing statuses, reasons, logoff and login over three channels."""
    ctx = {"actor": actor}

    def put(channel: str, status: str, reason: str | None = None):
        return lambda rid: svc.channel_set_status(
            agent_id, channel, status=status, reason=reason, request_id=rid, **ctx
        )

    def login(channels: list[str] | None):
        return lambda rid: svc.session_login(agent_id, channels=channels, request_id=rid, **ctx)

    def logout():
        return lambda rid: svc.session_logout(agent_id, request_id=rid, **ctx)

    def dnd(enabled: bool):
        return lambda rid: svc.agent_set_dnd(agent_id, enabled=enabled, request_id=rid, **ctx)

    return [
        put("voice", "ready"),
        put("voice", "not_ready", "break"),
        put("voice", "not_ready", "lunch"),
        put("voice", "logged_off"),
        login(["voice"]),
        put("email", "ready"),
        put("email", "not_ready", "meeting"),
        put("email", "logged_off"),
        login(["email", "chat"]),
        put("email", "not_ready", "training"),
        put("chat", "not_ready", "break"),  # open chat: held as pending (R8)
        put("chat", "not_ready", "lunch"),  # ... or replaces the pending one
        put("chat", "ready"),  # ... or cancels it
        put("chat", "logged_off"),  # held too
        put("im", "ready"),
        put("im", "logged_off"),
        login(None),
        logout(),  # refused while the chat is open
        dnd(True),
        dnd(False),
    ]


def run_parallel(calls: list[Callable[[str], object]]) -> list[str]:
    barrier = threading.Barrier(len(calls))
    results: list[str] = [""] * len(calls)

    def worker(i: int, call: Callable[[str], object]) -> None:
        try:
            barrier.wait(timeout=30)
            call(f"t{i}")
            results[i] = "ok"
        except ServiceError as exc:
            results[i] = exc.code
        except Exception as exc:  # reported below, never swallowed
            results[i] = f"crash: {exc!r}"
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung (deadlock?)"
    return results


def test_twenty_parallel_status_requests_leave_a_consistent_state_and_history(alice):
    actor = alice.user
    svc.session_login(alice.pk, channels=None, actor=actor, request_id="setup")
    Interaction.objects.create(
        agent=alice,
        channel_id="chat",
        direction="inbound",
        state="active",
        created_at=timezone.now(),
    )
    calls = requests_for(alice.pk, actor)
    assert len(calls) == THREADS

    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        outcomes.update(run_parallel(calls))

    assert not [o for o in outcomes if o.startswith("crash")], outcomes
    assert set(outcomes) <= {"ok", "active_interactions"}, outcomes
    assert outcomes["active_interactions"] == ROUNDS  # the logout, every round
    rows = assert_history_consistent(alice)
    assert len(rows) > THREADS  # the requests really changed things
    request_ids = {r.request_id for r in rows}
    assert len(request_ids) > 5  # rows from many threads, interleaved through one chain
    # The open chat never left its channel: no status row moved it to logged_off.
    chat = AgentChannelState.objects.get(agent=alice, channel_id="chat")
    assert chat.status != "logged_off"
    assert not StatusChange.objects.filter(
        agent=alice, channel_id="chat", event="status", to_status="logged_off"
    ).exists()
