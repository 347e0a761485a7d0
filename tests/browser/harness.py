"""Shared pieces of the browser tests: Debian's Chromium through Playwright, admin logins (the
demo personas' password unless told another), screenshots under ``tests/artifacts/``
(git-ignored), the API as the same personas, and the 1366 px "no horizontal scroll" check.

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
    """Skips the test (the same reason everywhere) where Debian's chromium is not installed."""
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


def demo_password() -> str:
    """The demo personas' password (``seed_demo``'s ``DEMO_PASSWORD``)."""
    return os.environ.get("DEMO_PASSWORD", "demo")


def login(
    browser,
    base_url: str,
    username: str,
    *,
    password: str | None = None,
    next: str = "/admin/",
    viewport: dict | None = None,
):
    """A new page, in a context of its own (1366 x 768 unless ``viewport`` says otherwise),
    logged into the admin as ``username`` and landed on ``next``. ``password`` defaults to the
    demo's; tests with users of their own pass ``tests.factories.PASSWORD``. Requests leaving
    ``base_url`` are recorded on ``page.outside`` (nothing may load from the internet). The
    context accepts downloads (Playwright's default): ``page.expect_download()`` works."""
    context = browser.new_context(viewport=viewport or LAPTOP)
    page = context.new_page()
    page.outside = []
    page.on(
        "request",
        lambda r: page.outside.append(r.url) if not r.url.startswith(base_url) else None,
    )
    page.goto(f"{base_url}/admin/login/?next={next}")
    submit_login(page, username, password)
    page.wait_for_url(f"{base_url}{next}")
    return page


def submit_login(page, username: str, password: str | None = None) -> None:
    """Fills in and sends the admin's login form ``page`` already shows."""
    page.fill("#id_username", username)
    page.fill("#id_password", password or demo_password())
    page.click("input[type=submit]")


def shot(page, name: str, full_page: bool = True) -> None:
    """``tests/artifacts/<name>.png``: the whole page, or with ``full_page=False`` the window
    (or, given a locator, just that element)."""
    page.screenshot(
        path=str(ARTIFACTS / f"{name}.png"), **({"full_page": True} if full_page else {})
    )


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
