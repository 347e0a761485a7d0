"""Who runs the timer sweep, and how often: the beat, and the workers when the beat does not.

The sweep (``services.timers.sweep``) is what guarantees that every due wrap-up timer and offer
expiry fires. It used to be a task the beat enqueued, so with the only worker gone no timer
fired. Now the beat (on ``beat_init``) and each Celery worker (a bootstep, ``cc_rules/celery.py``)
run a :class:`Sweeper` thread in their main process that sweeps **in-process**, without the
broker: the timers keep firing while any one of those processes is up.

Who sweeps: a sweep first takes a short lease in Redis (``SET … NX PX``, 0.9 x
``CC_SWEEP_INTERVAL``), and each thread tries four times per interval, so the sweep runs every
1 to 1.15 intervals in total, however many processes take part. The beat tries every time
(and first writes its heartbeat); a worker only when the beat's heartbeat is older than
``TAKEOVER`` intervals (the beat is down, or busy with a long sweep), and it stops as soon as the
beat is back. So normally the beat alone sweeps, as before (the sweep
then costs the workers nothing: a sweep thread in a worker's main process would compete with
its consumer for the GIL and delay the wake-ups it dispatches; bench/timers.py's burst showed
it), and with the beat gone the workers take over within ``TAKEOVER`` intervals.

A sweep that outlasts its lease lets another process start one beside it: sweeps claim rows
``FOR UPDATE … SKIP LOCKED`` and re-check each row's version, so concurrent or duplicate sweeps
fire nothing twice (they share a backlog instead). When Redis cannot be reached, every process
sweeps on its own every interval: the database is the truth, Redis only saves work.

Stamps for ``/readyz`` (``cc_rules/health.py``), in the same Redis, named per database:
- ``last_sweep_key()``: when the last sweep finished, and who ran it (``beat:host:pid`` or
  ``worker:host:pid``);
- ``beat_key()``: the beat's heartbeat, written by its thread every tick.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis
from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections, connections

from cc_rules import metrics

log = logging.getLogger(__name__)

LEASE_FRACTION = 0.9  # the lease, as a share of the interval
TICKS_PER_INTERVAL = 4
TAKEOVER = 2.5  # intervals without a heartbeat from the beat before workers sweep
STAMP_TTL = 3600  # seconds a stamp outlives its writer (readyz judges its age, not its presence)
ERROR_LOG_EVERY = 60.0  # seconds between repeated "cannot sweep" / "Redis down" log lines


def _database_tag() -> str:
    # Installations (and test databases) sharing one Redis never share a lease or a stamp.
    return str(settings.DATABASES["default"]["NAME"])


def lease_key() -> str:
    return f"cc:sweeper:{_database_tag()}:lease"


def last_sweep_key() -> str:
    return f"cc:sweeper:{_database_tag()}:last"


def beat_key() -> str:
    return f"cc:beat:{_database_tag()}:alive"


def redis_client() -> redis.Redis:
    """A client with short timeouts: a Redis that hangs must not stall the sweep."""
    return redis.Redis.from_url(
        settings.REDIS_URL or settings.CELERY_BROKER_URL,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
    )


def read_stamp(client: redis.Redis, key: str) -> dict | None:
    """A stamp written by :meth:`Sweeper._stamp_value` (``{"at": epoch, "by": …}``), or None."""
    raw = client.get(key)
    return json.loads(raw) if raw else None


class Sweeper:
    """A daemon thread that sweeps about every ``interval`` seconds, sharing the work through a
    Redis lease with every other process that runs one. ``role`` is "worker" or "beat" (the
    beat also writes its heartbeat)."""

    def __init__(
        self,
        role: str,
        *,
        interval: float | None = None,
        sweep: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.role = role
        self.interval = float(interval or settings.CC_SWEEP_INTERVAL)
        self.name = f"{role}:{socket.gethostname()}:{os.getpid()}"
        self._sweep = sweep
        self._client = redis_client()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_local = float("-inf")  # monotonic time of this process's last sweep
        self._logged: dict[str, float] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Sweeper:
        self._thread = threading.Thread(target=self._run, name=f"cc-sweeper-{self.role}")
        self._thread.daemon = True
        self._thread.start()
        log.info(
            "sweeper started in %s (every %.2f s, shared through Redis)", self.name, self.interval
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        tick = self.interval / TICKS_PER_INTERVAL
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # never let the thread die: the next tick tries again
                    self._log_now_and_then("tick", "sweeper %s: tick failed", self.name, exc=True)
                # A fixed schedule, not "tick after the sweep": a long sweep is not followed
                # by a full extra wait.
                next_tick = max(next_tick + tick, time.monotonic())
                self._stop.wait(next_tick - time.monotonic())
        finally:
            connections.close_all()  # this thread's connections only (they are per thread)

    # -- one tick -------------------------------------------------------------------------------
    def tick(self) -> bool:
        """Heartbeat (beat), then sweep if this process wins the lease; True if it swept."""
        claimed = self._claim()
        if claimed is None:  # Redis is down: sweep on this process's own schedule
            if time.monotonic() - self._last_local < self.interval * LEASE_FRACTION:
                return False
        elif not claimed:
            return False
        return self._run_sweep()

    def _claim(self) -> bool | None:
        """Write the beat's heartbeat and try the lease: True if ours, None if Redis is down.

        A worker tries only while the beat's heartbeat is older than ``TAKEOVER`` intervals
        (the beat is down, or busy with a long sweep that help will shorten).
        """
        lease_ms = max(1, int(self.interval * LEASE_FRACTION * 1000))
        try:
            if self.role == "beat":
                self._client.set(beat_key(), self._stamp_value(), ex=STAMP_TTL)
            else:
                beat = read_stamp(self._client, beat_key())
                if beat is not None and time.time() - float(beat["at"]) < (
                    self.interval * TAKEOVER
                ):
                    return False
            return bool(self._client.set(lease_key(), self.name, nx=True, px=lease_ms))
        except redis.RedisError as exc:
            self._log_now_and_then(
                "redis", "sweeper %s: Redis unavailable (%s); sweeping unshared", self.name, exc
            )
            return None

    def _run_sweep(self) -> bool:
        self._last_local = time.monotonic()
        self._observe_lag()
        started = time.monotonic()
        close_old_connections()
        try:
            counts = self._sweep() if self._sweep else _default_sweep()
        except Exception:
            self._log_now_and_then("sweep", "sweeper %s: the sweep failed", self.name, exc=True)
            close_old_connections()
            return False
        took = time.monotonic() - started
        metrics.SWEEP_DURATION.get().observe(took)
        if any(counts.values()):
            log.info("sweeper %s: swept %s in %.3f s", self.name, counts, took)
        with contextlib.suppress(redis.RedisError):  # logged by _claim; readyz shows it
            self._client.set(last_sweep_key(), self._stamp_value(took=took), ex=STAMP_TTL)
        return True

    def _observe_lag(self) -> None:
        """``cc_sweep_lag_seconds``: how long past its interval this sweep starts, measured from
        the previous sweep by any process (the shared stamp); nothing when Redis cannot say."""
        try:
            previous = read_stamp(self._client, last_sweep_key())
        except redis.RedisError:
            return
        if previous is not None:
            late = time.time() - float(previous["at"]) - self.interval
            metrics.SWEEP_LAG.get().observe(max(0.0, late))

    def _stamp_value(self, **extra: float) -> str:
        return json.dumps({"at": time.time(), "by": self.name, **extra})

    def _log_now_and_then(self, what: str, msg: str, *args: object, exc: bool = False) -> None:
        now = time.monotonic()
        if now - self._logged.get(what, float("-inf")) >= ERROR_LOG_EVERY:
            self._logged[what] = now
            log.warning(msg, *args, exc_info=exc)


def _default_sweep() -> dict[str, int]:
    from cc_rules.services import timers

    return timers.sweep()


# -- where it runs -------------------------------------------------------------------------------
class SweeperStep(bootsteps.StartStopStep):
    """Every worker runs a sweeper thread in its main process (``cc_rules.sweeper``), not in its
    pool: it sweeps when the beat has not for a while, even if the pool is busy or Redis is
    down. Started after the pool, so the pool's first children are not forked beside it."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.sweeper = None

    def start(self, worker: object) -> None:
        self.sweeper = Sweeper("worker").start()

    def stop(self, worker: object) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None


_beat_sweepers: list[Sweeper] = []


def start_beat_sweeper() -> None:
    """Called on ``beat_init`` (cc_rules/celery.py): the beat's sweeper thread, a daemon that
    ends with the beat process."""
    _beat_sweepers.append(Sweeper("beat").start())
