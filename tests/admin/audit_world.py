"""A ledger of today for the audit tests (issue 16, item 5), and readers of what the history
dashboard, its CSV and the API return (parsed from their bytes, as a person would get them).

Two teams: ``front`` (alice, bob; supervised by sam) and ``back`` (nina; nobody). Rows are
written through the one writer (``services.ledger.record``) at chosen moments of today (UTC),
including rows on both sides of each day boundary and of a 22:50-23:00 window.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

from django.db import transaction
from django.utils import timezone

from cc_rules.models import Agent, StatusChange, Team
from cc_rules.services.history import Ctx
from cc_rules.services.ledger import record
from tests.factories import a_compliance_officer, a_supervisor, a_user, an_agent, reason_codes

HISTORY = "/admin/dashboard/history/"
API = "/api/v1/audit/status-changes/"
EXPORT_JOBS = "/api/v1/audit/status-changes/jobs/"


@dataclass
class World:
    day: date
    midnight: datetime
    alice: Agent
    bob: Agent
    nina: Agent
    cora: object
    sam: object
    root: object


_counter = iter(range(10**6))


def add(agent, at, *, actor=None, cause="agent", reason=None, to="not_ready", event="status"):
    """One ledger row for ``agent`` at ``at`` through the one writer (actor ``None``: nobody)."""
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    before = "ready" if to == "not_ready" else "not_ready"
    return record(
        locked,
        Ctx(actor=actor, request_id=f"req-{next(_counter)}", now=at),
        event=event,
        channel=None if event == "dnd" else "voice",
        from_status="off" if event == "dnd" else before,
        to_status="on" if event == "dnd" else to,
        reason=reason if to == "not_ready" else None,
        cause=cause,
        rule="R2",
    )


@transaction.atomic  # the writer locks agent rows (a transactional test has no outer atomic)
def build(spread: int = 230) -> World:
    """``spread`` rows over today (more than two dashboard pages), the edge rows, the window."""
    day = timezone.now().astimezone(UTC).date()
    midnight = datetime.combine(day, time.min, tzinfo=UTC)
    reason_codes("break", "lunch")
    alice, bob, nina = an_agent("alice"), an_agent("bob"), an_agent("nina")
    cora, sam = a_compliance_officer("cora"), a_supervisor("sam")
    root = a_user("root", is_superuser=True, is_staff=True)
    front = Team.objects.create(name="front")
    front.agents.set([alice, bob])
    front.supervisors.set([sam])
    Team.objects.create(name="back").agents.set([nina])

    agents = [alice, bob, nina]
    add(alice, midnight - timedelta(microseconds=1), actor=alice.user)  # yesterday's last
    add(alice, midnight, actor=alice.user, cause="system", reason="login")  # today's first
    for i in range(spread):
        agent = agents[i % 3]
        at = midnight + timedelta(minutes=5 * i, seconds=7)
        if i % 7 == 0:
            add(agent, at, actor=sam, cause="supervisor", reason="break")
        elif i % 5 == 0:
            add(agent, at, actor=None, cause="wrap_up_timer", to="ready")
        elif i % 4 == 0:
            add(agent, at, actor=agent.user, reason="lunch")
        elif i % 11 == 0:
            add(agent, at, actor=agent.user, event="dnd")
        else:
            add(agent, at, actor=agent.user, to="ready" if i % 2 else "not_ready", reason="break")
    window = midnight + timedelta(hours=22, minutes=50)
    add(alice, window - timedelta(seconds=1), actor=alice.user)
    add(alice, window, actor=alice.user, to="ready")
    add(alice, window + timedelta(minutes=6, seconds=12), actor=sam, cause="supervisor",
        reason="break")  # fmt: skip
    add(nina, window + timedelta(minutes=9, seconds=59, microseconds=500_000), actor=None,
        cause="wrap_up_timer", to="ready")  # fmt: skip
    add(bob, window + timedelta(minutes=10), actor=bob.user)  # 23:00:00: outside
    add(bob, midnight + timedelta(days=1, microseconds=-1), actor=bob.user)  # today's last
    add(bob, midnight + timedelta(days=1), actor=bob.user)  # tomorrow's first
    return World(day, midnight, alice, bob, nina, cora, sam, root)


def expected(rows) -> set[tuple[str, int]]:
    """(agent, seq) of ledger rows: unique per row, and shown by the page, CSV and API alike."""
    return {(r.agent.user.username, r.seq) for r in rows.select_related("agent__user")}


def in_window(since: datetime, until: datetime):
    return StatusChange.objects.filter(at__gte=since, at__lt=until)


# --- reading what a person gets ----------------------------------------------------------------
class PageParser(HTMLParser):
    """The history table's rows (cell texts), every link, and the CSV link with its text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[tuple[str, str]] = []
        self._table = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None
        self.errors: list[str] = []
        self._error: list[str] | None = None
        self.html = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "table" and "cc-history" in classes:
            self._table = True
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag == "td":
            self._cell = []
        elif tag == "a" and attrs.get("href"):
            self._link = (attrs["href"], [])
        elif tag == "p" and "cc-error" in classes:
            self._error = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = False
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "a" and self._link is not None:
            href, text = self._link
            self.links.append((href, " ".join("".join(text).split())))
            self._link = None
        elif tag == "p" and self._error is not None:
            self.errors.append(" ".join("".join(self._error).split()))
            self._error = None

    def handle_data(self, data):
        for part in (self._cell, self._error, self._link[1] if self._link else None):
            if part is not None:
                part.append(data)

    def link(self, starts: str) -> tuple[str, str] | None:
        return next(((h, t) for h, t in self.links if t.startswith(starts)), None)


def parse_page(response) -> PageParser:
    assert response.status_code == 200, response.status_code
    parser = PageParser()
    parser.html = response.content.decode()
    parser.feed(parser.html)
    return parser


def page_keys(parser: PageParser) -> list[tuple[str, int]]:
    """(agent, seq) of each table row: columns When, Agent, …, # (seq, the last)."""
    return [(row[1], int(row[-1])) for row in parser.rows]


def walk_pages(client, params: dict) -> tuple[list[tuple[str, int]], PageParser]:
    """Every row the page shows for ``params``, following "Older →" to the end."""
    first = parse_page(client.get(HISTORY, params))
    keys, parser = page_keys(first), first
    while (older := parser.link("Older")) is not None:
        parser = parse_page(client.get(HISTORY + older[0]))
        keys += page_keys(parser)
    return keys, first


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(body.decode())))


def csv_keys(rows: list[dict[str, str]]) -> list[tuple[str, int]]:
    return [(r["agent"], int(r["seq"])) for r in rows]


def follow(client, href: str):
    """GET a link as the page gives it (path and query)."""
    parts = urlsplit(href)
    return client.get(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))


def api_keys(client, params: dict) -> list[tuple[str, int]]:
    out, response = [], client.get(API, params)
    while True:
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        out += [(r["agent"], r["seq"]) for r in body["results"]]
        if not body["next"]:
            return out
        response = client.get(body["next"])
