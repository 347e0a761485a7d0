"""``/healthz`` and ``/readyz`` in-process, and the sweeper's shared schedule (issue 14, 4 and 5).

These run on SQLite (with the run's embedded Redis) and on PostgreSQL; no Celery worker listens
on this run's broker, so ``worker`` is the check that fails. With real processes that are killed
and restarted: ``tests/tasks/test_readyz.py`` and ``tests/tasks/test_real_worker.py``.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta

import pytest
from django.test import Client

from cc_rules import health, sweeper
from cc_rules.selectors import db_now
from tests.factories import VOICE_ONLY, a_role

from .tasks.calls import bulk_agents_in_acw

pytestmark = pytest.mark.django_db


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture(autouse=True)
def _fresh(settings):
    """No stamps, no cached ping or migration verdict from another test; a short ping."""
    settings.CC_READYZ_PING_TIMEOUT = 0.2
    settings.CC_READYZ_CACHE_SECONDS = 0
    client = sweeper.redis_client()
    keys = (sweeper.lease_key(), sweeper.last_sweep_key())
    client.delete(*keys, sweeper.beat_key())
    health._ping_cache = None
    health._migrations_ok = False
    yield
    client.delete(*keys, sweeper.beat_key())


def _stamp(key: str, age: float, by: str) -> None:
    value = json.dumps({"at": time.time() - age, "by": by})
    sweeper.redis_client().set(key, value, ex=60)


def _readyz(query: str = "") -> tuple[int, dict]:
    response = Client().get("/readyz" + query)
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


# -- /healthz -------------------------------------------------------------------------------------
def test_healthz_answers_without_touching_database_or_redis(settings, django_assert_num_queries):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = _closed_port_url()
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert Client().get("/healthz/").status_code == 200


# -- /readyz --------------------------------------------------------------------------------------
def test_readyz_names_each_failed_check_no_worker_no_beat_no_sweep():
    status, body = _readyz()
    assert status == 503
    assert body["status"] == "fail"
    assert body["failed"] == ["worker", "beat", "sweeper"]
    assert body["skipped"] == []
    assert list(body["checks"]) == [
        "database",
        "migrations",
        "redis",
        "worker",
        "beat",
        "sweeper",
        "timers",
    ]
    for name in ("database", "migrations", "redis", "timers"):
        assert body["checks"][name]["ok"] is True, body["checks"][name]
    assert "no worker answered" in body["checks"]["worker"]["detail"]


def test_readyz_is_ok_with_fresh_stamps_and_fails_when_they_age(settings):
    settings.CC_READYZ_SWEEP_MAX_AGE = 5
    _stamp(sweeper.beat_key(), 0.5, "beat:host:1")
    _stamp(sweeper.last_sweep_key(), 1.0, "worker:host:2")
    status, body = _readyz("?only=database,migrations,redis,beat,sweeper,timers")
    assert (status, body["failed"]) == (200, []), body
    assert body["status"] == "ok"
    assert "by worker:host:2" in body["checks"]["sweeper"]["detail"]

    _stamp(sweeper.beat_key(), 6, "beat:host:1")
    _stamp(sweeper.last_sweep_key(), 60, "worker:host:2")
    status, body = _readyz("?only=beat,sweeper")
    assert (status, body["failed"]) == (503, ["beat", "sweeper"])
    assert "60." in body["checks"]["sweeper"]["detail"]


def test_readyz_fails_on_a_timer_overdue_by_more_than_the_limit(settings):
    settings.CC_READYZ_OVERDUE_SECONDS = 30
    a_role("voice_only", **VOICE_ONLY)
    bulk_agents_in_acw(1, role="voice_only", deadline=db_now() - timedelta(seconds=20), prefix="a")
    assert _readyz("?only=timers")[0] == 200  # due, but not by more than 30 s

    bulk_agents_in_acw(1, role="voice_only", deadline=db_now() - timedelta(seconds=90), prefix="b")
    status, body = _readyz("?only=timers")
    assert (status, body["failed"]) == (503, ["timers"])
    assert list(body["checks"]) == ["database", "timers"]  # timers needs the database's clock
    assert body["checks"]["timers"]["detail"].startswith("a wrap-up timer 90 s overdue")


def test_with_redis_down_the_checks_that_read_it_are_skipped(settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = _closed_port_url()
    status, body = _readyz("?only=database,redis,worker,beat,sweeper")
    assert status == 503
    assert body["failed"] == ["redis"]
    assert body["skipped"] == ["worker", "beat", "sweeper"]
    assert body["checks"]["redis"]["detail"] == "unreachable (ConnectionError)"
    assert body["checks"]["database"]["ok"] is True


def test_readyz_body_carries_no_urls_or_secrets(settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = _closed_port_url()
    text = Client().get("/readyz").content.decode()
    for secret in ("redis://", "postgres", settings.SECRET_KEY, "127.0.0.1"):
        assert secret not in text


def test_readyz_rejects_an_unknown_check():
    status, body = _readyz("?only=database,nope")
    assert status == 400
    assert body["code"] == "unknown_check"


def test_health_endpoints_are_exempt_from_the_https_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz?only=database").status_code == 200
    assert Client().get("/api/v1/me/").status_code == 301


# -- the sweeper's shared schedule ----------------------------------------------------------------
def _counting(name: str, calls: list[str]):
    def sweep() -> dict[str, int]:
        calls.append(name)
        return {"wrap_up": 0, "offers": 0, "invisible": 0}

    return sweep


def test_one_sweep_per_interval_however_many_processes_take_part():
    calls: list[str] = []
    beat = sweeper.Sweeper("beat", interval=0.5, sweep=_counting("beat", calls))
    other_beat = sweeper.Sweeper("beat", interval=0.5, sweep=_counting("beat2", calls))
    worker = sweeper.Sweeper("worker", interval=0.5, sweep=_counting("worker", calls))

    assert beat.tick() is True
    assert other_beat.tick() is False  # the lease is held
    assert worker.tick() is False
    stamp = sweeper.read_stamp(sweeper.redis_client(), sweeper.last_sweep_key())
    assert stamp["by"].startswith("beat:")
    assert time.time() - stamp["at"] < 1

    time.sleep(0.5)  # the lease (0.9 x interval) has expired
    assert worker.tick() is False  # the beat's heartbeat is 0.5 s old: not a worker's turn
    assert other_beat.tick() is True
    assert calls == ["beat", "beat2"]


def test_workers_sweep_while_the_beat_is_silent_and_step_back_when_it_returns():
    calls: list[str] = []
    worker = sweeper.Sweeper("worker", interval=0.5, sweep=_counting("worker", calls))
    other = sweeper.Sweeper("worker", interval=0.5, sweep=_counting("other", calls))
    _stamp(sweeper.beat_key(), 0.5 * sweeper.TAKEOVER + 0.1, "beat:gone:1")

    assert worker.tick() is True
    assert other.tick() is False  # one lease among the workers too
    time.sleep(0.5)
    assert other.tick() is True  # workers in charge share the normal cadence
    assert calls == ["worker", "other"]

    beat = sweeper.Sweeper("beat", interval=0.5, sweep=_counting("beat", calls))
    assert beat.tick() is False  # the lease is the worker's; but the heartbeat is written
    time.sleep(0.5)
    assert worker.tick() is False  # the beat is back: the workers step back at once
    assert beat.tick() is True
    assert calls == ["worker", "other", "beat"]


def test_without_redis_every_process_sweeps_on_its_own_schedule(settings, caplog):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = _closed_port_url()
    calls: list[str] = []
    worker = sweeper.Sweeper("worker", interval=0.3, sweep=_counting("worker", calls))
    beat = sweeper.Sweeper("beat", interval=0.3, sweep=_counting("beat", calls))

    assert worker.tick() is True
    assert beat.tick() is True
    assert worker.tick() is False  # its own interval has not passed
    time.sleep(0.3)
    assert worker.tick() is True
    assert calls == ["worker", "beat", "worker"]
    assert "sweeping unshared" in caplog.text


def test_a_failing_sweep_is_logged_and_the_next_tick_tries_again(caplog):
    def broken() -> dict[str, int]:
        raise RuntimeError("boom")

    beat = sweeper.Sweeper("beat", interval=0.2, sweep=broken)
    assert beat.tick() is False
    assert "the sweep failed" in caplog.text
    assert sweeper.read_stamp(sweeper.redis_client(), sweeper.last_sweep_key()) is None
    time.sleep(0.2)
    beat._sweep = _counting("beat", calls := [])
    assert beat.tick() is True
    assert calls == ["beat"]


@pytest.mark.django_db(transaction=True)
def test_the_thread_sweeps_for_real_and_stops():
    from cc_rules.models import AgentChannelState

    a_role("voice_only", **VOICE_ONLY)
    (state_id,) = bulk_agents_in_acw(
        1, role="voice_only", deadline=db_now() - timedelta(seconds=1), prefix="thread-"
    )
    thread = sweeper.Sweeper("beat", interval=0.2).start()  # the real timers.sweep
    try:
        deadline = time.monotonic() + 10
        while AgentChannelState.objects.get(pk=state_id).status == "after_call_work":
            assert time.monotonic() < deadline, "the sweeper thread fired nothing"
            time.sleep(0.1)
    finally:
        thread.stop(timeout=5)
    assert not thread._thread.is_alive()
    stamp = sweeper.read_stamp(sweeper.redis_client(), sweeper.last_sweep_key())
    assert stamp["by"].startswith("beat:")
