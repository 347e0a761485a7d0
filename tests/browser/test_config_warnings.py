"""Issue 16, item 4: the "Check configuration" page in a real browser, at 1366 x 768.

Debian's ``chromium`` through Playwright's ``executable_path`` (no browser download), as in
test_dashboard.py; the screenshot lands in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import PASSWORD, RuleFactory, a_compliance_officer, a_role, an_agent

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PAGE = "/admin/check-configuration/"


@pytest.mark.browser
def test_the_check_configuration_page_fits_1366_px(live_server, monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    RuleFactory(key="acw_seconds", channel_id="cobrowse", value=30)
    role = a_role(
        "a_role_with_a_rather_long_name_for_the_layout",
        visible=["email"],
        rules={
            "channel_cap": {"chat": 2},
            "pending_enabled": True,
            "pending_release_on": ["hangup"],
            "blocking_pairs": [["voice", "chat"], ["email", "twitter"]],
        },
    )
    an_agent("alexandra_with_a_long_username", role=role, rules={"acw_seconds": {"email": 30}})
    a_compliance_officer("cora_test")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{live_server.url}/admin/login/?next={PAGE}")
        page.fill("#id_username", "cora_test")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}{PAGE}")

        assert page.locator("tr.cc-warning").count() == 6
        assert page.locator("tr.cc-warning", has_text="Fix:").count() == 0  # fix in its column
        wide = page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        page.screenshot(path=str(ARTIFACTS / "check-configuration.png"), full_page=True)
        browser.close()
    assert not wide, "the page scrolls sideways at 1366 px"
