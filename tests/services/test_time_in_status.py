"""R7/R16: time in status from the ledger matches, to the second, a brute-force count.

The brute force knows nothing of windows or LEAD: it cuts time at every instant anything
happens and asks, for each elementary segment, which status each channel is in, whether DND is
on and whether work is open. The report floors each total of exact microseconds to seconds
(``cc_rules.services.audit``), and so does the brute force.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cc_rules.models import Agent, Interaction
from cc_rules.services.audit import time_in_status
from cc_rules.services.history import Ctx
from cc_rules.services.ledger import record
from tests.factories import an_agent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
AGENTS = ["alice", "bob"]
CHANNELS = ["voice", "chat"]
STATUSES = ["ready", "not_ready", "after_call_work", "logged_off"]


@dataclass(frozen=True)
class Row:
    agent: str
    event: str  # "status" | "dnd"
    channel: str | None
    to_status: str
    at: datetime


@dataclass(frozen=True)
class Work:
    agent: str
    channel: str
    accepted_at: datetime
    ended_at: datetime | None


@pytest.fixture
def alice_and_bob():
    """The two agents whose ledgers the histories are written to; nothing else exists."""
    return [an_agent(name) for name in AGENTS]


def at(us: int) -> datetime:
    return T0 + us * US


# --- writing a history ---------------------------------------------------------------------------
def write(rows: list[Row], work: list[Work]) -> None:
    """Append ``rows`` (in order) through the ledger's own writer, with controlled ``at``."""
    current: dict[tuple[str, str | None], str] = {}
    for row in rows:
        agent = Agent.objects.select_for_update().get(user__username=row.agent)
        key = (row.agent, row.channel)
        before = current.get(key, "off" if row.event == "dnd" else "logged_off")
        current[key] = row.to_status
        record(
            agent,
            Ctx(actor=None, request_id="prop", now=row.at),
            event=row.event,
            channel=row.channel,
            from_status=before,
            to_status=row.to_status,
            reason="break" if row.to_status == "not_ready" else None,
            cause="agent",
            rule="R2" if row.event == "status" else "R3",
        )
    agents = {a.user.username: a for a in Agent.objects.select_related("user")}
    for w in work:
        Interaction.objects.create(
            channel_id=w.channel,
            agent=agents[w.agent],
            direction="inbound",
            state="ended" if w.ended_at else "active",
            created_at=w.accepted_at,
            accepted_at=w.accepted_at,
            ended_at=w.ended_at,
        )


# --- the brute force -----------------------------------------------------------------------------
def brute_force(
    rows: list[Row],
    work: list[Work],
    since: datetime,
    until: datetime,
    now: datetime,
    agent: str | None = None,
) -> list[dict]:
    hi = min(until, now)
    if hi <= since:
        return []
    cuts = {since, hi}
    cuts |= {r.at for r in rows} | {w.accepted_at for w in work}
    cuts |= {w.ended_at for w in work if w.ended_at}
    points = sorted(p for p in cuts if since <= p <= hi)

    def state_at(who: str, event: str, channel: str | None, p: datetime) -> str | None:
        found = None
        for r in rows:  # rows are in ledger order; the last one at or before p holds
            if (r.agent, r.event, r.channel) == (who, event, channel) and r.at <= p:
                found = r.to_status
        return found

    totals: Counter = Counter()
    for p, q in itertools.pairwise(points):
        us = (q - p) // US
        for who in AGENTS:
            if agent and who != agent:
                continue
            for channel in CHANNELS:
                status = state_at(who, "status", channel, p)
                if status and status != "logged_off":
                    totals[(who, channel, status)] += us
                busy = any(
                    w.agent == who
                    and w.channel == channel
                    and w.accepted_at <= p < (w.ended_at or now)
                    for w in work
                )
                if status == "ready" and busy:
                    totals[(who, channel, "handling")] += us
            if state_at(who, "dnd", None, p) == "on":
                totals[(who, None, "dnd")] += us
    report = [
        {"agent": a, "channel": c, "status": s, "seconds": us // 1_000_000}
        for (a, c, s), us in totals.items()
        if us > 0
    ]
    return sorted(
        report, key=lambda r: (r["agent"], r["channel"] is None, r["channel"] or "", r["status"])
    )


def reports(rows, work, since, until, now, agent=None, among=None) -> dict[str, list[dict]]:
    """The service's answer(s) for a history written inside a savepoint that is rolled back.
    ``among``: usernames the report is limited to (a supervisor's teams)."""
    with transaction.atomic():
        try:
            write(rows, work)
            pk = Agent.objects.get(user__username=agent).pk if agent else None
            ids = None
            if among is not None:
                ids = list(
                    Agent.objects.filter(user__username__in=among).values_list("pk", flat=True)
                )
            span = {"agent": pk, "agents": ids, "since": since, "until": until, "now": now}
            got = {"python": time_in_status(**span, use_sql=False)}
            if connection.vendor == "postgresql":
                got["sql"] = time_in_status(**span)
        finally:
            transaction.set_rollback(True)
    return got


# --- hypothesis ----------------------------------------------------------------------------------
MINUTE = 60 * 1_000_000
# gaps between rows: often none (rows of one service call share `at`), else up to 15 minutes
gaps = st.one_of(
    st.just(0), st.integers(1, 15 * MINUTE), st.integers(1, 90).map(lambda s: s * 1_000_000)
)
jitter = st.one_of(st.just(0), st.integers(-5 * MINUTE, 5 * MINUTE))
row_kinds = st.one_of(
    st.tuples(
        st.just("status"),
        st.sampled_from(CHANNELS),
        st.sampled_from(["ready", "ready", "not_ready", "after_call_work", "logged_off"]),
    ),
    st.tuples(st.just("dnd"), st.none(), st.none()),
)


@st.composite
def histories(draw):
    """Rows of one or two agents with rising `at`, DND toggles, work (some still open), and a
    window whose edges fall near rows (so intervals cross them), before them or after now."""
    rows: list[Row] = []
    offset = 0
    dnd: dict[str, str] = {}
    # most rows and work land on one agent and channel, so work overlaps work and `ready`
    focus = draw(st.sampled_from(AGENTS)), draw(st.sampled_from(CHANNELS))
    agents = st.one_of(st.just(focus[0]), st.sampled_from(AGENTS))
    channels = st.one_of(st.just(focus[1]), st.sampled_from(CHANNELS))
    for _ in range(draw(st.integers(1, 20))):
        offset += draw(gaps)
        who = draw(agents)
        event, channel, status = draw(row_kinds)
        channel = draw(channels) if event == "status" else None
        if event == "dnd":
            status = dnd[who] = "off" if dnd.get(who) == "on" else "on"
        rows.append(Row(who, event, channel, status, at(offset)))
    times = [(r.at - T0) // US for r in rows]
    near = st.sampled_from(times).flatmap(lambda t: jitter.map(lambda j: t + j))
    anywhere = st.integers(-30 * MINUTE, offset + 30 * MINUTE)
    work = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.one_of(near, near, anywhere))
        length = draw(st.none() | st.integers(0, 40 * MINUTE))
        work.append(
            Work(
                draw(agents),
                draw(channels),
                at(start),
                at(start + length) if length is not None else None,
            )
        )
    latest = max([r.at for r in rows] + [w.ended_at or w.accepted_at for w in work])
    now = latest + draw(st.one_of(st.just(0), st.integers(0, 30 * MINUTE))) * US
    since = at(draw(st.one_of(near, near, anywhere)))
    until = since + draw(st.one_of(st.integers(1, 120 * MINUTE), st.integers(0, 600 * MINUTE))) * US
    agent = draw(st.sampled_from([None, None, "alice"]))
    return rows, work, since, until, now, agent


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=histories())
def test_report_matches_brute_force_on_random_histories(alice_and_bob, case):
    rows, work, since, until, now, agent = case
    expected = brute_force(rows, work, since, until, now, agent)
    for path, got in reports(rows, work, since, until, now, agent).items():
        assert got == expected, path


# --- worked examples -----------------------------------------------------------------------------
def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_an_interval_crossing_both_edges_is_split_at_them(alice_and_bob):
    rows = [
        Row("alice", "status", "voice", "ready", m(-60)),
        Row("alice", "status", "voice", "not_ready", m(30)),
        Row("alice", "status", "voice", "ready", m(90)),
    ]
    for got in reports(rows, [], m(0), m(60), m(120)).values():
        assert got == [
            {"agent": "alice", "channel": "voice", "status": "not_ready", "seconds": 1800},
            {"agent": "alice", "channel": "voice", "status": "ready", "seconds": 1800},
        ]


def test_the_open_last_interval_counts_up_to_now_and_no_further(alice_and_bob):
    rows = [
        Row("alice", "status", "chat", "ready", m(0)),
        Row("alice", "dnd", None, "on", m(1)),
    ]
    work = [
        Work("alice", "chat", m(0.5), None),  # still open: counts to now
        Work("alice", "chat", m(0.75), m(1.25)),  # overlaps the first: counted once
    ]
    now = m(2) + timedelta(milliseconds=500)
    for got in reports(rows, work, m(-10), m(60), now).values():
        assert got == [
            {"agent": "alice", "channel": "chat", "status": "handling", "seconds": 90},
            {"agent": "alice", "channel": "chat", "status": "ready", "seconds": 120},
            {"agent": "alice", "channel": None, "status": "dnd", "seconds": 60},
        ]


def test_handling_needs_the_channel_ready(alice_and_bob):
    rows = [
        Row("bob", "status", "voice", "not_ready", m(0)),
        Row("bob", "status", "voice", "ready", m(10)),
        Row("bob", "status", "voice", "after_call_work", m(20)),
        Row("bob", "status", "voice", "logged_off", m(25)),
    ]
    work = [Work("bob", "voice", m(5), m(15))]
    for got in reports(rows, work, m(0), m(60), m(60)).values():
        assert got == [
            {"agent": "bob", "channel": "voice", "status": "after_call_work", "seconds": 300},
            {"agent": "bob", "channel": "voice", "status": "handling", "seconds": 300},
            {"agent": "bob", "channel": "voice", "status": "not_ready", "seconds": 600},
            {"agent": "bob", "channel": "voice", "status": "ready", "seconds": 600},
        ]


def test_a_window_after_now_or_empty_reports_nothing(alice_and_bob):
    rows = [Row("alice", "status", "voice", "ready", m(0))]
    for since, until in [(m(30), m(60)), (m(10), m(10))]:
        got = reports(rows, [], since, until, now=m(20))
        assert got["python"] == []
        assert got.get("sql", []) == []
    assert reports(rows, [], m(0), m(60), now=m(20))["python"][0]["seconds"] == 1200


def test_a_report_limited_to_some_agents_covers_only_them(alice_and_bob):
    """A supervisor's report (issue 16): ``agents`` limits it to their teams' agents."""
    rows = [
        Row("alice", "status", "voice", "ready", m(0)),
        Row("bob", "status", "chat", "not_ready", m(0)),
        Row("bob", "dnd", None, "on", m(5)),
    ]
    work = [Work("alice", "voice", m(1), m(2))]
    full = reports(rows, work, m(0), m(10), m(10))
    for path, got in reports(rows, work, m(0), m(10), m(10), among=["bob"]).items():
        assert got == [r for r in full[path] if r["agent"] == "bob"], path
        assert {r["status"] for r in got} == {"not_ready", "dnd"}
    assert reports(rows, work, m(0), m(10), m(10), among=["alice", "bob"]) == full
    nobody = reports(rows, work, m(0), m(10), m(10), among=[])
    assert all(got == [] for got in nobody.values())
    # one agent asked for, outside the limit: nothing
    for got in reports(rows, work, m(0), m(10), m(10), agent="alice", among=["bob"]).values():
        assert got == []
