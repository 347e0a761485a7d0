"""Issue 6, item 4: the compliance dashboards, in a real browser and through the test client.

The browser test drives Debian's ``chromium`` package (``apt-get install -y chromium``) through
tests/browser/harness.py; no browser is ever downloaded. Screenshots land in
``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cc_rules.models import Agent, AgentChannelState, Interaction
from cc_rules.services.history import Ctx
from cc_rules.services.ledger import record

from .harness import chromium, login, shot

DASHBOARD = "/admin/dashboard/"


def _append(agent, at, event, channel, before, after, reason=None, cause="agent"):
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    record(
        agent,
        Ctx(actor=None, request_id="demo", now=at),
        event=event,
        channel=channel,
        from_status=before,
        to_status=after,
        reason=reason,
        cause=cause,
        rule="R2",
    )


@transaction.atomic
def demo_week(now: datetime) -> None:
    """A week of plausible shifts for four agents, and a live board with work open now."""
    agents = {a.user.username: a for a in Agent.objects.select_related("user")}
    day0 = now.date() - timedelta(days=6)
    for n, name in enumerate(["alice", "bob", "sam", "tom"]):
        agent = agents[name]
        channels = ["voice", "chat"] if name in ("alice", "sam") else ["voice"]
        for d in range(6):
            start = datetime.combine(
                day0 + timedelta(days=d), time(7 + n % 2, 30 * (d % 2)), tzinfo=UTC
            )
            for ch in channels:
                _append(agent, start, "status", ch, "logged_off", "not_ready", "login", "system")
                _append(agent, start + timedelta(minutes=5), "status", ch, "not_ready", "ready")
            t = start + timedelta(minutes=5)
            for call in range(6 + d % 3):
                accepted = t + timedelta(minutes=10)
                ended = accepted + timedelta(minutes=20 + 5 * ((call + n) % 4))
                Interaction.objects.create(
                    channel_id="voice",
                    agent=agent,
                    direction="inbound",
                    state="closed",
                    created_at=accepted,
                    accepted_at=accepted,
                    ended_at=ended,
                )
                _append(agent, ended, "status", "voice", "ready", "after_call_work")
                t = ended + timedelta(minutes=3 + (call % 3) * 2)
                _append(
                    agent, t, "status", "voice", "after_call_work", "ready", cause="wrap_up_timer"
                )
                if call == 2:
                    _append(agent, t, "status", "voice", "ready", "not_ready", "lunch")
                    if name == "sam":
                        _append(agent, t, "dnd", None, "off", "on")
                    t += timedelta(minutes=45)
                    _append(agent, t, "status", "voice", "not_ready", "ready")
                    if name == "sam":
                        _append(agent, t, "dnd", None, "on", "off")
            for ch in channels:
                before = "ready"
                _append(agent, t + timedelta(minutes=10), "status", ch, before, "logged_off")
    # live state now
    live = {
        "alice": [
            ("voice", "ready", None),
            ("chat", "ready", None),
            ("email", "not_ready", "break"),
        ],
        "bob": [("voice", "after_call_work", None)],
        "sam": [("voice", "not_ready", "coaching"), ("chat", "ready", None)],
        "tom": [("voice", "logged_off", None)],
    }
    for name, states in live.items():
        for channel, status, reason in states:
            AgentChannelState.objects.create(
                agent=agents[name],
                channel_id=channel,
                status=status,
                reason=reason,
                since=now - timedelta(minutes=7 + len(name)),
            )
    for channel in ("chat", "chat", "voice"):
        Interaction.objects.create(
            channel_id=channel,
            agent=agents["alice"],
            direction="inbound",
            state="active",
            created_at=now - timedelta(minutes=4),
            accepted_at=now - timedelta(minutes=4),
        )
    Agent.objects.filter(pk=agents["sam"].pk).update(dnd=True, dnd_since=now)


# --- access and content through the test client -------------------------------------------
PAGES = [DASHBOARD, DASHBOARD + "live/", DASHBOARD + "history/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize(
    ("username", "status"),
    [("cora", 200), ("sam", 200), ("admin", 200), ("alice", 302), (None, 302)],
)
def test_dashboards_are_for_compliance_supervisors_and_admins(
    demo_world, client, url, username, status
):
    if username:
        client.force_login(get_user_model().objects.get(username=username))
    response = client.get(url)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_staff_outside_the_audit_groups_get_403(demo_world, client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)
    for url in PAGES:
        assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_pages_show_the_data(demo_world, client):
    now = timezone.now()
    demo_week(now)
    client.force_login(get_user_model().objects.get(username="cora"))

    chart = client.get(DASHBOARD)
    data = chart.context["chart_data"]
    assert {c["agent"] for c in data["charts"]} == {"alice", "bob", "sam", "tom"}
    assert len(data["labels"]) == 7
    sam = next(c for c in data["charts"] if c["agent"] == "sam")
    assert any(h > 0.7 for h in sam["series"]["dnd"])  # 45 minutes of DND at lunch
    assert all(h > 0 for h in sam["series"]["handling"][:6])
    assert b"chart.umd.js" in chart.content

    one = client.get(DASHBOARD, {"agent": "bob", "channel": "voice", "days": 3})
    assert [c["agent"] for c in one.context["chart_data"]["charts"]] == ["bob"]
    assert len(one.context["chart_data"]["labels"]) == 3

    board = client.get(DASHBOARD + "live/")
    assert board.context["summary"]["dnd"] == 1
    assert board.context["summary"]["open_work"] == 3
    alice = next(r for r in board.context["rows"] if r["agent"].user.username == "alice")
    assert {c["channel"].code: c["open"] for c in alice["cells"]}["chat"] == 2
    assert client.get(DASHBOARD + "live/?partial=1").content.lstrip().startswith(b"<div")

    history = client.get(DASHBOARD + "history/", {"agent": "tom", "event": "status"})
    rows = history.context["rows"]
    assert len(rows) == 100
    assert {r.agent.user.username for r in rows} == {"tom"}
    assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)
    older = client.get(DASHBOARD + "history/" + history.context["older"])
    assert older.context["rows"][0].at <= rows[-1].at
    assert not {r.pk for r in rows} & {r.pk for r in older.context["rows"]}
    today = now.date().isoformat()
    last_day = client.get(DASHBOARD + "history/", {"since": today, "until": today})
    assert all(r.at.date() == now.date() for r in last_day.context["rows"])
    assert "format=csv" in history.context["csv_url"]
    for url, params in [
        (DASHBOARD, {"start": "9999-12-31", "days": 31}),
        (DASHBOARD, {"days": "lots", "agent": "nobody"}),
        (DASHBOARD + "history/", {"before": "2026-13-45T00:00:00|9"}),
        (DASHBOARD + "history/", {"since": "0001-01-01", "until": "yesterday"}),
    ]:
        assert client.get(url, params).status_code == 200, (url, params)
    bad = client.get(DASHBOARD + "history/", {"channel": "fax"})
    assert bad.status_code == 200
    assert bad.context["rows"] == []


# --- the browser ----------------------------------------------------------------------------
@pytest.mark.browser
def test_cora_sees_the_dashboards_and_no_change_buttons(live_server, demo_world, monkeypatch):
    demo_week(timezone.now())
    with chromium(monkeypatch) as browser:
        viewport = {"width": 1440, "height": 1000}
        page = login(browser, live_server.url, "cora", next=DASHBOARD, viewport=viewport)
        page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length >= 4")
        assert page.locator("canvas[data-chart-index]").count() == 4
        shot(page, "dashboard-time-in-status")

        page.goto(f"{live_server.url}{DASHBOARD}live/")
        assert page.locator(".cc-board tbody tr").count() >= 4
        assert page.locator(".cc-pill.s-dnd").count() == 1
        shot(page, "dashboard-live")

        page.goto(f"{live_server.url}{DASHBOARD}history/")
        page.select_option("select[name=agent]", "sam")
        page.select_option("select[name=event]", "dnd")
        page.click(".cc-filters button[type=submit]")
        page.wait_for_url("**agent=sam**")
        cells = page.locator(".cc-history tbody tr td:nth-child(2)").all_inner_texts()
        assert cells
        assert set(cells) == {"sam"}
        page.goto(f"{live_server.url}{DASHBOARD}history/")
        shot(page, "dashboard-history", full_page=False)

        # R16 / issue 6 item 2: compliance reads the admin but can change nothing
        for model in ("statuschange", "rule"):
            response = page.goto(f"{live_server.url}/admin/cc_rules/{model}/")
            assert response.status == 200, model
            assert page.locator("#result_list tbody tr").count() > 0, model
            assert page.locator(".addlink, .object-tools a[href$='/add/']").count() == 0, model
            assert page.locator("select[name=action], .action-select").count() == 0, model
            shot(page, f"admin-{model}-changelist", full_page=False)
            page.locator("#result_list tbody tr a").first.click()
            page.wait_for_load_state()
            assert page.locator(".submit-row input[type=submit]").count() == 0, model
            assert page.locator(".deletelink").count() == 0, model
            shot(page, f"admin-{model}-view", full_page=False)
    assert page.outside == []  # nothing is loaded from the internet
