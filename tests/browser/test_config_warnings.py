"""Issue 16, item 4: the "Check configuration" page in a real browser, at 1366 x 768.

Debian's ``chromium`` through tests/browser/harness.py (no browser download); the screenshot
lands in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, RuleFactory, a_compliance_officer, a_role, an_agent

from .harness import chromium, horizontal_overflow, login, shot

PAGE = "/admin/check-configuration/"


@pytest.mark.browser
def test_the_check_configuration_page_fits_1366_px(live_server, monkeypatch):
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
    with chromium(monkeypatch) as browser:
        page = login(browser, live_server.url, "cora_test", password=PASSWORD, next=PAGE)
        assert page.locator("tr.cc-warning").count() == 6
        assert page.locator("tr.cc-warning", has_text="Fix:").count() == 0  # fix in its column
        wide = horizontal_overflow(page) > 0
        shot(page, "check-configuration")
    assert not wide, "the page scrolls sideways at 1366 px"
