"""Where runtime files go (no Django import: ``manage.py`` helpers and settings share it)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def in_source_checkout() -> bool:
    """True when cc_rules runs from a clone (manage.py beside it), not from an installed wheel."""
    return (PACKAGE_ROOT / "manage.py").is_file() and (PACKAGE_ROOT / "pyproject.toml").is_file()


def var_dir() -> Path:
    """``CC_VAR_DIR`` when set; else ``var/`` of the checkout; else ``./var`` of the working
    directory (an installed wheel: never inside site-packages)."""
    configured = os.environ.get("CC_VAR_DIR", "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    if in_source_checkout():
        return PACKAGE_ROOT / "var"
    return Path.cwd().resolve() / "var"
