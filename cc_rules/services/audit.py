"""Reading the status ledger for compliance (R16): chain verification and time in status.

Nothing here writes the ledger (``cc_rules.services.ledger`` appends; the
``archive_history`` command is the one documented way rows leave it). Both readers stream:
``verify_chain`` walks the rows in (agent, seq) order with a server-side cursor, and
``time_in_status`` aggregates in SQL on PostgreSQL (window functions), with a Python fallback
that gives the same numbers on SQLite.

Time-in-status semantics (API.md "Compliance", DECISIONS.md):

- A ``status`` row puts its channel in ``to_status`` from ``at`` until the next ``status`` row
  of the same agent and channel (ties on ``at`` ordered by ``seq``); the last one is open.
- ``dnd`` is on from an ``on`` row until the next ``dnd`` row of the agent (channel ``None``).
- ``handling`` is the time a channel is ``ready`` *and* has open work: the union of its
  interactions' ``[accepted_at, ended_at)`` (open ones up to ``now``) intersected with the
  channel's ``ready`` intervals. It overlaps ``ready``; it is not added to it.
- Every interval is clamped to ``[since, min(until, now))``: nothing counts past ``now``.
- ``logged_off`` time is not reported (it is not time at work).
- Rounding: each (agent, channel, status) total is summed in exact microseconds and then
  floored to whole seconds (``seconds = total_us // 1_000_000``). Totals of zero are omitted,
  so an entry is present exactly when its total is positive (its ``seconds`` may be 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from cc_rules.choices import Event, Status
from cc_rules.models import Agent, Interaction, StatusChange
from cc_rules.models.agents import GENESIS_HASH
from cc_rules.permissions_setup import COMPLIANCE, SUPERVISOR
from cc_rules.selectors import db_now
from cc_rules.services.history import row_hash

DND = "dnd"
HANDLING = "handling"
CHUNK_SIZE = 2000
US = timedelta(microseconds=1)

Key = tuple[int, str | None, str]  # (agent id, channel or None, status or series)

# The ledger as compliance reads it: the API's JSON rows, its CSV export and the admin's detail
# page show these columns, in this order. Each maps to the ORM path its value is read from.
LEDGER_COLUMNS = {
    "id": "id",
    "seq": "seq",
    "agent": "agent__user__username",
    "channel": "channel_id",
    "event": "event",
    "from_status": "from_status",
    "to_status": "to_status",
    "reason": "reason",
    "cause": "cause",
    "rule": "rule",
    "actor": "actor_name",  # the username kept on the row, so it survives the user's deletion
    "request_id": "request_id",
    "at": "at",
}
AUDIT_GROUPS = (COMPLIANCE, SUPERVISOR)


def can_read_audit(user: Any) -> bool:
    """Compliance staff, supervisors and superusers read the audit (API and dashboards)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name__in=AUDIT_GROUPS).exists()


# --- verification -------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: ``first_broken`` is a row id (or ``None``)."""

    intact: bool
    first_broken: int | None
    rows_checked: int
    agent_id: int | None = None
    seq: int | None = None
    problem: str = ""


def verify_chain(
    agent_id: int | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    archive_heads: dict[int, tuple[int, str]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Recompute every row's hash and check ``seq`` continuity and ``prev_hash`` linkage.

    Rows are streamed in (agent, seq) order, so memory stays constant however long the ledger.
    An agent's oldest remaining row starts the walk: ``seq`` 1 must link to the genesis hash;
    a later ``seq`` means older rows were archived, and its ``prev_hash`` is taken as the start
    (or checked against ``archive_heads`` — ``{agent id: (seq, hash)}`` of the last archived
    row — when the caller has the archive manifests). The agent's chain head
    (``Agent.history_seq``/``history_head``, read first) must be reached, so rows cut from the
    end are found too; rows appended while we walk are simply checked as well.
    """
    heads_qs = Agent.objects.all()
    if agent_id is not None:
        heads_qs = heads_qs.filter(pk=agent_id)
    heads = {
        pk: (seq, head)
        for pk, seq, head in heads_qs.values_list("id", "history_seq", "history_head")
    }
    rows = StatusChange.objects.order_by("agent_id", "seq")
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)

    checked = 0
    prev: StatusChange | None = None
    for row in rows.iterator(chunk_size=chunk_size):
        if prev is not None and prev.agent_id != row.agent_id:
            problem = _tail_problem(prev, heads)
            if problem:
                return _broken(prev, checked, problem)
            prev = None
        checked += 1
        problem = link_problem(prev, row, archive_heads)
        if not problem and row_hash(row) != row.hash:
            problem = "its stored hash does not match its contents (the row was altered)"
        if problem:
            return _broken(row, checked, problem)
        prev = row
        if progress is not None and checked % chunk_size == 0:
            progress(checked)
    if progress is not None:
        progress(checked)
    if prev is not None:
        problem = _tail_problem(prev, heads)
        if problem:
            return _broken(prev, checked, problem)
    return VerifyResult(intact=True, first_broken=None, rows_checked=checked)


def link_problem(
    prev: StatusChange | None,
    row: StatusChange,
    archive_heads: dict[int, tuple[int, str]] | None,
) -> str:
    if prev is None:  # the agent's oldest remaining row
        if row.seq < 1:
            return f"seq {row.seq} is not a chain position"
        if row.seq == 1 and row.prev_hash != GENESIS_HASH:
            return "the first row of the chain does not start from the genesis hash"
        archived = (archive_heads or {}).get(row.agent_id)
        if row.seq > 1 and archived is not None and archived != (row.seq - 1, row.prev_hash):
            return (
                f"it does not continue the archived chain head (seq {archived[0]}); "
                "rows between the archive and this row are missing or altered"
            )
        return ""
    if row.seq != prev.seq + 1:
        return f"seq {row.seq} follows seq {prev.seq} (rows missing or inserted)"
    if row.prev_hash != prev.hash:
        return f"prev_hash does not match the hash of seq {prev.seq}"
    return ""


def _tail_problem(last: StatusChange, heads: dict[int, tuple[int, str]]) -> str:
    head_seq, head_hash = heads.get(last.agent_id, (0, GENESIS_HASH))
    if last.seq < head_seq:
        return f"the chain ends at seq {last.seq} but the agent's head is seq {head_seq}"
    if last.seq == head_seq and last.hash != head_hash:
        return "the last row's hash differs from the agent's chain head"
    return ""


def _broken(row: StatusChange, checked: int, problem: str) -> VerifyResult:
    return VerifyResult(
        intact=False,
        first_broken=row.pk,
        rows_checked=checked,
        agent_id=row.agent_id,
        seq=row.seq,
        problem=problem,
    )


# --- time in status -----------------------------------------------------------------------------
def time_in_status(
    *,
    agent: Agent | int | None = None,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    use_sql: bool | None = None,
) -> list[dict]:
    """Seconds per agent, channel and status in ``[since, until)``; see the module docstring.

    Returns ``[{"agent": username, "channel": code | None, "status", "seconds": int}]`` ordered
    by agent, channel (DND last) and status. ``use_sql`` defaults to "on PostgreSQL"; the
    Python path is the SQLite fallback and gives the same result on either database.
    """
    if now is None:
        now = db_now()
    agent_id = agent.pk if isinstance(agent, Agent) else agent
    hi = min(until, now)
    if hi <= since:
        return []
    if use_sql is None:
        use_sql = connection.vendor == "postgresql"
    totals = _totals_sql(agent_id, since, hi) if use_sql else _totals_python(agent_id, since, hi)
    names = dict(
        Agent.objects.filter(pk__in={k[0] for k in totals}).values_list("id", "user__username")
    )
    report = [
        {"agent": names.get(a, str(a)), "channel": ch, "status": st, "seconds": us // 1_000_000}
        for (a, ch, st), us in totals.items()
        if us > 0
    ]
    report.sort(key=lambda r: (r["agent"], r["channel"] is None, r["channel"] or "", r["status"]))
    return report


_US = "((EXTRACT(EPOCH FROM {e}) - EXTRACT(EPOCH FROM {s})) * 1000000)"

# Each partition (agent, channel) starts at its last status row at or before `lo`, and its rows
# are read by a range scan of the (agent, channel, at) index (LATERAL), so a report over one
# day reads that day's rows, not a year of history.
_SQL = """
WITH agents AS MATERIALIZED (
    SELECT a.id AS agent_id FROM cc_rules_agent a
    WHERE (%(agent)s::bigint IS NULL OR a.id = %(agent)s::bigint)
),
pairs AS MATERIALIZED (
    SELECT ag.agent_id, c.code AS channel_id,
           COALESCE((SELECT MAX(p.at) FROM cc_rules_statuschange p
                      WHERE p.agent_id = ag.agent_id AND p.channel_id = c.code
                        AND p.event = 'status' AND p.at <= %(lo)s), %(lo)s) AS anchor
    FROM agents ag CROSS JOIN cc_rules_channel c
),
st AS (
    SELECT s.agent_id, s.channel_id, s.to_status AS status, s.at AS start,
           LEAD(s.at) OVER (PARTITION BY s.agent_id, s.channel_id ORDER BY s.at, s.seq) AS next_at
    FROM pairs CROSS JOIN LATERAL (
        SELECT r.agent_id, r.channel_id, r.to_status, r.at, r.seq
        FROM cc_rules_statuschange r
        WHERE r.agent_id = pairs.agent_id AND r.channel_id = pairs.channel_id
          AND r.event = 'status' AND r.at >= pairs.anchor AND r.at < %(hi)s
        OFFSET 0  -- keeps the subquery a per-pair index range scan (no pull-up into a join)
    ) s
),
st_c AS MATERIALIZED (
    SELECT agent_id, channel_id, status,
           GREATEST(start, %(lo)s) AS s, LEAST(COALESCE(next_at, %(hi)s), %(hi)s) AS e
    FROM st
),
dnd_anchor AS MATERIALIZED (
    SELECT ag.agent_id,
           COALESCE((SELECT MAX(p.at) FROM cc_rules_statuschange p
                      WHERE p.agent_id = ag.agent_id AND p.channel_id IS NULL
                        AND p.event = 'dnd' AND p.at <= %(lo)s), %(lo)s) AS anchor
    FROM agents ag
),
dnd AS (
    SELECT s.agent_id, s.to_status, s.at AS start,
           LEAD(s.at) OVER (PARTITION BY s.agent_id ORDER BY s.at, s.seq) AS next_at
    FROM dnd_anchor d CROSS JOIN LATERAL (
        SELECT r.agent_id, r.to_status, r.at, r.seq
        FROM cc_rules_statuschange r
        WHERE r.agent_id = d.agent_id AND r.channel_id IS NULL
          AND r.event = 'dnd' AND r.at >= d.anchor AND r.at < %(hi)s
        OFFSET 0
    ) s
),
dnd_c AS (
    SELECT agent_id, GREATEST(start, %(lo)s) AS s,
           LEAST(COALESCE(next_at, %(hi)s), %(hi)s) AS e
    FROM dnd WHERE to_status = 'on'
),
work AS (
    SELECT i.agent_id, i.channel_id, GREATEST(i.accepted_at, %(lo)s) AS s,
           LEAST(COALESCE(i.ended_at, %(hi)s), %(hi)s) AS e
    FROM cc_rules_interaction i JOIN agents ag ON ag.agent_id = i.agent_id
    WHERE i.accepted_at IS NOT NULL AND i.accepted_at < %(hi)s
      AND (i.ended_at IS NULL OR i.ended_at > %(lo)s)
),
work_m AS (  -- gaps and islands: overlapping interactions become one busy interval
    SELECT *, MAX(e) OVER (PARTITION BY agent_id, channel_id ORDER BY s, e
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
    FROM work WHERE e > s
),
work_i AS (
    SELECT *, SUM(CASE WHEN prev_e IS NULL OR s > prev_e THEN 1 ELSE 0 END)
              OVER (PARTITION BY agent_id, channel_id ORDER BY s, e) AS island
    FROM work_m
),
busy AS (
    SELECT agent_id, channel_id, MIN(s) AS s, MAX(e) AS e
    FROM work_i GROUP BY agent_id, channel_id, island
),
parts AS (
    SELECT agent_id, channel_id, status, {us_status} AS us
    FROM st_c WHERE status <> 'logged_off' AND e > s
    UNION ALL
    SELECT agent_id, NULL, 'dnd', {us_dnd} FROM dnd_c WHERE e > s
    UNION ALL
    SELECT r.agent_id, r.channel_id, 'handling', {us_handling}
    FROM st_c r JOIN busy b
      ON b.agent_id = r.agent_id AND b.channel_id = r.channel_id AND b.s < r.e AND b.e > r.s
    WHERE r.status = 'ready'
)
SELECT agent_id, channel_id, status, SUM(us)::bigint FROM parts
GROUP BY agent_id, channel_id, status
""".format(
    us_status=_US.format(e="e", s="s"),
    us_dnd=_US.format(e="e", s="s"),
    us_handling=_US.format(e="LEAST(r.e, b.e)", s="GREATEST(r.s, b.s)"),
)


def _totals_sql(agent_id: int | None, lo: datetime, hi: datetime) -> dict[Key, int]:
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compilation costs seconds on this many-CTE query and saves nothing: its index
        # range scans touch only the window's rows.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_SQL, {"agent": agent_id, "lo": lo, "hi": hi})
        return {(a, ch, st): int(us) for a, ch, st, us in cursor.fetchall()}


def _totals_python(agent_id: int | None, lo: datetime, hi: datetime) -> dict[Key, int]:
    """The same computation in Python (SQLite): one pass per ordered stream of rows."""
    totals: dict[Key, int] = defaultdict(int)
    rows = StatusChange.objects.filter(at__lt=hi)
    interactions = Interaction.objects.filter(accepted_at__isnull=False, accepted_at__lt=hi)
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
        interactions = interactions.filter(agent_id=agent_id)

    ready: dict[tuple[int, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    status_rows = (
        rows.filter(event=Event.STATUS)
        .order_by("agent_id", "channel_id", "at", "seq")
        .values_list("agent_id", "channel_id", "to_status", "at")
    )
    for (a, ch), status, s, e in _intervals(status_rows.iterator(CHUNK_SIZE), hi):
        s, e = max(s, lo), min(e, hi)
        if e > s and status != Status.LOGGED_OFF:
            totals[(a, ch, status)] += (e - s) // US
            if status == Status.READY:
                ready[(a, ch)].append((s, e))

    dnd_rows = (
        rows.filter(event=Event.DND)
        .order_by("agent_id", "at", "seq")
        .values_list("agent_id", "channel_id", "to_status", "at")
    )
    for (a, _), state, s, e in _intervals(dnd_rows.iterator(CHUNK_SIZE), hi):
        s, e = max(s, lo), min(e, hi)
        if e > s and state == "on":
            totals[(a, None, DND)] += (e - s) // US

    work: dict[tuple[int, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for a, ch, s, e in interactions.values_list(
        "agent_id", "channel_id", "accepted_at", "ended_at"
    ):
        s, e = max(s, lo), min(e or hi, hi)
        if e > s:
            work[(a, ch)].append((s, e))
    for key, intervals in work.items():
        for bs, be in _merge(intervals):
            for rs, re_ in ready.get(key, ()):
                overlap = min(be, re_) - max(bs, rs)
                if overlap > timedelta(0):
                    totals[(*key, HANDLING)] += overlap // US
    return totals


def _intervals(
    rows: Iterable[tuple[int, str | None, str, datetime]], hi: datetime
) -> Iterator[tuple[tuple[int, str | None], str, datetime, datetime]]:
    """``(partition, state, start, end)`` for rows ordered by partition then time; the last
    row of a partition is open and ends at ``hi``."""
    prev: tuple[int, str | None, str, datetime] | None = None
    for row in rows:
        if prev is not None:
            same = prev[:2] == row[:2]
            yield prev[:2], prev[2], prev[3], row[3] if same else hi
        prev = row
    if prev is not None:
        yield prev[:2], prev[2], prev[3], hi


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged
