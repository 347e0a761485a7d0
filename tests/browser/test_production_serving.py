"""Issue 14, item 2: `DEBUG=off serve` serves its own static files, and the API docs work offline.

Starts the README's single-machine production line (``DEBUG=off manage.py serve``: gunicorn
with cc_rules/gunicorn_conf.py, a Celery worker and beat, an embedded Redis of its own) on a
free port, with its own SQLite database (the demo's users and a week of their history) and var/
directory, and drives it with Debian's Chromium (tests/browser/harness.py). Every request to
anything but the server is aborted, so a page that needed a CDN would show it. Needs no
PostgreSQL: the server under test has a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import chromium, need_chromium, shot, submit_login

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = secrets.token_urlsafe(12)

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO_", "CELERY_", "GUNICORN"))
        and k not in ("DATABASE_URL", "REDIS_URL", "CC_THROTTLE_REDIS_URL", "WEB_CONCURRENCY")
    }
    env.update(
        DEBUG="off",
        SECRET_KEY=secrets.token_urlsafe(50),
        CC_HISTORY_KEY=secrets.token_urlsafe(48),  # required with DEBUG off (docs/audit.md)
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="off",  # plain HTTP on the loopback, no TLS proxy in front
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        CC_VAR_DIR=str(tmp_path / "var"),
        WEB_CONCURRENCY="1",
        CC_NO_BOOTSTRAP="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=300,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture
def production_server(tmp_path):
    """`DEBUG=off manage.py serve` on a free port, with the demo's users and a week of history;
    its URL and log."""
    need_chromium()
    env = _env(tmp_path)
    _manage(env, "migrate", "--verbosity", "0")
    # The demo's people and a week of their history (test_dashboard.demo_week), so the
    # dashboard has charts to draw; seeded with DEBUG on, as seed_demo requires.
    seeding = {**env, "DEBUG": "on", "DEMO_PASSWORD": PASSWORD}
    _manage(seeding, "seed_demo", "--quiet")
    _manage(
        seeding,
        "shell",
        "-c",
        "from django.utils import timezone\n"
        "from tests.browser.test_dashboard import demo_week\n"
        "demo_week(timezone.now())",
    )
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "cc-rules is up at" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not come up:\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield f"http://localhost:{port}", log
    finally:
        process.send_signal(signal.SIGTERM)  # serve stops web, worker, beat and its Redis
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_debug_off_serve_styles_the_admin_draws_charts_and_documents_the_api_offline(
    production_server, monkeypatch
):
    base, log = production_server
    assert "gunicorn" in log.read_text()
    outside: list[str] = []
    static: dict[str, int] = {}

    def only_this_server(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def record_static(response):
        if "/static/" in response.url:
            static[response.url.removeprefix(base)] = response.status

    with chromium(monkeypatch) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", only_this_server)
        page.on("response", record_static)

        page.goto(f"{base}/admin/login/")
        # The admin's CSS defines its colour variables and styles the header: unstyled, the
        # variable is empty and the header transparent.
        assert page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()"
        )
        header = page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor")
        assert header not in ("", "transparent", "rgba(0, 0, 0, 0)")
        submit_login(page, "admin", PASSWORD)
        page.wait_for_url(f"{base}/admin/")
        assert page.locator("#user-tools").count() == 1
        shot(page, "production-admin", full_page=False)

        # The dashboard's script and Chart.js load and draw its four charts.
        page.goto(f"{base}/admin/dashboard/")
        page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length >= 4")
        assert page.locator("canvas[data-chart-index]").count() == 4
        shot(page, "production-dashboard")

        # WhiteNoise served the collected files under their hashed (cacheable) names.
        charts = [url for url in static if "chartjs/chart.umd." in url]
        assert charts, static
        assert all(static[url] == 200 for url in charts)
        assert charts[0] != "/static/cc_admin/vendor/chartjs/chart.umd.js"  # a hashed name
        assert any(url.startswith("/static/admin/css/base.") for url in static), static
        assert all(status == 200 for status in static.values()), static

        page.goto(f"{base}/api/docs/")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        assert page.locator(".swagger-ui .opblock").count() > 10
        shot(page, "production-api-docs", full_page=False)

        page.goto(f"{base}/api/redoc/")
        page.wait_for_selector("[data-section-id]", state="attached", timeout=30_000)
    # Nothing came from a CDN or anywhere else, but Redoc's "by Redocly" footer image, which
    # hides itself when it cannot load.
    assert [url for url in outside if not url.endswith("cdn.redoc.ly/redoc/logo-mini.svg")] == []
