"""Issue 16, item 5: the audit finds the row, and the CSV exports exactly the rows the page shows.

One filterset (``cc_rules.filtersets``) serves the history dashboard, the API list, its CSV and
the export job; these tests read each of them as a person gets it (the page's HTML, all of its
pages; the CSV file; the API's JSON pages) and compare. Scoping: a supervisor gets their teams'
rows only, everywhere. Runs on PostgreSQL and SQLite.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cc_rules.models import AuditJob, StatusChange
from cc_rules.services import audit_jobs

from .audit_world import (
    API,
    EXPORT_JOBS,
    HISTORY,
    api_keys,
    build,
    csv_keys,
    csv_rows,
    expected,
    follow,
    in_window,
    parse_page,
    walk_pages,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path, settings):
    settings.CC_AUDIT_EXPORT_DIR = tmp_path / "exports"
    return build()


def logged_in(client, user):
    client.force_login(user)
    return client


def everywhere(client, params: dict):
    """(page rows over all its pages, the page's CSV link's rows, API rows, the first page)."""
    page, first = walk_pages(client, params)
    link = first.link("CSV: all")
    assert link is not None, "the page has no CSV link"
    rows = csv_keys(csv_rows(follow(client, link[0])))
    return page, rows, api_keys(client, params), first, link


# --- the reported bug: From = To = today -------------------------------------------------------
def test_from_equals_to_today_the_csv_has_every_row_the_page_shows(world, client):
    """16 rows on the page and a header-only file was the bug; here 200+ rows over 3 pages."""
    today = world.day.isoformat()
    page, rows, api, first, (href, text) = everywhere(
        logged_in(client, world.cora), {"since": today, "until": today}
    )
    want = expected(in_window(world.midnight, world.midnight + timedelta(days=1)))
    assert len(want) > 200  # more than two pages of 100
    assert len(page) == len(set(page)) == len(want)  # no row twice across pages
    assert set(page) == want
    assert sorted(rows) == sorted(page)  # the CSV: the same rows, all of them
    assert sorted(api) == sorted(page)
    assert text == f"CSV: all {len(want)} matching rows"
    assert f"{len(want)} rows match, shown 100 at a time, newest first." in " ".join(
        first.html.split()
    )
    # The edges: today's first and last rows are in, yesterday's last and tomorrow's first not.
    assert ("alice", 2) in page
    assert ("alice", 1) not in page
    bob_last = StatusChange.objects.filter(agent=world.bob).order_by("-seq")[0]
    assert ("bob", bob_last.seq - 1) in page
    assert ("bob", bob_last.seq) not in page
    # The link carries the page's filters, each spelled once as a UTC instant; no position.
    assert "before=" not in href
    assert f"since={today}T00%3A00%3A00Z" in href
    assert f"until={(world.day + timedelta(days=1)).isoformat()}T00%3A00%3A00Z" in href


def test_a_time_window_finds_the_change_at_2256_and_exports_it(world, client):
    """Compliance: who changed alice's status at 22:56, and why. Inputs as the page's
    datetime-local fields send them (minutes only)."""
    day = world.day.isoformat()
    params = {"since": f"{day}T22:50", "until": f"{day}T23:00"}
    page, rows, api, first, _ = everywhere(logged_in(client, world.cora), params)
    start = world.midnight + timedelta(hours=22, minutes=50)
    assert set(page) == expected(in_window(start, start + timedelta(minutes=10)))
    assert len(page) == 3  # 22:50:00, 22:56:12, 22:59:59.5; not 22:49:59, not 23:00:00
    assert sorted(rows) == sorted(page) == sorted(api)
    cells = {(r[1], r[0]): r for r in first.rows}
    row = cells[("alice", f"{day} 22:56:12")]
    assert row[5:9] == ["break", "Supervisor", "R2", "sam"]  # reason, cause, rule, by
    # The inputs show the window back, to the second, in UTC.
    html = first.html
    assert f'name="since" value="{day}T22:50:00"' in html
    assert f'name="until" value="{day}T23:00:00"' in html


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"actor": "sam"}, lambda r: r.actor_name == "sam"),
        ({"actor": "system"}, lambda r: r.actor_id is None),
        ({"actor": "nobody-here"}, lambda r: False),
        ({"cause": "supervisor"}, lambda r: r.cause == "supervisor"),
        ({"cause": "wrap_up_timer", "agent": "nina"}, lambda r: r.cause == "wrap_up_timer"
         and r.agent.user.username == "nina"),
        ({"reason": "lunch"}, lambda r: r.reason == "lunch"),
        ({"reason": "login"}, lambda r: r.reason == "login"),
        ({"event": "dnd"}, lambda r: r.event == "dnd"),
        ({"status": "ready", "channel": "voice"}, lambda r: r.to_status == "ready"),
        ({"actor": "bob", "reason": "break"}, lambda r: r.actor_name == "bob"
         and r.reason == "break"),
    ],
)  # fmt: skip
def test_actor_cause_and_reason_filters_agree_on_page_csv_and_api(world, client, params, keep):
    today = world.day.isoformat()
    params = {**params, "since": today, "until": today}
    page, rows, api, _, _ = everywhere(logged_in(client, world.cora), params)
    day = in_window(world.midnight, world.midnight + timedelta(days=1))
    want = {(r.agent.user.username, r.seq) for r in day.select_related("agent__user") if keep(r)}
    assert set(page) == want
    assert sorted(rows) == sorted(page) == sorted(api)
    if params.get("actor") not in (None, "nobody-here"):
        assert want


def test_the_export_job_exports_the_pages_rows(world, client):
    """The job gets the filters the page's CSV link carries and writes the same bytes."""
    client = logged_in(client, world.cora)
    first = parse_page(client.get(HISTORY, {"actor": "sam", "since": world.day.isoformat()}))
    href = first.link("CSV: all")[0]
    sync = follow(client, href)
    filters = {k: v for k, v in sync.wsgi_request.GET.items() if k != "format"}
    started = client.post(EXPORT_JOBS, filters, content_type="application/json")
    assert started.status_code == 202, started.content
    assert audit_jobs.run(started.json()["id"]) == "done"
    done = client.get(started.json()["url"]).json()
    file = client.get(done["download_url"])
    assert file.status_code == 200, file.content
    body = b"".join(file.streaming_content)
    assert body == b"".join(sync.streaming_content)
    assert body.count(b"\n") - 1 == len(expected(StatusChange.objects.filter(actor_name="sam")))


# --- invalid values: a form error on the page, a 400 from the API -------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel", "fax"),
        ("cause", "whim"),
        ("status", "bogus"),
        ("since", "yesterday"),
        ("until", "2026-13-45T10:00"),
        ("until", "0001-01-01"),
        ("reason", "x" * 33),
        ("actor", "y" * 151),
    ],
)
def test_an_invalid_filter_is_a_form_error_on_the_page_and_a_400_from_the_api(
    world, client, field, value
):
    client = logged_in(client, world.cora)
    page = parse_page(client.get(HISTORY, {field: value, "agent": "alice"}))
    assert page.errors, "no error shown"
    assert page.errors[0].startswith(f"{field}:"), page.errors
    assert page.rows == []
    assert page.link("CSV") is None  # no link to a file that would be a 400
    api = client.get(API, {field: value})
    assert api.status_code == 400
    assert api.json()["code"] == "invalid"
    assert field in api.json()["fields"]
    csv_api = client.get(API, {field: value, "format": "csv"})
    assert csv_api.status_code == 400
    job = client.post(EXPORT_JOBS, {field: value}, content_type="application/json")
    assert job.status_code == 400
    assert field in job.json()["fields"]


# --- what `until` means in the API ---------------------------------------------------------------
def test_a_date_alone_in_until_is_through_the_end_of_that_day_a_datetime_is_exclusive(
    world, client
):
    client = logged_in(client, world.cora)
    day, next_day = world.day.isoformat(), (world.day + timedelta(days=1)).isoformat()
    whole_day = api_keys(client, {"since": day, "until": day})
    assert whole_day == api_keys(client, {"since": day, "until": f"{next_day}T00:00:00Z"})
    assert set(whole_day) == expected(in_window(world.midnight, world.midnight + timedelta(days=1)))
    # A datetime is "before this moment", as before: midnight itself is not included.
    assert api_keys(client, {"until": f"{day}T00:00:00Z"}) == [("alice", 1)]
    assert api_keys(client, {"until": f"{day}T00:00:00.000001Z"}) == [("alice", 1), ("alice", 2)]


# --- scoping: a supervisor reads their teams' rows only ------------------------------------------
def test_a_supervisor_gets_only_their_teams_rows_on_the_page_the_api_the_csv_and_a_job(
    world, client
):
    client = logged_in(client, world.sam)
    today = world.day.isoformat()
    page, rows, api, first, _ = everywhere(client, {"since": today, "until": today})
    front = StatusChange.objects.filter(agent__in=[world.alice, world.bob])
    want = expected(front.filter(at__gte=world.midnight, at__lt=world.midnight + timedelta(1)))
    assert set(page) == want
    assert sorted(rows) == sorted(page) == sorted(api)
    assert {agent for agent, _ in page} == {"alice", "bob"}
    assert "nina" not in first.html  # not in the agent list, the actor list or a row
    # Naming another team's agent finds nothing (and says nothing about them).
    assert api_keys(client, {"agent": "nina"}) == []
    assert parse_page(client.get(HISTORY, {"agent": "nina"})).rows == []
    # The export job runs later, in a worker: scoped as its requester.
    started = client.post(EXPORT_JOBS, {"since": today}, content_type="application/json")
    assert audit_jobs.run(started.json()["id"]) == "done"
    job = AuditJob.objects.get(pk=started.json()["id"])
    assert job.result["rows"] == len(expected(front.filter(at__gte=world.midnight)))


def test_a_job_whose_requester_may_no_longer_read_the_audit_fails(world, client):
    client = logged_in(client, world.sam)
    started = client.post(EXPORT_JOBS, {}, content_type="application/json")
    world.sam.groups.clear()  # no longer a supervisor when the worker runs it
    assert audit_jobs.run(started.json()["id"]) == "failed"
    job = AuditJob.objects.get(pk=started.json()["id"])
    assert "may no longer read the audit" in job.error
    assert not job.file_name


def test_compliance_and_superusers_get_every_teams_rows(world, client):
    for user in (world.cora, world.root):
        keys = api_keys(logged_in(client, user), {"since": world.day.isoformat()})
        assert {agent for agent, _ in keys} == {"alice", "bob", "nina"}
