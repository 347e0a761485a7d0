"""Firing due wrap-up timers (R14): one at a time, or in batches with bulk writes.

Used by ``cc_rules.services.timers`` (the wake-up task and the sweeper). Every path re-checks
the row under its agent's lock: still in ACW, same version, deadline passed by the database
clock read after the lock. So a row fires at most once, never early.

- ``fire_one``: the services' own path (``interactions.leave_wrap_up`` → ``status.apply_status``
  → ``history.record``) for one row, waiting for the agent's lock.
- ``fire_all_due``: claims due rows in batches (``FOR UPDATE OF agent SKIP LOCKED``) and fires
  each batch with four reads and three writes in total, mirroring that path exactly
  (``test_a_batch_fire_writes_what_a_single_fire_writes`` keeps the two equal). A batch that
  fails is rolled back and its rows go through ``fire_one`` one by one.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from datetime import datetime

from django.db import connection, transaction

from cc_rules.choices import OPEN_STATES, Event, Status
from cc_rules.engine import decide
from cc_rules.engine.types import Target
from cc_rules.models import Agent, AgentChannelState, Interaction, StatusChange
from cc_rules.selectors import db_now, rule_index

from .history import Ctx, row_hash
from .sessions import Session, session_for

log = logging.getLogger(__name__)

# A wake-up or sweep stops claiming batches after this long and leaves the rest to the next
# one, so no task outlives a worker's warm shutdown (``serve`` allows 15 s) in a flood.
FIRE_BUDGET_SECONDS = 10.0


def fire_one(state_id: int, version: int, *, source: str) -> bool:
    """Fire one row in its own transaction, waiting for its agent's lock (``FOR UPDATE``).

    A row that no longer has a deadline at ``version`` is recognised by one indexed read and
    takes no lock.
    """
    agent_id = (
        AgentChannelState.objects.filter(
            pk=state_id, wrap_up_version=version, wrap_up_deadline__isnull=False
        )
        .values_list("agent_id", flat=True)
        .first()
    )
    if agent_id is None:
        return False
    with transaction.atomic():
        agent = Agent.objects.select_for_update(of=("self",)).filter(pk=agent_id).first()
        if agent is None:
            return False
        sess = session_for(agent, actor=None, request_id=f"{source}:{state_id}:{version}")
        return _fire_if_due(sess, state_id, version)


def _fire_if_due(sess: Session, state_id: int, version: int) -> bool:
    """Under the agent's lock: leave ACW by the timer if the row is still due at ``version``.

    ``sess.now`` was read after the lock, so "due" is judged by the database clock the deadline
    was written with: a timer never fires early.
    """
    from .interactions import leave_wrap_up

    state = next((s for s in sess.states.values() if s.pk == state_id), None)
    if state is None or not _is_due(state, version, sess.now):
        return False
    return leave_wrap_up(sess, state, "timer", interaction_id=state.wrap_up_interaction_id)


def fire_all_due(batch: int, *, source: str) -> set[tuple[int, int]]:
    """Fire due wrap-up timers batch after batch until none is left (or the time budget ends).

    A short batch means nothing else is due (or the rest is locked by another sweep, which will
    fire it). A full batch that fired nothing was all stale (another sweep fired it while we
    claimed): stop rather than spin; the next sweep comes within a period.
    """
    fired: set[tuple[int, int]] = set()
    give_up = time.monotonic() + FIRE_BUDGET_SECONDS
    while True:
        claimed, batch_fired = _fire_due_batch(batch, source=source)
        fired |= batch_fired
        if claimed < batch or not batch_fired or time.monotonic() > give_up:
            return fired


def _fire_due_batch(batch: int, *, source: str) -> tuple[int, set[tuple[int, int]]]:
    """Claim up to ``batch`` due rows and fire them in one transaction.

    Returns how many rows were claimed and the (id, version) of each timer fired.

    Lock: ``FOR UPDATE OF agent SKIP LOCKED`` on the due rows' agents, which never waits, so the
    claim cannot deadlock with a request that holds an agent and waits for nothing we hold.
    ``now`` is read once after the locks. Reads and writes are done for the whole batch: four
    queries to read (now, rules version, states, open work) and three to write (states, history
    rows, chain heads), however many rows it fires. If anything fails, the batch is rolled back
    and its rows are fired one by one through the ordinary services.
    """
    claimed: list[tuple[int, int]] = []
    try:
        with transaction.atomic():
            due = list(
                AgentChannelState.objects.select_related("agent")
                .select_for_update(skip_locked=True, of=("agent",))
                .filter(wrap_up_deadline__lte=db_now(), status=Status.AFTER_CALL_WORK)
                .order_by("wrap_up_deadline")[:batch]
            )
            claimed = [(row.pk, row.wrap_up_version) for row in due]
            if not due:
                return 0, set()
            sessions = _locked_sessions({row.agent_id: row.agent for row in due})
            return len(due), _leave_wrap_up_by_timer(sessions, due, source)
    except Exception:
        log.exception("a batch of %s wrap-up timers failed; firing them one by one", len(claimed))
    fired = set()
    for pk, version in claimed:
        try:
            if fire_one(pk, version, source=source):
                fired.add((pk, version))
        except Exception:
            log.exception(
                "wrap-up timer of state %s (version %s) failed; retried next sweep", pk, version
            )
    return len(claimed), fired


def _locked_sessions(agents: dict[int, Agent]) -> dict[int, Session]:
    """Sessions for agents this transaction has locked, read with four queries for all of them.

    The batch form of ``sessions.session_for`` (same rules, states and live state; one ``now``
    read after the locks). An agent missing a state row for a visible channel goes through
    ``session_for``, which creates it.
    """
    now = db_now()
    index = rule_index()
    states: dict[int, dict[str, AgentChannelState]] = defaultdict(dict)
    for row in AgentChannelState.objects.filter(agent_id__in=agents):
        states[row.agent_id][row.channel_id] = row
    open_work: dict[int, Counter] = defaultdict(Counter)
    counting: dict[int, Counter] = defaultdict(Counter)
    for agent_id, channel, counts in Interaction.objects.filter(
        agent_id__in=agents, state__in=OPEN_STATES
    ).values_list("agent_id", "channel_id", "counts_toward_cap"):
        open_work[agent_id][channel] += 1
        counting[agent_id][channel] += int(counts)
    sessions = {}
    for agent_id, agent in agents.items():
        rules = index.resolve(agent_id, agent.role_id)
        rows = states[agent_id]
        if not rules.visible <= rows.keys():
            sessions[agent_id] = session_for(agent, actor=None, request_id="", now=now)
            continue
        work, count = open_work[agent_id], counting[agent_id]
        counts = {code: (count[code], work[code]) for code in work}
        sessions[agent_id] = Session(agent, rules, rows, Ctx(None, "", now), counts=counts)
    return sessions


# Every field an FSM transition out of ACW may change (``AgentChannelState._enter`` & co.).
_STATE_FIELDS = [
    "status",
    "reason",
    "since",
    "pending_status",
    "pending_reason",
    "pending_requested_at",
    "pre_acw_reason",
    "wrap_up_interaction",
    "wrap_up_deadline",
    "wrap_up_version",
    "wrap_up_extended",
    "idle_since",
]


def _leave_wrap_up_by_timer(
    sessions: dict[int, Session], due: list[AgentChannelState], source: str
) -> set[tuple[int, int]]:
    """The timer exit of ``leave_wrap_up`` for a batch, with bulk writes; the fired (id, version).

    Same decision (``decide.acw_exit``), same FSM transitions and same history rows as
    ``interactions.leave_wrap_up`` → ``status.apply_status`` → ``history.record``, which fire a
    single timer; only the writes are collected and sent as three statements. The test
    ``test_a_batch_fire_writes_what_a_single_fire_writes`` keeps the two paths equal.
    """
    changed: list[AgentChannelState] = []
    history: list[StatusChange] = []
    heads: dict[int, Agent] = {}
    fired: set[tuple[int, int]] = set()
    for row in due:
        sess = sessions[row.agent_id]
        state = sess.states.get(row.channel_id)
        if state is None or state.pk != row.pk or not _is_due(state, row.wrap_up_version, sess.now):
            continue
        target = decide.acw_exit(sess.rules, sess.live.channel(state.channel_id), "timer").target
        if target is None or target.status == Status.AFTER_CALL_WORK:
            continue
        interaction_id = state.wrap_up_interaction_id
        old_status = state.status
        if target.from_pending:
            state.clear_pending()
        if target.status == Status.READY:
            state.make_ready(sess.now)
        elif target.status == Status.NOT_READY:
            state.make_not_ready(target.reason, sess.now)
        else:
            state.log_off(sess.now)
        changed.append(state)
        ctx = Ctx(None, f"{source}:{row.pk}:{row.wrap_up_version}", sess.now)
        history.append(
            _history_row(sess.agent, ctx, state.channel_id, old_status, target, interaction_id)
        )
        heads[sess.agent.pk] = sess.agent
        fired.add((row.pk, row.wrap_up_version))
    if changed:
        _save_fields(changed, _STATE_FIELDS)
        StatusChange.objects.bulk_create(history)
        _save_fields(list(heads.values()), ["history_seq", "history_head"])
    return fired


def _save_fields(rows: list, names: list[str]) -> None:
    """``UPDATE … SET <names> WHERE pk`` for each row, as one ``executemany``.

    psycopg 3 pipelines it (one round trip), and it skips the per-row expression building that
    makes ``QuerySet.bulk_update`` cost more CPU than the saves it replaces. Like
    ``bulk_update``, it sends no signals (none are connected to these fields).
    """
    meta = rows[0]._meta
    fields = [meta.get_field(name) for name in names]
    qn = connection.ops.quote_name
    assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    sql = f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s"
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _is_due(state: AgentChannelState, version: int, now: datetime) -> bool:
    return (
        state.status == Status.AFTER_CALL_WORK
        and state.wrap_up_version == version
        and state.wrap_up_deadline is not None
        and state.wrap_up_deadline <= now
    )


def _history_row(
    agent: Agent, ctx: Ctx, channel: str, old: str, target: Target, interaction_id: int | None
) -> StatusChange:
    """The row ``history.record`` appends for this change, chained onto ``agent``'s head."""
    row = StatusChange(
        seq=agent.history_seq + 1,
        agent=agent,
        channel_id=channel,
        event=Event.STATUS,
        from_status=old,
        to_status=target.status,
        reason=target.reason or "",
        cause=target.cause,
        rule=str(target.rule) if target.rule is not None else "",
        actor=None,
        actor_name="",
        request_id=ctx.request_id,
        interaction_id=interaction_id,
        at=ctx.now,
        prev_hash=agent.history_head,
    )
    row.hash = row_hash(row)
    agent.history_seq = row.seq
    agent.history_head = row.hash
    return row
