"""Wrap-up timers on a REAL Celery worker and beat, real Redis, real PostgreSQL (issue 5).

Session-scoped fixtures start ``celery -A cc_rules worker --concurrency 2`` and ``celery -A
cc_rules beat`` (1 s sweep, wake-ups on) as subprocesses on a Redis database claimed for this
session and on this session's test database. They read committed rows, so every test here is
transactional. Nothing is mocked: the services send their ETA wake-ups after commit exactly as
in production. Timing promise (DECISIONS.md): a timer is never early and at most 3 s late.
With the worker killed the beat's sweep fires the timers; with the beat killed the workers'.

The processes are stopped when this module is done, so their beat never sweeps another
module's rows; their log is printed (as captured output) for any test that fails.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import redis
import requests
from django.db import transaction

from cc_rules import sweeper
from cc_rules.models import AgentChannelState, Contact, RulesVersion, StatusChange
from cc_rules.selectors import db_now
from cc_rules.services import wakeups
from cc_rules.sweeper import read_stamp
from tests.factories import token_for

from .calls import (
    FAST_HASHER,
    agent_rule,
    bulk_agents_in_acw,
    end_call,
    extend,
    login_ready,
    mark_done,
    start_call,
    state,
    timer_rows,
    user,
)
from .celery_procs import (
    CeleryProcesses,
    broker_of_this_process,
    celery_on_this_session,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("transactional_db", "demo_world"),
]

MAX_LATE = timedelta(seconds=3)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def celery_processes(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real worker and beat on the session's test database and a Redis database of its own.

    Created once per session; started by the first test that needs them (``live``). Depends on
    ``django_db_setup`` so the test database exists before they connect, and is torn down
    before it is dropped. Always killed in teardown, even after a failure.
    """
    with celery_on_this_session(
        django_db_blocker, tmp_path_factory.mktemp("celery"), route_this_process=False
    ) as procs:
        yield procs


@pytest.fixture(scope="module", autouse=True)
def _celery_for_this_module(celery_processes):
    """This module's tasks go to the processes' broker; they stop when the module is done,
    so their beat never sweeps the rows of another module's transactional tests.
    """
    with broker_of_this_process(celery_processes.broker_url):
        try:
            yield
        finally:
            celery_processes.stop_all()


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHER


@pytest.fixture
def live(celery_processes, demo_world, settings):
    """The worker and beat running, wake-ups on, the demo's rules version unique to this test.

    Every worker process caches resolved rules per ``RulesVersion``; a transactional test's
    flush resets the counter and re-seeding would reach the same number with other row ids, so
    the version is set to a value no earlier test used. Prints the Celery log on failure.
    """
    settings.CC_SEND_WAKEUPS = True
    RulesVersion.objects.filter(pk=1).update(value=time.time_ns() // 1000)
    celery_processes.ensure_running()
    celery_processes.test_mark = mark = celery_processes.mark()
    yield celery_processes
    # Shown by pytest only when the test failed ("Captured stdout teardown").
    print(f"--- celery log during this test ---\n{celery_processes.tail(mark, 400)}")


# -- helpers --------------------------------------------------------------------------------------
def wait_for_timer_row(procs: CeleryProcesses, username: str, timeout: float) -> StatusChange:
    return wait_until(
        lambda: timer_rows(username).first(),
        timeout,
        f"{username}'s wrap_up_timer row",
        procs,
        procs.test_mark,
    )


def assert_on_time(fired_at: datetime, deadline: datetime) -> None:
    lateness = fired_at - deadline
    assert lateness >= timedelta(0), f"fired {-lateness} early"
    assert lateness <= MAX_LATE, f"fired {lateness} late"


def schedule_due_timers(n: int, *, in_seconds: float, prefix: str) -> tuple[list[int], datetime]:
    """``n`` agents in ACW due in ``in_seconds``; wake-ups sent after commit like the service."""
    deadline = db_now() + timedelta(seconds=in_seconds)
    with transaction.atomic():
        ids = bulk_agents_in_acw(n, role="voice_only", deadline=deadline, prefix=prefix)
        for row in AgentChannelState.objects.filter(pk__in=ids):
            wakeups.schedule_wrap_up(row)
    return ids, deadline


def fired(state_ids: list[int]) -> list[StatusChange]:
    return list(
        StatusChange.objects.filter(
            cause="wrap_up_timer", channel_id="voice", agent__channel_states__pk__in=state_ids
        )
    )


def all_fired(state_ids: list[int]) -> list[StatusChange] | None:
    rows = fired(state_ids)
    return rows if len(rows) >= len(state_ids) else None


def assert_each_fired_once(rows: list[StatusChange], state_ids: list[int], deadline: datetime):
    agents = [r.agent_id for r in rows]
    assert len(agents) == len(set(agents)) == len(state_ids), "a timer fired twice or not at all"
    for row in rows:
        assert row.at >= deadline, "a timer fired early"


# -- (a) on time, (b) extended --------------------------------------------------------------------
def test_a_two_second_acw_ends_on_time(live):
    agent_rule("alice", "acw_seconds", 2)
    login_ready("alice")
    call = start_call("alice")

    end_call("alice", call)  # commits; the service sends the ETA wake-up after commit
    deadline = state("alice").wrap_up_deadline
    assert deadline is not None
    assert state("alice").status == "after_call_work"

    row = wait_for_timer_row(live, "alice", timeout=2 + 3 + 2)
    assert_on_time(row.at, deadline)
    assert row.request_id.startswith(("timer:", "sweep:"))
    assert (state("alice").status, row.to_status) == ("ready", "ready")
    time.sleep(1.5)  # a second delivery (wake-up after sweep, or sweep after wake-up) is a no-op
    assert timer_rows("alice").count() == 1


def test_an_extended_acw_does_not_end(live):
    agent_rule("alice", "acw_seconds", 2)
    login_ready("alice")
    call = start_call("alice")
    end_call("alice", call)
    deadline = state("alice").wrap_up_deadline

    extend("alice", call)
    # The stale wake-up arrives at the old deadline and does nothing; sweeps keep running.
    live.wait_for_log(
        live.test_mark, "fire_wrap_up[", "succeeded", ": False", what="the stale wake-up"
    )
    wait_until(lambda: db_now() > deadline + timedelta(seconds=2.5), 10, "4.5 s after the call")

    assert state("alice").status == "after_call_work"
    assert state("alice").wrap_up_deadline is None
    assert not timer_rows("alice").exists()
    mark_done("alice", call)
    assert state("alice").status == "ready"


# -- (c) a worker killed with SIGKILL, (c') the beat killed, (d) Redis flushed -------------------
def last_sweep_by(live: CeleryProcesses) -> str:
    stamp = read_stamp(redis.Redis.from_url(live.broker_url), sweeper.last_sweep_key())
    return stamp["by"] if stamp else ""


def test_a_worker_killed_with_sigkill_loses_nothing_the_beat_sweeps_on_time(live):
    ids, deadline = schedule_due_timers(10, in_seconds=3, prefix="killed-")
    # The worker has reserved the wake-up (an ETA message waits unacknowledged in its memory;
    # the ten deadlines share one wake-up slot).
    live.wait_for_log(live.test_mark, "fire_wrap_up[", "received", what="the wake-up reserved")

    live.worker.kill()  # the only worker: no task runs from here on
    rows = wait_until(lambda: all_fired(ids), 3 + 3 + 2, "every timer", live, live.test_mark)

    assert_each_fired_once(rows, ids, deadline)
    assert {r.request_id.split(":")[0] for r in rows} == {"sweep"}
    for row in rows:
        assert_on_time(row.at, deadline)  # the beat sweeps in-process every second
    assert last_sweep_by(live).startswith("beat:")

    live.start_worker()  # the reserved wake-up comes back only after the visibility timeout
    time.sleep(1.5)
    assert len(fired(ids)) == 10


def test_with_the_beat_killed_the_workers_take_over_the_sweep(live, settings):
    settings.CC_SEND_WAKEUPS = False  # no wake-ups: only a sweep can fire these timers
    live.beat.kill()
    ids, deadline = schedule_due_timers(10, in_seconds=2, prefix="no-beat-")

    # Workers sweep once the beat's heartbeat is TAKEOVER intervals old (2.5 s here).
    takeover = timedelta(seconds=sweeper.TAKEOVER * 1.0)
    rows = wait_until(lambda: all_fired(ids), 2 + 2.5 + 3 + 2, "every timer", live, live.test_mark)

    assert_each_fired_once(rows, ids, deadline)
    assert {r.request_id.split(":")[0] for r in rows} == {"sweep"}
    for row in rows:
        assert row.at - deadline <= MAX_LATE + takeover, f"fired {row.at - deadline} late"
    assert last_sweep_by(live).startswith("worker:")
    assert live.log_lines(live.test_mark, "sweeper worker:", "swept")

    # The beat back: it sweeps again, and the workers step back.
    live.start_beat()
    wait_until(lambda: last_sweep_by(live).startswith("beat:"), 5, "the beat to sweep again")


def test_after_redis_is_flushed_the_sweeper_alone_fires_every_timer(live):
    live.worker.stop()
    ids, deadline = schedule_due_timers(10, in_seconds=2, prefix="flushed-")
    broker = redis.Redis.from_url(live.broker_url)
    wait_until(
        lambda: any(b"cc_rules.fire_wrap_up" in m for m in broker.lrange("celery", 0, -1)),
        10,
        "the wake-up to be queued in Redis",
    )

    broker.flushdb()  # the broker database only: FLUSHALL would wipe other sessions' Redis data
    assert broker.dbsize() == 0
    mark = live.mark()
    live.start_worker()

    rows = wait_until(lambda: all_fired(ids), 2 + 10, "every timer", live, live.test_mark)
    assert_each_fired_once(rows, ids, deadline)
    assert {r.request_id.split(":")[0] for r in rows} == {"sweep"}
    assert not live.log_lines(mark, "fire_wrap_up[")  # no wake-up survived the flush
    for row in rows:
        assert row.at - deadline <= MAX_LATE + timedelta(seconds=5)  # includes the restart


# -- the Done-when, over real HTTP with the demo's own 10 s and 15 s ---------------------
def test_over_http_bob_times_out_after_10_s_and_alice_extends_then_marks_done(live, live_server):
    api = f"{live_server.url}/api/v1"

    def client(username: str) -> requests.Session:
        s = requests.Session()
        s.headers["Authorization"] = f"Token {token_for(user(username))}"
        return s

    bob, alice, router, cora = (client(u) for u in ("bob", "alice", "router", "cora"))
    contact = Contact.objects.order_by("pk").first().pk

    def voice(c: requests.Session) -> dict:
        me = c.get(f"{api}/me/", timeout=10)
        assert me.status_code == 200, me.text
        return next(ch for ch in me.json()["channels"] if ch["channel"] == "voice")

    calls = {}
    for name, c in (("bob", bob), ("alice", alice)):
        assert c.post(f"{api}/me/login/", json={}, timeout=10).status_code == 200
        r = c.put(f"{api}/me/channels/voice/status/", json={"status": "ready"}, timeout=10)
        assert r.status_code == 200, r.text
        offer = router.post(
            f"{api}/interactions/",
            json={"channel": "voice", "contact": contact, "direction": "inbound", "agent": name},
            timeout=10,
        )
        assert offer.status_code == 201, offer.text
        calls[name] = offer.json()["id"]
        assert c.post(f"{api}/interactions/{calls[name]}/accept/", timeout=10).status_code == 200

    for name, c in (("bob", bob), ("alice", alice)):
        r = c.post(f"{api}/interactions/{calls[name]}/end/", json={"how": "hangup"}, timeout=10)
        assert r.status_code == 200, r.text
        assert voice(c)["status"] == "after_call_work"
    bob_deadline = state("bob").wrap_up_deadline
    alice_deadline = state("alice").wrap_up_deadline
    assert bob_deadline - state("bob").since == timedelta(seconds=10)
    assert alice_deadline - state("alice").since == timedelta(seconds=15)

    r = alice.post(f"{api}/interactions/{calls['alice']}/wrap-up/extend/", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["wrap_up"] == {"interaction": calls["alice"], "ends_at": None}

    ended = wait_until(
        lambda: (v := voice(bob))["status"] != "after_call_work" and v,
        10 + 3 + 2,
        "bob to leave ACW",
        live,
        live.test_mark,
        interval=0.2,
    )
    assert (ended["status"], ended["reason"], ended["wrap_up"]) == (
        "not_ready",
        "acw_timeout",
        None,
    )
    rows = cora.get(f"{api}/audit/status-changes/?agent=bob&cause=wrap_up_timer", timeout=10)
    assert rows.status_code == 200, rows.text
    (row,) = rows.json()["results"]
    assert (row["from_status"], row["to_status"], row["reason"]) == (
        "after_call_work",
        "not_ready",
        "acw_timeout",
    )
    assert_on_time(timer_rows("bob").get().at, bob_deadline)

    # Alice's 15 s would have ended 5 s ago; she is still in ACW with no deadline.
    wait_until(lambda: db_now() > alice_deadline + timedelta(seconds=5), 25, "alice's old deadline")
    still = voice(alice)
    assert (still["status"], still["wrap_up"]) == (
        "after_call_work",
        {"interaction": calls["alice"], "ends_at": None},
    )
    assert not timer_rows("alice").exists()

    assert alice.post(f"{api}/interactions/{calls['alice']}/done/", timeout=10).status_code == 200
    assert voice(alice)["status"] == "ready"
    alice_rows = cora.get(f"{api}/audit/status-changes/?agent=alice&channel=voice", timeout=10)
    last = alice_rows.json()["results"][-1]
    assert (last["from_status"], last["to_status"], last["cause"]) == (
        "after_call_work",
        "ready",
        "after_done",
    )
