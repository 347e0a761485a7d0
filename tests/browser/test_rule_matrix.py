"""Issue 16, item 3: the rule matrix pages fit 1366 px wide, in a real browser.

Debian's ``chromium`` through Playwright's ``executable_path`` (no browser download), as in
``test_dashboard.py``; screenshots land in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cc_rules.models import Agent, Role, Rule

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
            page.locator("#cc-rule-matrix .cc-m-table").screenshot(
                path=str(ARTIFACTS / f"rule-matrix-{name}-table.png")
            )
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
        # errors next to cells must not widen the table past the window either
        page.goto(f"{live_server.url}{pages['role']}")
        page.get_by_label("Voice: after-call work").select_option(label="until done")
        page.get_by_label("Voice: status after done").select_option(label="manual")
        page.get_by_label("Chat: cap: choice").select_option(label="at most")
        page.get_by_label("Chat: cap: number").fill("-1")
        page.locator("input[name=_save]").click()
        page.wait_for_load_state()
        assert page.locator("#cc-rule-matrix ul.errorlist").count() >= 2
        page.screenshot(path=str(ARTIFACTS / "rule-matrix-role-errors.png"), full_page=True)
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], ("role with errors", widths)
        browser.close()


@pytest.mark.browser
def test_a_role_gets_chat_with_a_cap_of_2_by_clicking(live_server, demo_world, monkeypatch):
    """The page's script: choosing "at most" shows the number; a release event shared by
    several channels is ticked on all of them; the save writes the rows."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    role = Role.objects.get(name="email_specialist")
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
        page.goto(f"{live_server.url}/admin/cc_rules/role/{role.pk}/change/")
        number = page.get_by_label("Chat: cap: number")
        assert number.is_hidden()
        page.get_by_label("Chat: visible").check()
        page.get_by_label("Chat: cap: choice").select_option(label="at most")
        assert number.is_visible()
        number.fill("2")
        release = page.get_by_label("Release events: inherit or as ticked")
        assert release.input_value() == "inherit"
        page.get_by_label("Facebook: chat ended releases a pending status").uncheck()
        assert release.input_value() == "set"
        assert not page.get_by_label("Twitter: chat ended releases a pending status").is_checked()
        page.screenshot(path=str(ARTIFACTS / "rule-matrix-role-edited.png"), full_page=True)
        page.locator("input[name=_save]").click()
        page.wait_for_url(f"{live_server.url}/admin/cc_rules/role/")
        assert "Chat: cap (inherit → 2)" in page.locator(".messagelist").inner_text()
        browser.close()
    role.refresh_from_db()
    assert "chat" in set(role.visible_channels.values_list("code", flat=True))
    assert Rule.objects.get(role=role, key="channel_cap", channel_id="chat").value == 2
    assert Rule.objects.get(role=role, key="pending_release_on").value == [
        "hangup",
        "sent",
        "workbin",
    ]
