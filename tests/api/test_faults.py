"""Faults with the real services (issue 7): no mocks, real processes.

- Redis stopped: status changes and offers still work (the database is the truth; throttling
  fails open; timer wake-ups are sent after commit and a failed send is only logged), and the
  timers whose wake-ups were lost still fire, through the sweepers (which need no Redis).
- PostgreSQL unreachable (nothing listening, or a peer that never answers): 503
  ``database_unavailable`` within ~3 s, with and without ``Idempotency-Key``.
- PostgreSQL lost in the middle of a request, after the request already wrote: 503 and nothing
  of it left in the database.

The app runs as a gunicorn subprocess with production settings (``DEBUG=off``) on the test
database; Celery worker and beat are subprocesses too. Redis is a ``redis-server`` of this test's
own on a free port (the shared one on 6379 is never stopped), shut down and restarted here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from cc_rules.models import (
    AgentChannelState,
    IdempotencyRecord,
    Interaction,
    StatusChange,
)
from tests.factories import token_for

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("demo_world")]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REDIS_SERVER = shutil.which("redis-server")
FAST = 3.0  # seconds: "quickly"


# --- processes -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class OwnRedis:
    """A redis-server of this test's own: start, SHUTDOWN, start again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _command(self, payload: bytes) -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(payload)
                return conn.recv(64)
        except OSError:
            return b""

    def alive(self) -> bool:
        return self._command(b"PING\r\n").startswith(b"+PONG")

    def start(self) -> None:
        subprocess.run(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "yes", "--dir", str(self.directory),
             "--pidfile", str(self.directory / "redis.pid"),
             "--logfile", str(self.directory / "redis.log")],
            check=True,
        )  # fmt: skip
        _wait(self.alive, 10, "redis-server to start")

    def shutdown(self) -> None:
        self._command(b"SHUTDOWN NOSAVE\r\n")
        _wait(lambda: not self.alive(), 10, "redis-server to stop")


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not on PATH (apt install redis-server)")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.alive():
        server.shutdown()


def _database_url(port: int | None = None, host: str | None = None) -> str:
    db = connection.settings_dict
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = host or db.get("HOST") or "127.0.0.1"
    port = port or db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _env(tmp_path: Path, *, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TEST_DATABASE"))}
    env.update(
        DJANGO_SETTINGS_MODULE="cc_rules.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        CC_THROTTLE_REDIS_URL=redis_url,
        DEBUG="off",
        SECRET_KEY="faults-test-" + "x" * 50,
        CC_HISTORY_KEY=django_settings.CC_HISTORY_KEY,  # the ledger's key: the tests' own
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="off",
        CC_VAR_DIR=str(tmp_path / "var"),
        CC_SWEEP_INTERVAL="1",
        CC_SEND_WAKEUPS="on",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Process:
    """A subprocess in its own process group, with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self.handle = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.handle.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.handle.pid, signal.SIGTERM)
            try:
                self.handle.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.handle.pid, signal.SIGKILL)
                self.handle.wait(5)


class Web(Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [str(VENV_BIN / "gunicorn"), "cc_rules.wsgi", "--bind",
                   f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4",
                   "--timeout", "60", "--graceful-timeout", "2"]  # fmt: skip
        super().__init__("web", command, env, log)

        def up():
            if self.handle.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.output()}")
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.base}/api/schema/?format=json", timeout=2).ok
            return False

        _wait(up, 60, "gunicorn to serve")

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Token {token}"
        started = time.monotonic()
        response = requests.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
        response.elapsed_s = time.monotonic() - started
        return response


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def _token(username: str) -> str:
    user = get_user_model().objects.get(username=username)
    return token_for(user)


def _state(username: str, channel: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id=channel)


def _assert_fast_ok(response, status: int, within: float = FAST) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.elapsed_s < within, f"took {response.elapsed_s:.2f} s"
    return response.json()


def _assert_unavailable(response, within: float = FAST) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.json() == {
        "code": "database_unavailable",
        "detail": response.json()["detail"],
        "rule": None,
    }
    assert response.headers["Retry-After"]
    assert response.elapsed_s < within, f"503 took {response.elapsed_s:.2f} s"


# --- Redis down ------------------------------------------------------------------------------
def test_without_redis_status_and_offers_work_and_timers_still_fire(
    transactional_db, own_redis, tmp_path
):
    env = _env(tmp_path, database_url=_database_url(), redis_url=own_redis.url)
    alice, router = _token("alice"), _token("router")
    web = Web(env, tmp_path / "web.log")
    worker = Process(
        "worker",
        [str(VENV_BIN / "celery"), "-A", "cc_rules", "worker", "--beat", "--pool", "solo",
         "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")],
        env,
        tmp_path / "worker.log",
    )  # fmt: skip
    with running(web, worker):
        _assert_fast_ok(web.call("POST", "/api/v1/me/login/", alice, json={}), 200)
        for channel in ("voice", "chat"):
            url = f"/api/v1/me/channels/{channel}/status/"
            _assert_fast_ok(web.call("PUT", url, alice, json={"status": "ready"}), 200)

        own_redis.shutdown()

        # The database is the truth: sessions, offers and their ends go on without Redis.
        url = "/api/v1/me/channels/chat/status/"
        body = {"status": "not_ready", "reason": "break"}
        _assert_fast_ok(web.call("PUT", url, alice, json=body), 200)
        _assert_fast_ok(web.call("PUT", url, alice, json={"status": "ready"}), 200)
        offers = "/api/v1/interactions/"
        voice = {"channel": "voice", "direction": "inbound", "agent": "alice"}
        chat = {"channel": "chat", "direction": "inbound", "agent": "alice"}
        call = _assert_fast_ok(web.call("POST", offers, router, json=voice), 201)
        unanswered = _assert_fast_ok(web.call("POST", offers, router, json=chat), 201)
        for action, body in (("accept", {}), ("end", {"how": "hangup"})):
            path = f"/api/v1/interactions/{call['id']}/{action}/"
            _assert_fast_ok(web.call("POST", path, alice, json=body), 200)
        assert _state("alice", "voice").status == "after_call_work"
        # Idempotency keys live in PostgreSQL, not Redis: a retry still replays.
        headers = {"Idempotency-Key": "redis-down"}
        first = web.call("PUT", "/api/v1/me/dnd/", alice, json={"enabled": True}, headers=headers)
        again = web.call("PUT", "/api/v1/me/dnd/", alice, json={"enabled": True}, headers=headers)
        _assert_fast_ok(first, 200)
        assert again.headers["Idempotent-Replayed"] == "true"
        _assert_fast_ok(web.call("PUT", "/api/v1/me/dnd/", alice, json={"enabled": False}), 200)
        # IM lives only in Redis: refused cleanly, never a 500.
        im = web.call("POST", "/api/v1/im/", alice, json={"to": "sam", "text": "hi"})
        assert im.status_code == 503
        assert im.json()["code"] == "im_unavailable"
        # The wake-ups were attempted after commit and their failure only logged.
        _wait(lambda: "not sent" in web.output(), 5, "the lost wake-up to be logged")

        # Both deadlines pass while Redis is down: every wake-up is lost, but the worker's and
        # the beat's sweepers go on without Redis (each on its own schedule; cc_rules/sweeper.py).
        AgentChannelState.objects.filter(agent__user__username="alice", channel_id="voice").update(
            wrap_up_deadline=_db_now() - timedelta(seconds=1)
        )
        Interaction.objects.filter(pk=unanswered["id"]).update(
            offer_deadline=_db_now() - timedelta(seconds=1)
        )

        def fired():
            return (
                _state("alice", "voice").status == "ready"  # blended: after the timer → ready
                and Interaction.objects.get(pk=unanswered["id"]).state == "missed"
            )

        try:
            _wait(fired, 30, "the sweeper to fire the timers without Redis", interval=0.5)
        except AssertionError:
            print(worker.output()[-5000:])
            raise
        assert "sweeping unshared" in worker.output()
        own_redis.start()  # empty: every wake-up sent before is gone
        timer_rows = StatusChange.objects.filter(
            agent__user__username="alice", channel_id="voice", cause="wrap_up_timer"
        )
        assert timer_rows.count() == 1  # fired once, not once per path


def test_wake_ups_fail_fast_while_redis_is_down(transactional_db, own_redis, tmp_path):
    env = _env(tmp_path, database_url=_database_url(), redis_url=own_redis.url)
    alice, router = _token("alice"), _token("router")
    web = Web(env, tmp_path / "web.log")
    with running(web):
        _assert_fast_ok(
            web.call("POST", "/api/v1/me/login/", alice, json={"channels": ["chat"]}), 200
        )
        url = "/api/v1/me/channels/chat/status/"
        _assert_fast_ok(web.call("PUT", url, alice, json={"status": "ready"}), 200)
        own_redis.shutdown()
        offer = {"channel": "chat", "direction": "inbound", "agent": "alice"}
        _assert_fast_ok(web.call("POST", "/api/v1/interactions/", router, json=offer), 201)


def _db_now():
    from cc_rules.selectors import db_now

    return db_now()


# --- PostgreSQL unreachable --------------------------------------------------------------------
@contextlib.contextmanager
def _silent_peer() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (a hung database)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("database", ["nothing listening", "a peer that never answers"])
def test_an_unreachable_database_is_a_quick_503(
    transactional_db, own_redis, tmp_path, settings, database
):
    """Refused: at once. Silent: after the settings' ``connect_timeout`` (DB_CONNECT_TIMEOUT,
    default 3 s; libpq's floor is 2 s), plus a little; the production default is what runs."""
    token = _token("alice")  # made while the database is up; the server will not reach it
    connect_timeout = settings.DATABASES["default"]["OPTIONS"]["connect_timeout"]
    within = FAST if database == "nothing listening" else connect_timeout + 1.0
    with contextlib.ExitStack() as stack:
        port = 1 if database == "nothing listening" else stack.enter_context(_silent_peer())
        env = _env(tmp_path, database_url=_database_url(port=port), redis_url=own_redis.url)
        web = Web(env, tmp_path / "web.log")
        stack.enter_context(running(web))
        calls = [
            ("GET", "/api/v1/me/", token, {}),
            ("PUT", "/api/v1/me/dnd/", token, {"json": {"enabled": True}}),
            ("POST", "/api/v1/me/login/", token,
             {"json": {}, "headers": {"Idempotency-Key": "db-down"}}),
            ("POST", "/api/v1/auth/token/", None, {"json": {"username": "a", "password": "b"}}),
        ]  # fmt: skip
        for method, path, who, kwargs in calls:
            _assert_unavailable(web.call(method, path, who, **kwargs), within)
        assert "Traceback" not in web.output()


# --- PostgreSQL lost mid-request ---------------------------------------------------------------
def _backend_waiting_on_a_lock() -> int | None:
    with connections["default"].cursor() as cursor:
        # pg_stat_activity is a snapshot taken once per transaction: drop it to see now.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
        return row[0] if row else None


@pytest.mark.parametrize("idempotency_key", [None, "mid-request"])
def test_a_request_whose_database_dies_half_way_leaves_nothing(
    transactional_db, own_redis, tmp_path, idempotency_key
):
    """The status change has already updated the channel row when it blocks on the history
    insert; its database connection is then killed. The answer is 503 and no trace remains."""
    env = _env(tmp_path, database_url=_database_url(), redis_url=own_redis.url)
    alice = _token("alice")
    web = Web(env, tmp_path / "web.log")
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    result: dict = {}
    with running(web):
        _assert_fast_ok(web.call("POST", "/api/v1/me/login/", alice, json={}), 200)
        before = (
            StatusChange.objects.count(),
            _state("alice", "chat").status,
            IdempotencyRecord.objects.count(),
        )
        url = "/api/v1/me/channels/chat/status/"

        def change():
            result["response"] = web.call(
                "PUT", url, alice, json={"status": "ready"}, headers=dict(headers)
            )

        with transaction.atomic():
            with connection.cursor() as cursor:  # history appends wait; reads do not
                cursor.execute("LOCK TABLE cc_rules_statuschange IN EXCLUSIVE MODE")
            thread = threading.Thread(target=change)
            thread.start()
            pid = _wait(_backend_waiting_on_a_lock, 15, "the request to block on the history")
            with connection.cursor() as cursor:
                # It has written already: its UPDATE of the channel row holds that table's lock.
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND granted "
                    "AND relation = 'cc_rules_agentchannelstate'::regclass "
                    "AND mode = 'RowExclusiveLock'",
                    [pid],
                )
                assert cursor.fetchone()[0] == 1
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            thread.join(30)
        response = result["response"]
        assert response.status_code == 503, response.text[:300]
        assert response.json()["code"] == "database_unavailable"
        after = (
            StatusChange.objects.count(),
            _state("alice", "chat").status,
            IdempotencyRecord.objects.count(),
        )
        assert after == before  # the channel row's update went with the connection
        # The next request gets a fresh connection and does the work, once.
        retry = web.call("PUT", url, alice, json={"status": "ready"}, headers=dict(headers))
        _assert_fast_ok(retry, 200)
        assert _state("alice", "chat").status == "ready"
        assert StatusChange.objects.count() == before[0] + 1
    connections.close_all()
