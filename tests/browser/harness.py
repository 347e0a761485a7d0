"""Shared pieces of the browser tests: Debian's Chromium through Playwright, logins as the demo
personas, screenshots under ``tests/artifacts/`` (git-ignored), the API as the same personas,
and the 1366 px "no horizontal scroll" check.

Never downloads a browser: ``/usr/bin/chromium`` (``apt-get install -y chromium``) or a skip.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAPTOP = {"width": 1366, "height": 768}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")


@contextlib.contextmanager
def chromium(monkeypatch) -> Iterator:
    """A headless Chromium; Playwright's sync API runs an event loop in this thread, so the
    ORM is told that is fine (the tests do their ORM work between page actions)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def password() -> str:
    return os.environ.get("DEMO_PASSWORD", "demo")


def login(browser, base_url: str, username: str, *, viewport: dict | None = None):
    """A new page logged into the admin as ``username``; requests leaving ``base_url`` are
    recorded on ``page.outside`` (nothing may load from the internet)."""
    context = browser.new_context(viewport=viewport or LAPTOP)
    page = context.new_page()
    page.outside = []
    page.on(
        "request",
        lambda r: page.outside.append(r.url) if not r.url.startswith(base_url) else None,
    )
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password())
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrollbar)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def api(base_url: str, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.base = f"{base_url}/api/v1"
    return session
