"""Issue 14, item 2: gunicorn's settings file and database connections per server.

gunicorn resolves its configuration from cc_rules/gunicorn_conf.py (``--print-config``, the
same parsing a real start does); settings.py keeps no persistent database connection under
runserver. Both in subprocesses: the settings read the environment and argv at import.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "GUNICORN", "WEB_CONCURRENCY", "CONN_MAX_AGE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="cc_rules.settings",
        CC_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY=secrets.token_urlsafe(50),
        **extra,
    )
    return env


def _gunicorn_config(tmp_path: Path, **extra: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "python:cc_rules.gunicorn_conf",
         "--print-config", "cc_rules.wsgi"],
        cwd=ROOT, env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_gunicorn_reads_its_settings_from_the_config_file(tmp_path):
    config = _gunicorn_config(tmp_path)
    assert config["workers"] == str(2 * (os.cpu_count() or 1) + 1)
    assert config["timeout"] == "30"
    assert config["graceful_timeout"] == "30"
    assert config["max_requests"] == "1000"
    assert config["max_requests_jitter"] == "100"


def test_the_environment_tunes_gunicorn(tmp_path):
    config = _gunicorn_config(
        tmp_path,
        WEB_CONCURRENCY="3",
        GUNICORN_TIMEOUT="45",
        GUNICORN_GRACEFUL_TIMEOUT="20",
        GUNICORN_MAX_REQUESTS="500",
        GUNICORN_MAX_REQUESTS_JITTER="50",
    )
    assert config["workers"] == "3"
    assert config["timeout"] == "45"
    assert config["graceful_timeout"] == "20"
    assert config["max_requests"] == "500"
    assert config["max_requests_jitter"] == "50"


CONN_MAX_AGE = """
import json, sys
sys.argv = [sys.argv[0], *{argv!r}]
from django.conf import settings
print(json.dumps(settings.DATABASES["default"]["CONN_MAX_AGE"]))
"""


def _conn_max_age(tmp_path: Path, argv: list[str], **extra: str) -> int:
    env = _env(tmp_path, DATABASE_URL="postgres://u@127.0.0.1:1/never_connected", **extra)
    done = subprocess.run(
        [sys.executable, "-c", CONN_MAX_AGE.format(argv=argv)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_persistent_connections_only_outside_runserver(tmp_path):
    assert _conn_max_age(tmp_path, ["runserver", "--noreload"]) == 0
    assert _conn_max_age(tmp_path, ["runserver"], CONN_MAX_AGE="60") == 0
    assert _conn_max_age(tmp_path, ["cc_rules.wsgi"]) == 60  # gunicorn, Celery, commands
    assert _conn_max_age(tmp_path, [], CONN_MAX_AGE="120") == 120
