"""Issue 16, items 5 and 7, in the admin's status history: search over reason, request id and
usernames; times to the second; filters for cause, actor, reason, channel, event and date;
actor links that never land on a refusal; supervisors see their teams' rows only; "View site"
goes to the dashboards."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.urls import reverse

from cc_rules.models import StatusChange

from .audit_world import build

pytestmark = pytest.mark.django_db

LIST = reverse("admin:cc_rules_statuschange_changelist")


class ChangeList(HTMLParser):
    """The result table's rows (cell texts) and every link on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._in_results = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "table" and attrs.get("id") == "result_list":
            self._in_results = True
        elif self._in_results and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_results = False
        elif tag == "tr" and self._row is not None:
            if self._row and not self._row[0].startswith("When"):
                self.rows.append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def changelist(client, params=None) -> ChangeList:
    response = client.get(LIST, params or {})
    assert response.status_code == 200, response.status_code
    parser = ChangeList()
    parser.feed(response.content.decode())
    return parser


# Columns: when, agent, channel, change, reason, cause, rule, changed by, seq.
WHEN, AGENT, REASON, CAUSE, ACTOR, SEQ = 0, 1, 4, 5, 7, 8


def keys(page: ChangeList) -> set[tuple[str, int]]:
    return {(row[AGENT], int(row[SEQ])) for row in page.rows}


def want(queryset) -> set[tuple[str, int]]:
    return {(r.agent.user.username, r.seq) for r in queryset.select_related("agent__user")}


@pytest.fixture
def world():
    return build(spread=40)


@pytest.fixture
def cora(world, client):
    client.force_login(world.cora)
    return client


def test_search_finds_rows_by_reason_request_id_and_agent(world, cora):
    assert keys(changelist(cora, {"q": "lunch"})) == want(
        StatusChange.objects.filter(reason="lunch")
    )
    one = StatusChange.objects.filter(agent=world.nina).order_by("seq")[3]
    assert keys(changelist(cora, {"q": one.request_id})) == {("nina", one.seq)}
    assert keys(changelist(cora, {"q": "nina"})) == want(
        StatusChange.objects.filter(agent=world.nina)
    )


def test_the_list_shows_each_change_to_the_second(world, cora):
    page = changelist(cora, {"actor": "sam", "reason": "break"})
    at = world.midnight + timedelta(hours=22, minutes=56, seconds=12)
    row = next(r for r in page.rows if r[AGENT] == "alice" and r[WHEN].endswith("22:56:12"))
    assert row[WHEN] == at.strftime("%Y-%m-%d %H:%M:%S")
    assert (row[REASON], row[CAUSE], row[ACTOR]) == ("break", "Supervisor", "sam")
    assert all(len(r[WHEN]) == len("2026-01-01 00:00:00") for r in page.rows)


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"actor": "sam"}, lambda r: r.actor_name == "sam"),
        ({"actor": "system"}, lambda r: r.actor_id is None),
        ({"reason": "lunch"}, lambda r: r.reason == "lunch"),
        ({"cause__exact": "wrap_up_timer"}, lambda r: r.cause == "wrap_up_timer"),
        ({"event__exact": "dnd"}, lambda r: r.event == "dnd"),
        ({"channel__code__exact": "voice", "agent": "bob"},
         lambda r: r.channel_id == "voice" and r.agent.user.username == "bob"),
    ],
)  # fmt: skip
def test_the_filters(world, cora, params, keep):
    rows = [r for r in StatusChange.objects.select_related("agent__user") if keep(r)]
    assert rows
    assert keys(changelist(cora, params)) == {(r.agent.user.username, r.seq) for r in rows}


def test_the_date_filter(world, cora):
    page = changelist(cora)
    today = next(h for h in page.links if "at__gte" in h and "at__lt" in h)  # "Today"
    got = changelist(cora, dict(parse_qsl(urlsplit(today).query)))
    day = StatusChange.objects.filter(
        at__gte=world.midnight, at__lt=world.midnight + timedelta(days=1)
    )
    assert keys(got) == want(day)


def _every_link_answers_200(client, pages):
    checked = set()
    for start in pages:
        response = client.get(start)
        assert response.status_code == 200
        parser = ChangeList()
        parser.feed(response.content.decode())
        for href in parser.links:
            url = urljoin(start, href)
            if href.startswith("#") or urlsplit(url).netloc not in ("", "testserver"):
                continue
            if url in checked:
                continue
            checked.add(url)
            answer = client.get(url)
            assert answer.status_code == 200, (start, href, answer.status_code)
    return checked


def test_every_link_on_the_list_answers_200_for_compliance(world, cora):
    """Agent and actor links, filters, dates, rows, "View site", the sidebar: no 403 anywhere."""
    checked = _every_link_answers_200(
        cora, [LIST, f"{LIST}?actor=sam", f"{LIST}?actor=system&q=nina"]
    )
    assert f"{LIST}?actor=sam" in {u.replace("http://testserver", "") for u in checked}
    assert any("actor=system" in u for u in checked)
    assert any("agent=alice" in u for u in checked)
    assert "/admin/dashboard/" in checked  # "View site"
    row = StatusChange.objects.order_by("-at", "-id")[0]
    assert reverse("admin:cc_rules_statuschange_change", args=[row.pk]) in checked


def test_a_supervisor_sees_their_teams_rows_and_every_link_answers(world, client):
    client.force_login(world.sam)
    page = changelist(client)
    assert {row[AGENT] for row in page.rows} == {"alice", "bob"}
    assert not any("agent=nina" in href for href in page.links)  # not even in the filters
    nina_row = StatusChange.objects.filter(agent=world.nina).first()
    detail = client.get(reverse("admin:cc_rules_statuschange_change", args=[nina_row.pk]))
    assert detail.status_code == 404  # as if absent (cc_admin/admin/scoped.py)
    _every_link_answers_200(client, [LIST, f"{LIST}?actor=sam"])


def test_view_site_goes_to_the_dashboards(world, cora):
    html = cora.get(reverse("admin:index")).content.decode()
    assert '<a href="/admin/dashboard/">View site</a>' in html


@pytest.mark.parametrize("params", [{"actor": "a\x00"}, {"reason": "\x00"}, {"agent": "b\x00"}])
def test_a_filter_value_no_row_can_hold_finds_nothing_rather_than_failing(world, cora, params):
    assert changelist(cora, params).rows == []
