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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from cc_rules.choices import Event, Status
from cc_rules.models import Agent, Interaction, StatusChange
from cc_rules.models.agents import GENESIS_HASH
from cc_rules.permissions_setup import COMPLIANCE, SUPERVISOR
from cc_rules.selectors import db_now
from cc_rules.services.history import link_problem, row_hash, same_hash

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
    """The outcome of walking the chain: ``first_broken`` is a row id (or ``None``), and
    ``missing`` the range of seqs ``(first, last)`` of an agent that are gone with no archive
    covering them (rows cut from the start, the end, or all of a chain)."""

    intact: bool
    first_broken: int | None
    rows_checked: int
    agent_id: int | None = None
    seq: int | None = None
    problem: str = ""
    missing: tuple[int, int] | None = None


def verify_chain(
    agent_id: int | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    archive_heads: dict[int, tuple[int, str]] | None = None,
    archive_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check every agent's chain against its head, its archives and the newest checkpoint.

    Per agent (ascending id; every agent, with rows or not):

    - each row's keyed hash (``history.row_hash``, HMAC under ``CC_HISTORY_KEY``) and its link
      to the previous row (``seq`` continuity, ``prev_hash``);
    - the oldest remaining row: ``seq`` 1 starts from the genesis hash; a later ``seq`` is
      accepted only if the archive manifests in ``archive_dir`` (default ``CC_ARCHIVE_DIR``)
      cover seq 1 to the row before it, ending at its ``prev_hash`` — else the missing range is
      reported (``archive_heads``, ``{agent: (seq, hash)}``, adds the older direct check);
    - the chain head on ``Agent``: the last row must be it; rows cut from the end, rows past
      the head, or a head with no rows at all (and no archive ending at it) are reported;
    - the newest signed checkpoint in ``checkpoint_dir`` (default ``CC_CHECKPOINT_DIR``): a head
      behind the checkpoint's, or a row that differs from it, is reported, and so is a newest
      checkpoint file whose signature fails.

    Rows are streamed in (agent, seq) order, in one REPEATABLE READ snapshot on PostgreSQL when
    the caller is not already in a transaction. ``progress`` is called with the number of rows
    checked so far after each chunk of ``chunk_size`` rows, and once at the end.
    """
    from cc_rules.services.audit_archive import archive_ranges
    from cc_rules.services.checkpoints import latest_checkpoint

    checkpoint, checkpoint_problem = latest_checkpoint(checkpoint_dir)
    with _snapshot() as consistent:
        # After the snapshot: an archive that commits later still shows its rows to us, and
        # one that committed before has written its manifest before committing.
        ranges, archive_problems = archive_ranges(Path(archive_dir or settings.CC_ARCHIVE_DIR))
        walk = _Walk(
            chunk_size=chunk_size,
            progress=progress,
            ranges=ranges,
            archive_problems=archive_problems,
            archive_heads=archive_heads,
            checkpoint=checkpoint,
            consistent=consistent,
        )
        result = walk.run(agent_id)
    if result is None and checkpoint_problem:
        result = VerifyResult(
            intact=False, first_broken=None, rows_checked=walk.checked, problem=checkpoint_problem
        )
    if progress is not None:
        progress(walk.checked)
    return result or VerifyResult(intact=True, first_broken=None, rows_checked=walk.checked)


@contextmanager
def _snapshot() -> Iterator[bool]:
    """One consistent snapshot for the walk when we own the transaction (PostgreSQL)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield False
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SELECT 1")  # the snapshot is taken here
        yield True


class _Walk:
    def __init__(self, *, chunk_size, progress, ranges, archive_problems, archive_heads,
                 checkpoint, consistent) -> None:  # fmt: skip
        self.chunk_size = chunk_size
        self.progress = progress
        self.ranges = ranges
        self.archive_problems = archive_problems
        self.archive_heads = archive_heads
        self.checkpoint = checkpoint
        self.consistent = consistent
        self.checked = 0

    def run(self, agent_id: int | None) -> VerifyResult | None:
        agents = Agent.objects.order_by("id")
        rows = StatusChange.objects.order_by("agent_id", "seq")
        if agent_id is not None:
            agents = agents.filter(pk=agent_id)
            rows = rows.filter(agent_id=agent_id)
        heads = {pk: (seq, head) for pk, seq, head in agents.values_list(
            "id", "history_seq", "history_head")}  # fmt: skip
        groups = groupby(rows.iterator(chunk_size=self.chunk_size), key=attrgetter("agent_id"))
        pending = next(groups, None)
        for pk, head in heads.items():
            while pending is not None and pending[0] < pk:  # rows of no agent: cannot be (FK)
                pending = next(groups, None)
            agent_rows: Iterable[StatusChange] = ()
            if pending is not None and pending[0] == pk:
                agent_rows = pending[1]
            result = self.agent(pk, head, agent_rows)
            if result is not None:
                return result
            if agent_rows:
                pending = next(groups, None)
        if self.checkpoint is not None and agent_id is None:
            for pk in sorted(set(self.checkpoint.heads) - set(heads)):
                return self.broken(
                    pk, None, f"agent {pk} is in checkpoint {self.checkpoint.name} but is gone"
                )
        return None

    def broken(self, agent_id, row, problem, missing=None, seq=None) -> VerifyResult:
        return VerifyResult(
            intact=False,
            first_broken=row.pk if row is not None else None,
            rows_checked=self.checked,
            agent_id=agent_id,
            seq=row.seq if row is not None else seq,
            problem=problem,
            missing=missing,
        )

    def agent(self, pk: int, head: tuple[int, str], rows: Iterable[StatusChange]):
        head_seq, head_hash = head
        saved = self.checkpoint.heads.get(pk) if self.checkpoint else None
        prev: StatusChange | None = None
        for row in rows:
            self.checked += 1
            if self.progress is not None and self.checked % self.chunk_size == 0:
                self.progress(self.checked)
            if prev is None:
                problem = link_problem(None, row, self.archive_heads)
                if not problem and row.seq > 1:
                    missing = self.uncovered(pk, row.seq - 1, row.prev_hash)
                    if missing:
                        return self.broken(pk, row, missing[1], missing=missing[0])
            else:
                problem = link_problem(prev, row, None)
            if not problem and not same_hash(row_hash(row), row.hash):
                problem = (
                    "its stored hash does not match its contents under the history key (the "
                    "row was altered, forged or re-hashed without the key)"
                )
            if not problem and row.seq > head_seq:
                head_seq, head_hash = self.fresh_head(pk, head_seq, head_hash)
                if row.seq > head_seq:
                    problem = f"it lies past the agent's chain head (seq {head_seq})"
            if not problem and saved and row.seq == saved[0] and row.hash != saved[1]:
                problem = f"it differs from checkpoint {self.checkpoint.name}"
            if problem:
                return self.broken(pk, row, problem)
            prev = row
        if prev is None:
            if head_seq > 0:
                missing = self.uncovered(pk, head_seq, head_hash)
                if missing:
                    return self.broken(
                        pk,
                        None,
                        f"the agent's chain head is seq {head_seq} but it has no rows: "
                        + missing[1],
                        missing=missing[0],
                        seq=head_seq,
                    )
        elif prev.seq < head_seq:
            return self.broken(
                pk,
                prev,
                f"the chain ends at seq {prev.seq} but the agent's head is seq {head_seq} "
                f"(rows seq {prev.seq + 1}..{head_seq} are missing)",
                missing=(prev.seq + 1, head_seq),
            )
        elif prev.seq == head_seq and prev.hash != head_hash:
            return self.broken(pk, prev, "the last row's hash differs from the agent's chain head")
        if saved and head_seq < saved[0]:
            return self.broken(
                pk,
                prev,
                f"the agent's chain head is seq {head_seq} but checkpoint {self.checkpoint.name} "
                f"({self.checkpoint.created_at:%Y-%m-%d %H:%M:%S} UTC) recorded seq {saved[0]}: "
                f"rows seq {head_seq + 1}..{saved[0]} were cut and the chain wound back",
                missing=(head_seq + 1, saved[0]),
                seq=head_seq,
            )
        return None

    def fresh_head(self, pk: int, seq: int, head: str) -> tuple[int, str]:
        """Outside one snapshot a row past the head may be a write that landed since the head
        was read: read the head again."""
        if self.consistent:
            return seq, head
        return Agent.objects.filter(pk=pk).values_list("history_seq", "history_head").get()

    def uncovered(self, pk: int, last: int, last_hash: str) -> tuple[tuple[int, int], str] | None:
        """``None`` if the archives cover seq 1..``last`` of agent ``pk`` in one linked run
        ending at ``last_hash``; else the missing range and why."""
        covered, covered_hash = 0, GENESIS_HASH
        for first_seq, first_prev, last_seq, last_seq_hash in self.ranges.get(pk, ()):
            if first_seq != covered + 1 or first_prev != covered_hash or covered >= last:
                break
            covered, covered_hash = last_seq, last_seq_hash
        if covered == last and covered_hash == last_hash:
            return None
        note = ""
        if self.archive_problems:
            note = " (manifests failing their checks: " + "; ".join(self.archive_problems) + ")"
        if covered < last:
            return (covered + 1, last), (
                f"rows seq {covered + 1}..{last} are missing and no archive manifest covers "
                f"them{note}"
            )
        return (last, last), (
            f"the archives do not end at seq {last} with the hash the chain continues from: "
            f"rows were cut or altered around seq {last}{note}"
        )


# --- time in status -----------------------------------------------------------------------------
def time_in_status(
    *,
    agent: Agent | int | None = None,
    agents: Iterable[int] | None = None,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    use_sql: bool | None = None,
) -> list[dict]:
    """Seconds per agent, channel and status in ``[since, until)``; see the module docstring.

    ``agent``: one agent (default: all); ``agents``: only these agent ids (``None``: no
    restriction), the caller's scope (``cc_rules.scoping.visible_agent_ids``: a supervisor's
    teams). Returns ``[{"agent": username, "channel": code | None, "status", "seconds": int}]``
    ordered by agent, channel (DND last) and status. ``use_sql`` defaults to "on PostgreSQL";
    the Python path is the SQLite fallback and gives the same result on either database.
    """
    if now is None:
        now = db_now()
    agent_id = agent.pk if isinstance(agent, Agent) else agent
    ids = None if agents is None else sorted(set(agents))
    hi = min(until, now)
    if hi <= since or ids == []:
        return []
    if use_sql is None:
        use_sql = connection.vendor == "postgresql"
    totals = (
        _totals_sql(agent_id, ids, since, hi)
        if use_sql
        else _totals_python(agent_id, ids, since, hi)
    )
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
      AND (%(ids)s::bigint[] IS NULL OR a.id = ANY(%(ids)s::bigint[]))
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


def _totals_sql(
    agent_id: int | None, ids: list[int] | None, lo: datetime, hi: datetime
) -> dict[Key, int]:
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compilation costs seconds on this many-CTE query and saves nothing: its index
        # range scans touch only the window's rows.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_SQL, {"agent": agent_id, "ids": ids, "lo": lo, "hi": hi})
        return {(a, ch, st): int(us) for a, ch, st, us in cursor.fetchall()}


def _totals_python(
    agent_id: int | None, ids: list[int] | None, lo: datetime, hi: datetime
) -> dict[Key, int]:
    """The same computation in Python (SQLite): one pass per ordered stream of rows."""
    totals: dict[Key, int] = defaultdict(int)
    rows = StatusChange.objects.filter(at__lt=hi)
    interactions = Interaction.objects.filter(accepted_at__isnull=False, accepted_at__lt=hi)
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
        interactions = interactions.filter(agent_id=agent_id)
    if ids is not None:
        rows = rows.filter(agent_id__in=ids)
        interactions = interactions.filter(agent_id__in=ids)

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
