"""A real Celery worker and a real Celery beat as subprocesses, for the real-timer tests.

They run ``.venv/bin/celery -A cc_rules worker|beat`` against the real Redis (a Redis database
number claimed for this test session, so concurrent sessions and xdist workers never consume
each other's tasks) and the *same* PostgreSQL test database as the test process (built from
``django.db.connection.settings_dict`` after ``django_db_setup``). Each process runs in its own
process group, so stopping it also stops its pool children; anything still running at
interpreter exit is killed too. Logs go to files that the tests print when they fail.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import kombu.pools
import redis
from django.conf import settings
from django.db import connection

from cc_rules.celery import app

T = TypeVar("T")

CLAIM_KEY = "cc-rules:test-broker-db:{}"
CLAIMABLE_DBS = range(5, 15)  # 15 is bench/timers.py's
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def base_redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


@contextlib.contextmanager
def claimed_redis_db() -> Iterator[str]:
    """Claim a free Redis database number (5-14) for this session, FLUSHDB it, yield its URL.

    The claim is a key with a TTL (``SET NX``) in database 0 of the server, whatever this
    session's own database is, so two test sessions on one Redis never share a broker database;
    a database that is not empty (in use by a session that claims elsewhere) is skipped too.
    """
    base = base_redis_url()
    registry = redis.Redis.from_url(with_db(base, 0))
    me = f"{socket.gethostname()}:{os.getpid()}"
    base_db = int(urlsplit(base).path.strip("/") or 0)
    for db in CLAIMABLE_DBS:
        if db == base_db or not registry.set(CLAIM_KEY.format(db), me, nx=True, ex=6 * 3600):
            continue
        if redis.Redis.from_url(with_db(base, db)).dbsize() == 0:
            break
        registry.delete(CLAIM_KEY.format(db))
    else:
        raise RuntimeError(f"no free Redis database in {list(CLAIMABLE_DBS)} on {base}")
    url = with_db(base, db)
    try:
        yield url
    finally:
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url).flushdb()
            if registry.get(CLAIM_KEY.format(db)) == me.encode():
                registry.delete(CLAIM_KEY.format(db))


@contextlib.contextmanager
def broker_of_this_process(url: str) -> Iterator[None]:
    """Send this process's tasks (the services' on-commit wake-ups) to ``url``.

    ``CELERY_BROKER_URL`` in the environment wins over every other broker setting in Celery;
    the app's connection and producer pools (and kombu's registry of them) are dropped, so
    the next send connects anew.
    """
    old = os.environ.get("CELERY_BROKER_URL")

    def reset_pools() -> None:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu keeps producer pools in a process-wide registry keyed by the connection's URL:
        # a later module that claims the same Redis database would get the pool whose
        # connections were just closed ("Acquire on closed pool") and send no task at all.
        kombu.pools.reset()

    os.environ["CELERY_BROKER_URL"] = url
    reset_pools()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = old
        reset_pools()


def database_url_of_this_session() -> str:
    """The URL of the database this test session runs on (the test database, after setup)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(s['NAME'], safe='')}"


class Proc:
    """One Celery subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.popen: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.name}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: killpg reaches the pool children
            )

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group: no warm shutdown, unacknowledged messages stay unacked."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it takes longer than ``STOP_TIMEOUT``."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=STOP_TIMEOUT)
        self.signal_group(signal.SIGKILL)  # pool children a warm shutdown left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=STOP_TIMEOUT)


class CeleryProcesses:
    """The session's worker and beat; ``logs_since(mark)`` is what they logged after a mark."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        workdir: Path,
        queues: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``queues``: the worker consumes these (``-Q``) instead of the default queue;
        ``env``: more environment for both processes."""
        celery = str(Path(sys.executable).with_name("celery"))
        extra_env = env or {}
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": broker_url,
            "CELERY_BROKER_URL": broker_url,
            "CC_SWEEP_INTERVAL": "1",
            "CC_SEND_WAKEUPS": "on",
            "DEBUG": "off",  # no query log growing in a long-lived worker
            "SECRET_KEY": "test-only-celery-processes",
            "CC_HISTORY_KEY": settings.CC_HISTORY_KEY,  # the ledger's key: the tests' own
            "CONN_MAX_AGE": "0",  # no idle connection survives a test's flush
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.broker_url = broker_url
        self.test_mark = 0  # where the current test's part of the log starts
        self.log = workdir / "celery.log"
        self.log.touch()
        tag = f"cc-test-{os.getpid()}"
        self.worker = Proc(
            "worker",
            [
                *(celery, "-A", "cc_rules", "worker", "--concurrency", "2", "-l", "info"),
                *("--hostname", f"{tag}@%h", "--without-gossip", "--without-mingle"),
                *(("--queues", queues) if queues else ()),
            ],
            env,
            self.log,
        )
        self.beat = Proc(
            "beat",
            [
                *(celery, "-A", "cc_rules", "beat", "-l", "info"),
                *("-s", str(workdir / "schedule"), "--pidfile", str(workdir / "beat.pid")),
            ],
            env,
            self.log,
        )
        atexit.register(self.kill_all)

    # -- the log ---------------------------------------------------------------------------
    def mark(self) -> int:
        return self.log.stat().st_size

    def logs_since(self, mark: int = 0) -> str:
        with self.log.open("rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def tail(self, mark: int = 0, lines: int = 200) -> str:
        return "\n".join(self.logs_since(mark).splitlines()[-lines:])

    # -- lifecycle -------------------------------------------------------------------------
    def start_worker(self) -> None:
        mark = self.mark()
        self.worker.start()
        self.wait_for_log(mark, " ready.", what="the worker to be ready")

    def start_beat(self) -> None:
        mark = self.mark()
        self.beat.start()
        self.wait_for_log(mark, "sweeper started in beat:", what="the beat's sweeper")

    def ensure_running(self) -> None:
        if not self.worker.running:
            self.start_worker()
        if not self.beat.running:
            self.start_beat()

    def stop_all(self) -> None:
        self.beat.stop()
        self.worker.stop()

    def kill_all(self) -> None:
        for proc in (self.beat, self.worker):
            proc.signal_group(signal.SIGKILL)

    def log_lines(self, mark: int, *texts: str) -> list[str]:
        """The log lines since ``mark`` that contain every one of ``texts``."""
        return [ln for ln in self.logs_since(mark).splitlines() if all(t in ln for t in texts)]

    def wait_for_log(self, mark: int, *texts: str, what: str, count: int = 1) -> None:
        def seen() -> bool:
            for proc in (self.worker, self.beat):
                if proc.popen is not None and proc.popen.poll() not in (None, 0, -9, -15):
                    raise AssertionError(f"{proc.name} died\n{self.tail(mark)}")
            return len(self.log_lines(mark, *texts)) >= count

        wait_until(seen, START_TIMEOUT, f"{what} ({texts!r} x{count})", self, mark)


@contextlib.contextmanager
def celery_on_this_session(
    django_db_blocker,
    workdir: Path,
    *,
    route_this_process: bool = True,
    queues: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[CeleryProcesses]:
    """A worker and a beat (not started yet) on this session's test database and a Redis
    database claimed for them; with ``route_this_process`` this process's tasks (the services'
    on-commit wake-ups) go to their broker meanwhile. Always stopped on the way out."""
    with django_db_blocker.unblock():
        database_url = database_url_of_this_session()
    with claimed_redis_db() as broker_url:
        procs = CeleryProcesses(
            broker_url=broker_url,
            database_url=database_url,
            workdir=workdir,
            queues=queues,
            env=env,
        )
        routing = (
            broker_of_this_process(broker_url) if route_this_process else contextlib.nullcontext()
        )
        with routing:
            try:
                yield procs
            finally:
                procs.stop_all()


def wait_until(
    probe: Callable[[], T],
    timeout: float,
    what: str,
    procs: CeleryProcesses | None = None,
    mark: int = 0,
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the Celery log if it never
    does."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = f"\n--- celery log ---\n{procs.tail(mark)}" if procs else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{logs}")
        time.sleep(interval)
