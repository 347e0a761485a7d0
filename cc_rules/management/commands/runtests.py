"""`python3 manage.py runtests [--no-skips] [pytest args…]`: the README's one test command.

Runs pytest over tests/ in a child process, so the settings it reads see the environment we
prepare here (this process imported settings before any of it existed):
- ``REDIS_URL`` unset: a private embedded Redis for this run (cc_rules/embedded_redis.py), so a
  test run never shares a broker with a running ``serve``; ``REDIS_URL`` and
  ``CELERY_BROKER_URL`` are exported to pytest and everything it starts (Celery workers). With
  ``-n N`` each xdist worker starts one of its own instead (cc_rules/pytest_plugin.py).
- ``DATABASE_URL`` unset: SQLite (the settings default); tests that need PostgreSQL skip, each
  with a reason saying so. CI points ``DATABASE_URL`` at PostgreSQL and passes ``--no-skips``.
- ``--no-skips`` (or ``CC_FAIL_ON_SKIP=1``): a skipped test fails the run; the hook lives at the
  end of tests/conftest.py so plain ``pytest`` honours the variable too.

Every other argument goes to pytest untouched (``-k``, ``-x``, ``-v``, ``-n 4``, paths): Django's
option parser would otherwise claim ``-v`` as its verbosity and reject ``-x``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cc_rules.embedded_redis import (
    EmbeddedRedisError,
    die_with_parent,
    ensure_redis,
    release_redis,
)
from cc_rules.pytest_plugin import PER_WORKER

OWN_FLAG = "--no-skips"


class Command(BaseCommand):
    help = (
        "Run the tests with pytest (all arguments except --no-skips go to pytest; "
        "`runtests -- --help` shows pytest's options). Starts an embedded Redis when "
        "REDIS_URL is unset; uses SQLite when DATABASE_URL is unset."
    )
    requires_system_checks = []  # pytest-django sets Django up itself in the child

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            OWN_FLAG, action="store_true", help="fail the run if any test was skipped"
        )
        parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest")

    def run_from_argv(self, argv: list[str]) -> None:
        """Take our one flag out of argv and hand the rest to pytest as written."""
        args = argv[2:]
        if args[:1] in (["-h"], ["--help"]):
            self.print_help(argv[0], argv[1])
            return
        if args[:1] == ["--"]:
            args = args[1:]
        no_skips = OWN_FLAG in args
        args = [arg for arg in args if arg != OWN_FLAG]
        try:
            code = run_pytest(args, no_skips=no_skips, out=self.stdout)
        except EmbeddedRedisError as exc:
            self.stderr.write(f"CommandError: {exc}")
            code = 1
        sys.exit(code)

    def handle(self, *args: Any, pytest_args: list[str], no_skips: bool, **options: Any) -> None:
        """For ``call_command("runtests", ...)``; the command line goes through run_from_argv."""
        try:
            code = run_pytest(list(pytest_args), no_skips=no_skips, out=self.stdout)
        except EmbeddedRedisError as exc:
            raise CommandError(str(exc)) from exc
        if code:
            raise CommandError(f"pytest exited with code {code}.", returncode=code)


def run_pytest(args: list[str], *, no_skips: bool, out) -> int:
    """Run pytest in a child with the prepared environment; return its exit code."""
    previous = signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")
        env["PYTHONUNBUFFERED"] = "1"
        embedded = not env.get("REDIS_URL")
        if embedded:
            env["REDIS_URL"] = ensure_redis(private=True)
            # With `-n N`, each xdist worker starts its own (cc_rules/pytest_plugin.py).
            env[PER_WORKER] = "1"
        env["CELERY_BROKER_URL"] = os.environ.get("CELERY_BROKER_URL") or env["REDIS_URL"]
        if no_skips:
            env["CC_FAIL_ON_SKIP"] = "1"
        db = settings.DATABASES["default"]
        engine = db["ENGINE"].rsplit(".", 1)[-1]
        where = "SQLite (DATABASE_URL unset)" if engine == "sqlite3" else engine
        out.write(
            f"Tests on {where}; Redis {env['REDIS_URL']}"
            + (" (embedded for this run)" if embedded else "")
            + ("; skips fail the run" if env.get("CC_FAIL_ON_SKIP") == "1" else "")
        )
        out.flush()
        plugin = ["-p", "cc_rules.pytest_plugin"] if embedded else []
        command = [sys.executable, "-m", "pytest", *plugin, *args]
        process = subprocess.Popen(command, cwd=_cwd(), env=env, preexec_fn=die_with_parent)
        return _wait(process)
    finally:
        signal.signal(signal.SIGTERM, previous)
        release_redis()


def _wait(process: subprocess.Popen) -> int:
    """Wait for pytest; on Ctrl-C let it report and exit itself, on SIGTERM pass that on."""
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # pytest got the same SIGINT (same process group) and is winding down
        except SystemExit:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            process.wait()
            raise


def _cwd() -> Path:
    """Inside the project keep the caller's directory (pytest's usual rules), else the root.

    Run from elsewhere (``python3 /path/to/manage.py runtests``), pytest would not find the
    project's configuration and ``testpaths``.
    """
    here, root = Path.cwd().resolve(), Path(settings.BASE_DIR).resolve()
    return here if here == root or root in here.parents else root


def _raise_system_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
