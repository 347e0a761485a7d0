"""Issue 16, item 5, in Chromium at 1366x768 as a compliance officer: find who changed alice's
status at 22:56 and why with the history's time filters, download the CSV from the page's link
and find the page's rows in it; From = To = today exports every row of all the page's pages.
The admin's status list fits the width too. Debian's ``chromium`` through
tests/browser/harness.py; screenshots in tests/artifacts/.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest

from cc_rules.models import StatusChange
from tests.admin.audit_world import HISTORY, build
from tests.factories import PASSWORD

from .harness import chromium, horizontal_overflow, login, shot


def _page_keys(page) -> list[tuple[str, int]]:
    agents = page.locator(".cc-history tbody tr td:nth-child(2)").all_inner_texts()
    seqs = page.locator(".cc-history tbody tr td:last-child").all_inner_texts()
    return [(a.strip(), int(s)) for a, s in zip(agents, seqs, strict=True)]


def _download_csv(page) -> list[tuple[str, int]]:
    with page.expect_download() as info:
        page.locator("#cc-history-count a", has_text="CSV: all").click()
    text = Path(info.value.path()).read_text()
    return [(r["agent"], int(r["seq"])) for r in csv.DictReader(io.StringIO(text))]


@pytest.mark.browser
def test_compliance_finds_the_2256_change_and_exports_what_the_page_shows(
    live_server, transactional_db, monkeypatch
):
    world = build()
    day = world.day.isoformat()
    today = StatusChange.objects.filter(
        at__gte=world.midnight, at__lt=world.midnight + timedelta(days=1)
    )
    whole_day = {(r.agent.user.username, r.seq) for r in today.select_related("agent__user")}
    base = live_server.url

    with chromium(monkeypatch) as browser:
        page = login(browser, base, "cora", password=PASSWORD, next=HISTORY)
        assert horizontal_overflow(page) <= 0

        # Who changed alice's status at 22:56, and why?
        page.select_option("select[name=agent]", "alice")
        page.fill("input[name=since]", f"{day}T22:50:00")
        page.fill("input[name=until]", f"{day}T23:00:00")
        page.click(".cc-filters button[type=submit]")
        page.wait_for_url("**agent=alice**")
        row = page.locator(".cc-history tbody tr", has_text="22:56:12")
        assert row.count() == 1
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        assert cells[5:9] == ["break", "Supervisor", "R2", "sam"]
        assert horizontal_overflow(page) <= 0
        shot(page, "audit-history-2256")
        shown = _page_keys(page)
        assert len(shown) == 2  # alice at 22:50:00 and 22:56:12
        assert sorted(_download_csv(page)) == sorted(shown)

        # From = To = today: every page's rows, and the CSV has them all.
        page.goto(f"{base}{HISTORY}?since={day}&until={day}")
        assert (
            page.locator("#cc-history-count")
            .inner_text()
            .startswith(f"{len(whole_day)} rows match")
        )
        csv_rows = _download_csv(page)
        shown = _page_keys(page)
        while page.locator("a", has_text="Older").count():
            page.locator("a", has_text="Older").click()
            page.wait_for_load_state()
            shown += _page_keys(page)
        assert len(shown) == len(set(shown)) == len(whole_day)
        assert set(shown) == whole_day
        assert sorted(csv_rows) == sorted(shown)

        # The admin's status list: seconds, actor links, and no sideways scroll at 1366 px.
        page.goto(f"{base}/admin/cc_rules/statuschange/?q=break")
        assert horizontal_overflow(page) <= 0
        results = page.locator(".results")  # the admin scrolls a too-wide table inside this
        assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), results.evaluate(
            "e => [e.scrollWidth, e.clientWidth]"
        )
        shot(page, "audit-admin-statuschange", full_page=False)
        page.locator("#result_list tbody tr a", has_text="sam").first.click()
        page.wait_for_url("**actor=sam**")
        assert page.locator("#result_list tbody tr").count() > 0
