"""``/readyz`` with real processes: stop Redis, PostgreSQL, the worker or the beat, and it turns
503 naming the failed check within seconds, then back to 200 (issue 14, "Done when").

Each test runs its own stack: gunicorn (production settings) and a Celery worker and beat, on a
``redis-server`` of its own (shut down and restarted here; the shared Redis is never touched) and
on this session's PostgreSQL test database reached through a TCP proxy in this process (stopping
the proxy is "PostgreSQL down" for every process; the shared server is never stopped).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.api.test_faults import (
    REDIS_SERVER,
    VENV_BIN,
    OwnRedis,
    Process,
    Web,
    _database_url,
    _env,
    _wait,
)

pytestmark = [pytest.mark.postgres, pytest.mark.worker]

WITHIN = 12.0  # seconds for /readyz to notice a failure (sweep max age 4 s, ping cached 1 s)
BACK_WITHIN = 30.0  # seconds to be ready again (Celery reconnects to Redis with a back-off)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the database; ``stop`` closes the listener and every
    connection (the database is gone), ``start`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=64)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Stack:
    def __init__(self, tmp_path: Path, redis: OwnRedis, proxy: TcpProxy) -> None:
        self.tmp_path, self.redis, self.proxy = tmp_path, redis, proxy
        self.env = _env(
            tmp_path,
            database_url=_database_url(port=proxy.port, host="127.0.0.1"),
            redis_url=redis.url,
        )
        self.env.update(
            CC_SWEEP_INTERVAL="0.5",
            CC_READYZ_SWEEP_MAX_AGE="4",
            CC_READYZ_CACHE_SECONDS="1",
            CC_READYZ_PING_TIMEOUT="0.5",
            CONN_MAX_AGE="60",
        )
        self.web = Web(self.env, tmp_path / "web.log")
        self.worker = self._worker()
        self.beat = self._beat()

    def _worker(self) -> Process:
        command = [str(VENV_BIN / "celery"), "-A", "cc_rules", "worker", "--pool", "solo",
                   "--without-gossip", "--without-mingle", "--loglevel", "INFO",
                   "--hostname", f"readyz-{os.getpid()}@%h"]  # fmt: skip
        return Process("worker", command, self.env, self.tmp_path / "worker.log")

    def _beat(self) -> Process:
        command = [str(VENV_BIN / "celery"), "-A", "cc_rules", "beat", "--loglevel", "INFO",
                   "--schedule", str(self.tmp_path / "beat-schedule")]  # fmt: skip
        return Process("beat", command, self.env, self.tmp_path / "beat.log")

    def readyz(self) -> tuple[int, dict]:
        started = time.monotonic()
        response = requests.get(f"{self.web.base}/readyz", timeout=10)
        took = time.monotonic() - started
        assert took < 5, f"/readyz took {took:.1f} s"
        return response.status_code, response.json()

    def wait_ready(self, within: float = BACK_WITHIN) -> float:
        started = time.monotonic()
        last: list = []

        def ready() -> bool:
            last[:] = [self.readyz()]
            return last[0][0] == 200

        try:
            _wait(ready, within, "/readyz to answer 200", interval=0.3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer {last}\n{self.logs()}") from None
        return time.monotonic() - started

    def wait_failed(self, check: str) -> tuple[float, dict]:
        started = time.monotonic()
        last: list = []

        def failed() -> bool:
            last[:] = [self.readyz()]
            status, body = last[0]
            return status == 503 and check in body["failed"]

        try:
            _wait(failed, WITHIN, f"/readyz to fail {check!r}", interval=0.3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer {last}\n{self.logs()}") from None
        return time.monotonic() - started, last[0][1]

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.output()[-3000:]}" for p in (self.web, self.worker, self.beat)
        )

    def kill(self, process: Process) -> None:
        os.killpg(process.handle.pid, signal.SIGKILL)
        process.handle.wait(10)


@pytest.fixture
def stack(transactional_db, tmp_path) -> Iterator[Stack]:
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not on PATH (apt install redis-server)")
    settings = connection.settings_dict
    redis = OwnRedis(tmp_path)
    redis.start()
    proxy = TcpProxy((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    proxy.start()
    stack = None
    try:
        stack = Stack(tmp_path, redis, proxy)
        stack.wait_ready(60)  # the first start: worker and beat need a few seconds
        yield stack
    finally:
        if stack is not None:  # the current processes (a test may have replaced some)
            for process in (stack.web, stack.worker, stack.beat):
                process.stop()
        proxy.stop()
        if redis.alive():
            redis.shutdown()


def test_the_worker_killed_then_restarted(stack):
    stack.kill(stack.worker)
    took, body = stack.wait_failed("worker")
    assert body["failed"] == ["worker"], body  # the beat still sweeps: nothing else is wrong
    print(f"worker: 503 after {took:.1f} s")

    stack.worker = stack._worker()
    print(f"worker: 200 again {stack.wait_ready():.1f} s after its restart")


def test_the_beat_killed_then_restarted(stack):
    stack.kill(stack.beat)
    took, body = stack.wait_failed("beat")
    assert body["failed"] == ["beat"], body  # the worker took over the sweep in time
    assert body["checks"]["sweeper"]["detail"].split(" by ")[1].startswith("worker:"), body
    print(f"beat: 503 after {took:.1f} s")

    stack.beat = stack._beat()
    print(f"beat: 200 again {stack.wait_ready():.1f} s after its restart")


def test_redis_stopped_then_restarted(stack):
    stack.redis.shutdown()
    took, body = stack.wait_failed("redis")
    assert body["failed"] == ["redis"], body
    assert body["skipped"] == ["worker", "beat", "sweeper"], body
    assert body["checks"]["database"]["ok"] is True
    print(f"redis: 503 after {took:.1f} s")

    time.sleep(2)  # long enough for the worker and the beat to notice
    stack.redis.start()  # empty: stamps come back with the next sweep and heartbeat
    time.sleep(1.5)  # the web's cached "worker answered" from before has expired
    print(f"redis: 200 again {stack.wait_ready() + 1.5:.1f} s after its restart")
    assert "unreachable" not in stack.readyz()[1]["checks"]["worker"]["detail"]


def test_postgresql_stopped_then_restarted(stack):
    stack.proxy.stop()
    took, body = stack.wait_failed("database")
    assert {"migrations", "timers"} <= set(body["skipped"]), body
    assert body["checks"]["database"]["detail"].startswith("unreachable"), body
    assert took < 5, f"the database check took {took:.1f} s to notice"
    print(f"database: 503 after {took:.1f} s")

    # Every process lost it, so the sweeps fail too: the sweeper turns red after its max age.
    _, body = stack.wait_failed("sweeper")

    stack.proxy.start()
    print(f"database: 200 again {stack.wait_ready():.1f} s after it came back")
