"""Issue 16, item 3: the rule matrix pages fit 1366 px wide, in a real browser.

Debian's ``chromium`` through tests/browser/harness.py (no browser download); screenshots land
in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import pytest

from cc_rules.models import Agent, Role, Rule

from .harness import chromium, horizontal_overflow, login, shot


@pytest.mark.browser
def test_the_rule_matrix_pages_fit_1366_px_without_horizontal_scroll(
    live_server, demo_world, monkeypatch
):
    pages = {
        "role": f"/admin/cc_rules/role/{Role.objects.get(name='blended').pk}/change/",
        "agent": f"/admin/cc_rules/agent/{Agent.objects.get(user__username='alice').pk}/change/",
        "global": "/admin/cc_rules/rule/global/",
    }
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "admin")
        for name, url in pages.items():
            response = page.goto(f"{live_server.url}{url}")
            assert response.status == 200, name
            assert page.locator("#cc-rule-matrix select").count() > 20, name
            shot(page, f"rule-matrix-{name}")
            shot(page.locator("#cc-rule-matrix .cc-m-table"), f"rule-matrix-{name}-table", False)
            assert horizontal_overflow(page) <= 0, name
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
        shot(page, "rule-matrix-role-errors")
        assert horizontal_overflow(page) <= 0, "role with errors"


@pytest.mark.browser
def test_a_role_gets_chat_with_a_cap_of_2_by_clicking(live_server, demo_world, monkeypatch):
    """The page's script: choosing "at most" shows the number; a release event shared by
    several channels is ticked on all of them; the save writes the rows."""
    role = Role.objects.get(name="email_specialist")
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "admin")
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
        shot(page, "rule-matrix-role-edited")
        page.locator("input[name=_save]").click()
        page.wait_for_url(f"{live_server.url}/admin/cc_rules/role/")
        assert "Chat: cap (inherit → 2)" in page.locator(".messagelist").inner_text()
    role.refresh_from_db()
    assert "chat" in set(role.visible_channels.values_list("code", flat=True))
    assert Rule.objects.get(role=role, key="channel_cap", channel_id="chat").value == 2
    assert Rule.objects.get(role=role, key="pending_release_on").value == [
        "hangup",
        "sent",
        "workbin",
    ]
