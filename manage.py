#!/usr/bin/env python3
"""Django's command-line utility, which also sets itself up on a fresh machine.

Run with any Python 3.11+: when not already inside the project's virtual environment
(``.venv``), it creates it, installs the project with its ``dev`` extras (again only when
``pyproject.toml`` changed), and re-runs itself there. So ``python3 manage.py serve`` and
``python3 manage.py runtests`` are the only two commands a fresh machine needs (README.md).
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("CC_VENV", ROOT / ".venv"))


def _venv_python() -> Path:
    return VENV / "bin" / "python"


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
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print("Installing cc-rules and its dependencies …", file=sys.stderr)
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        subprocess.check_call(
            [str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]"], cwd=ROOT
        )
        stamp.write_text(digest)
    os.execv(str(python), [str(python), *sys.argv])


def main() -> None:
    _bootstrap()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
