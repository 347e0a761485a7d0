"""`python3 manage.py serve`: the whole service on one machine, in one command.

Migrates, seeds the demo (DEBUG on) or collects the static files (DEBUG off), then runs web
(runserver, or gunicorn with cc_rules/gunicorn_conf.py), one Celery worker, one Celery worker for
the audit jobs' queue (``CC_AUDIT_QUEUE``) and exactly one Celery beat as child processes and
supervises them: Ctrl-C or SIGTERM stops them all; if one dies the others are stopped too and
the command exits non-zero, so a half-running service (say, web without the beat that fires
wrap-up timers) is never mistaken for a working one.

Redis comes from ``REDIS_URL``, else an embedded server (cc_rules/embedded_redis.py) that is
stopped when this command exits. Every child gets ``REDIS_URL`` and ``CELERY_BROKER_URL`` in its
environment, because settings are read from the environment when each process starts, and
``PROMETHEUS_MULTIPROC_DIR`` (``var/metrics`` unless set; emptied at start) where every process
writes its metrics for ``/metrics`` (cc_rules/metrics.py). Logs: every child writes lines in
``CC_LOG_FORMAT`` on stderr (cc_rules/logs.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from cc_rules.embedded_redis import (
    EmbeddedRedisError,
    die_with_parent,
    ensure_redis,
    release_redis,
)
from cc_rules.logs import gunicorn_config

DEMO_USERS = (
    ("alice", "agent, blended: voice email chat im"),
    ("bob", "agent, voice_only"),
    ("erin", "agent, email_specialist"),
    ("tom", "agent, single_task"),
    ("sofia", "agent, social"),
    ("sam", "supervisor (and blended agent)"),
    ("cora", "compliance, read-only audit"),
    ("router", "service account that offers inbound work"),
    ("admin", "superuser"),
)
STOP_TIMEOUT = 15.0  # a worker finishing a task gets this long before SIGKILL


class _Stop(Exception):
    """Raised from the signal handler so every wait below unwinds to one shutdown path."""


class Command(BaseCommand):
    help = (
        "Migrate, seed the demo (DEBUG), and run web + one Celery worker + one audit-job worker "
        "+ one Celery beat."
    )
    requires_system_checks = []  # the web child runs them; no need to pay for them twice

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="web port (default 8000)")
        parser.add_argument("--host", default="127.0.0.1", help="web address (default 127.0.0.1)")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        children: dict[str, subprocess.Popen] = {}
        self._embedded = not os.environ.get("REDIS_URL")
        self._interruptible, self._stop_requested = True, False
        try:
            _check_port_free(host, port)
            env = self._environment()
            self._prepare()
            # From here a signal only sets a flag, so it cannot strike between a child's fork
            # and our recording of it (that child would outlive us).
            self._interruptible = False
            children = self._start_children(env, host, port)
            self._announce(env, host, port, children)
            failed = self._supervise(children)
        except _Stop:
            failed = None
        except EmbeddedRedisError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            # Signals during shutdown must not interrupt it half-way.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            _stop_all(children, self.stdout)
            release_redis()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed:
            name, code = failed
            raise CommandError(f"{name} exited with code {code}; stopped the other processes.")
        self.stdout.write("Stopped web, workers and beat" + self._redis_note() + ".")

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop_requested = True
        if self._interruptible:
            raise _Stop(signal.Signals(signum).name)

    def _redis_note(self) -> str:
        if not self._embedded:
            return ""
        return "; the embedded Redis is stopped unless another command still uses it"

    def _environment(self) -> dict[str, str]:
        """The children's environment: this one plus the Redis and broker URLs."""
        env = dict(os.environ)
        redis_url = ensure_redis()
        env["REDIS_URL"] = redis_url
        env["CELERY_BROKER_URL"] = os.environ.get("CELERY_BROKER_URL") or redis_url
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")
        # The children run in the package's directory: give them this var/, resolved here.
        env["CC_VAR_DIR"] = str(settings.VAR_DIR)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(_fresh_metrics_dir())
        # This process may have imported settings before the URL existed; keep it consistent.
        os.environ.update({k: env[k] for k in ("REDIS_URL", "CELERY_BROKER_URL")})
        return env

    def _prepare(self) -> None:
        self.stdout.write("Applying migrations …")
        call_command("migrate", interactive=False, verbosity=0)
        if settings.DEBUG:
            call_command("seed_demo", stdout=self.stdout)
        else:
            # WhiteNoise serves STATIC_ROOT (hashed, compressed names) when DEBUG is off.
            self.stdout.write(f"Collecting static files into {settings.STATIC_ROOT} …")
            call_command("collectstatic", interactive=False, verbosity=0)
        connections.close_all()  # children open their own; don't hold a SQLite handle idle

    def _start_children(self, env: dict[str, str], host: str, port: int) -> dict:
        celery_dir = Path(settings.VAR_DIR) / "celery"
        celery_dir.mkdir(parents=True, exist_ok=True)
        py = sys.executable
        if settings.DEBUG:
            web = [py, "-m", "django", "runserver", "--noreload", f"{host}:{port}"]
        else:
            # Settings from cc_rules/gunicorn_conf.py (WEB_CONCURRENCY, timeouts, max requests);
            # GUNICORN_CMD_ARGS still overrides them.
            web = [py, "-m", "gunicorn", "--config", "python:cc_rules.gunicorn_conf"]
            web += ["--bind", f"{host}:{port}", "cc_rules.wsgi"]
            # gunicorn's own lines in the same format; access lines come from the application
            # (logger cc_rules.access, with the request id), so gunicorn's access log stays off.
            web += ["--log-config-json", str(_gunicorn_logging(Path(settings.VAR_DIR)))]
        # --quiet: no start-up banner (plain text) on stdout; the log says the same in lines.
        celery = [py, "-m", "celery"] + (["--quiet"] if settings.CC_LOG_FORMAT == "json" else [])
        worker = [*celery, "-A", "cc_rules", "worker", "--concurrency", "2"]
        worker += ["--loglevel", "INFO", "--hostname", f"cc-rules-{os.getpid()}@%h"]
        # Audit jobs (verify, CSV export: minutes long) on their own queue and their own
        # worker, so a running job never takes a pool slot the timer tasks need.
        audit = [py, "-m", "celery", "-A", "cc_rules", "worker", "--concurrency", "1"]
        audit += ["--queues", settings.CC_AUDIT_QUEUE, "--loglevel", "INFO"]
        audit += ["--hostname", f"cc-rules-audit-{os.getpid()}@%h"]
        # The beat pidfile makes a second beat on this var/ refuse to start: exactly one beat.
        beat = [*celery, "-A", "cc_rules", "beat", "--loglevel", "INFO"]
        beat += ["--schedule", str(celery_dir / "beat-schedule")]
        beat += ["--pidfile", str(celery_dir / "beat.pid")]
        children = {}
        for name, command in (
            ("web", web),
            ("worker", worker),
            ("audit-worker", audit),
            ("beat", beat),
        ):
            children[name] = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                # Own process group: we decide the stop order, and can sweep stragglers.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return children

    def _announce(self, env: dict[str, str], host: str, port: int, children: dict) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://{shown}:{port}"
        _wait_for_port(shown, port, children, lambda: self._stop_requested)
        if self._stop_requested:
            return
        db = settings.DATABASES["default"]
        redis_dir = Path(settings.VAR_DIR) / "redis"
        lines = [
            "",
            f"cc-rules is up at {base}/  ({'DEBUG, runserver' if settings.DEBUG else 'gunicorn'})",
            f"  admin        {base}/admin/",
            f"  API          {base}/api/v1/   (token: POST {base}/api/v1/auth/token/)",
            f"  API docs     {base}/api/docs/   schema {base}/api/schema/",
            f"  database     {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}",
            f"  redis        {env['REDIS_URL']}"
            + (f" (embedded, files in {redis_dir})" if self._embedded else " (REDIS_URL)"),
            "  processes    " + ", ".join(f"{n} pid {p.pid}" for n, p in children.items()),
        ]
        if settings.DEBUG:
            lines.append(f"  demo users   password {settings.DEMO_PASSWORD!r}:")
            lines += [f"    {name:<8} {what}" for name, what in DEMO_USERS]
        lines += ["Ctrl-C stops everything.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _supervise(self, children: dict) -> tuple[str, int] | None:
        """Wait until a child exits (a failure: none of them should) or a signal arrives."""
        while not self._stop_requested:
            for name, process in children.items():
                code = process.poll()
                if code is not None:
                    self.stderr.write(f"{name} (pid {process.pid}) exited with code {code}.")
                    return name, code
            time.sleep(0.2)
        return None


def _fresh_metrics_dir() -> Path:
    """``PROMETHEUS_MULTIPROC_DIR`` for web, worker and beat (cc_rules/metrics.py): the one
    given, else ``var/metrics``; its metric files (``*.db``, one per process and kind) are
    deleted, because the files of an earlier run would be added in. Nothing else is touched."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(settings.VAR_DIR) / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def _gunicorn_logging(var_dir: Path) -> Path:
    """gunicorn's logging configuration (``cc_rules.logs.gunicorn_config``) as a JSON file."""
    path = var_dir / "gunicorn-logging.json"
    path.write_text(json.dumps(gunicorn_config(settings.CC_LOG_FORMAT), indent=2))
    return path


def _check_port_free(host: str, port: int) -> None:
    """Fail before migrating and starting workers when something already answers on the port.

    A connect, not a trial bind: with SO_REUSEADDR a bind can succeed next to a live listener,
    and without it a port in TIME_WAIT from our own last run would look taken.
    """
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    with contextlib.suppress(OSError), socket.create_connection((probe, port), timeout=1.0):
        raise CommandError(f"Port {port} on {probe} is already in use (another serve?).")


def _wait_for_port(host: str, port: int, children: dict, stopped, timeout: float = 60.0) -> None:
    """Block until the web child accepts connections (or died, or we were asked to stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and children["web"].poll() is None and not stopped():
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.2)


def _stop_all(children: dict, out) -> None:
    """SIGTERM web first (no new work), then beat and worker; SIGKILL what outlives the grace.

    SIGTERM goes to each child's main process only: Celery's and gunicorn's masters stop their
    own pool processes gracefully; signalling the whole group would kill those mid-task. The
    group is swept with SIGKILL at the end so no grandchild is ever left behind.
    """
    running = {n: p for n, p in children.items() if p.poll() is None}
    if running:
        out.write("Stopping " + ", ".join(running) + " …")
    for process in running.values():
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in running.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in children.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
