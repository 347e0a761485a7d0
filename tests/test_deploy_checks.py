"""Production settings pass Django's deployment checks (issue 7).

``manage.py check --deploy --fail-level WARNING`` runs in a subprocess with the environment a
deployment sets (``DEBUG=off``, ``SECRET_KEY``, ``ALLOWED_HOSTS``): any warning fails. The
settings it relies on are asserted one by one too, so a silenced check cannot hide a gap.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="cc_rules.settings",
        DEBUG="off",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="cc.example.com",
        CC_HISTORY_KEY=secrets.token_urlsafe(48),
    )
    env.update(overrides)
    return env


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**env, "CC_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env(), tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_would_catch_a_debug_deployment(tmp_path):
    """The check is meaningful: the same command fails for a DEBUG deployment."""
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production_env(DEBUG="on"),
        tmp_path,
    )
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": s.SESSION_COOKIE_HTTPONLY,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SECURE_CONTENT_TYPE_NOSNIFF": s.SECURE_CONTENT_TYPE_NOSNIFF,
    "X_FRAME_OPTIONS": s.X_FRAME_OPTIONS,
    "INSTALLED_APPS": list(s.INSTALLED_APPS),
    "MIDDLEWARE": list(s.MIDDLEWARE),
    "RENDERERS": s.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
}))
"""


def test_production_settings_are_hardened(tmp_path):
    result = _run(["-c", PRINT_SETTINGS], _production_env(), tmp_path)
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"]
    assert s["SESSION_COOKIE_HTTPONLY"]
    assert s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_SSL_REDIRECT"]
    assert s["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert s["X_FRAME_OPTIONS"] == "DENY"
    debug_tools = [app for app in s["INSTALLED_APPS"] + s["MIDDLEWARE"] if "debug_toolbar" in app]
    assert debug_tools == []
    # No browsable API (HTML forms, session-authenticated) in production: JSON only.
    assert s["RENDERERS"] == ["rest_framework.renderers.JSONRenderer"]


def test_a_deployment_without_a_secret_key_does_not_start(tmp_path):
    result = _run(["manage.py", "check"], _production_env(SECRET_KEY=""), tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_deployment_without_a_history_key_is_refused(tmp_path):
    """The ledger's HMAC key comes from the environment; with DEBUG off there is no default."""
    result = _run(["manage.py", "check"], _production_env(CC_HISTORY_KEY=""), tmp_path)
    assert result.returncode != 0
    assert "cc_rules.E001" in result.stderr + result.stdout
    assert "CC_HISTORY_KEY is not set" in result.stderr + result.stdout
    short = _run(["manage.py", "check"], _production_env(CC_HISTORY_KEY="short"), tmp_path)
    assert short.returncode != 0
    assert "cc_rules.E002" in short.stderr + short.stdout
