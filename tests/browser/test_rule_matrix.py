"""Issue 16, item 3: the rule matrix pages fit 1366 px wide, in a real browser.

Debian's ``chromium`` through Playwright's ``executable_path`` (no browser download), as in
``test_dashboard.py``; screenshots land in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cc_rules.models import Agent, Role

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.mark.browser
def test_the_rule_matrix_pages_fit_1366_px_without_horizontal_scroll(
    live_server, demo_world, monkeypatch
):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    pages = {
        "role": f"/admin/cc_rules/role/{Role.objects.get(name='blended').pk}/change/",
        "agent": f"/admin/cc_rules/agent/{Agent.objects.get(user__username='alice').pk}/change/",
        "global": "/admin/cc_rules/rule/global/",
    }
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", os.environ.get("DEMO_PASSWORD", "demo"))
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        for name, url in pages.items():
            response = page.goto(f"{live_server.url}{url}")
            assert response.status == 200, name
            assert page.locator("#cc-rule-matrix select").count() > 20, name
            page.screenshot(path=str(ARTIFACTS / f"rule-matrix-{name}.png"), full_page=True)
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], (name, widths)
            unlabelled = page.evaluate(
                "() => [...document.querySelectorAll("
                "'#cc-rule-matrix input:not([type=hidden]), #cc-rule-matrix select')]"
                ".filter(e => !e.getAttribute('aria-label') && !(e.labels && e.labels.length))"
                ".map(e => e.name)"
            )
            assert unlabelled == [], (name, unlabelled)
        browser.close()
