"""Firing due wrap-up timers (R14): one at a time, or in batches with bulk writes.

Used by ``cc_rules.services.timers`` (the wake-up task and the sweeper). Every path re-checks
the row under its agent's lock: still in ACW, same version, deadline passed by the database
clock read after the lock. So a row fires at most once, never early.

- ``fire_one``: one row, waiting for the agent's lock: ``wrap_up.leave_wrap_up`` with the
  session's own (immediate) writer.
- ``fire_all_due``: claims due rows in batches (``FOR UPDATE OF agent SKIP LOCKED``) and fires
  each batch with four reads and three writes in total: the same ``leave_wrap_up`` for every
  row, the sessions sharing one batch writer (``ledger.Writer(batch=True)``), so both paths
  write byte-identical rows. A batch that fails is rolled back and its rows go through
  ``fire_one`` one by one.

Both observe ``cc_wrap_up_lateness_seconds`` (fired minus deadline, by source ``timer`` or
``sweep``) for each timer whose firing commits.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from datetime import datetime

from django.db import transaction

from cc_rules import metrics
from cc_rules.choices import OPEN_STATES, Status
from cc_rules.models import Agent, AgentChannelState, Interaction
from cc_rules.selectors import db_now, rule_index

from .history import Ctx
from .ledger import Writer
from .sessions import Session, session_for
from .wrap_up import leave_wrap_up

log = logging.getLogger(__name__)

# A wake-up or sweep stops claiming batches after this long and leaves the rest to the next
# one, so no task outlives a worker's warm shutdown (``serve`` allows 15 s) in a flood.
FIRE_BUDGET_SECONDS = 10.0


def fire_one(state_id: int, version: int, *, source: str, now: datetime | None = None) -> bool:
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
        rid = _request_id(source, state_id, version)
        sess = session_for(agent, actor=None, request_id=rid, now=now)
        return _fire_if_due(sess, state_id, version, source)


def _fire_if_due(sess: Session, state_id: int, version: int, source: str) -> bool:
    """Under the agent's lock: leave ACW by the timer if the row is still due at ``version``.

    ``sess.now`` was read after the lock, so "due" is judged by the database clock the deadline
    was written with: a timer never fires early.
    """
    state = next((s for s in sess.states.values() if s.pk == state_id), None)
    if state is None or not _is_due(state, version, sess.now):
        return False
    lateness = _lateness(state, sess.now)
    if not leave_wrap_up(sess, state, "timer", interaction_id=state.wrap_up_interaction_id):
        return False
    _observe_lateness(source, [lateness])
    return True


def fire_all_due(batch: int, *, source: str, now: datetime | None = None) -> set[tuple[int, int]]:
    """Fire due wrap-up timers batch after batch until none is left (or the time budget ends).

    A short batch means nothing else is due (or the rest is locked by another sweep, which will
    fire it). A full batch that fired nothing was all stale (another sweep fired it while we
    claimed): stop rather than spin; the next sweep comes within a period.
    """
    fired: set[tuple[int, int]] = set()
    give_up = time.monotonic() + FIRE_BUDGET_SECONDS
    while True:
        claimed, batch_fired = _fire_due_batch(batch, source=source, now=now)
        fired |= batch_fired
        if claimed < batch or not batch_fired or time.monotonic() > give_up:
            return fired


def _fire_due_batch(
    batch: int, *, source: str, now: datetime | None = None
) -> tuple[int, set[tuple[int, int]]]:
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
                .filter(wrap_up_deadline__lte=now or db_now(), status=Status.AFTER_CALL_WORK)
                .order_by("wrap_up_deadline")[:batch]
            )
            claimed = [(row.pk, row.wrap_up_version) for row in due]
            if not due:
                return 0, set()
            sessions = _locked_sessions({row.agent_id: row.agent for row in due}, now)
            return len(due), _leave_wrap_up_by_timer(sessions, due, source)
    except Exception:
        log.exception("a batch of %s wrap-up timers failed; firing them one by one", len(claimed))
    fired = set()
    for pk, version in claimed:
        try:
            if fire_one(pk, version, source=source, now=now):
                fired.add((pk, version))
        except Exception:
            log.exception(
                "wrap-up timer of state %s (version %s) failed; retried next sweep", pk, version
            )
    return len(claimed), fired


def _locked_sessions(agents: dict[int, Agent], now: datetime | None) -> dict[int, Session]:
    """Sessions for agents this transaction has locked, read with four queries for all of them.

    The batch form of ``sessions.session_for`` (same rules, states and live state; one ``now``
    read after the locks; a given ``now``: that instant, for tests that compare paths). An
    agent missing a state row for a visible channel goes through
    ``session_for``, which creates it.
    """
    now = now or db_now()
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


def _leave_wrap_up_by_timer(
    sessions: dict[int, Session], due: list[AgentChannelState], source: str
) -> set[tuple[int, int]]:
    """The timer exit for a batch: ``wrap_up.leave_wrap_up`` for every due row, the same call a
    single fire makes, with one batch writer shared by all the sessions (``ledger.Writer``) and
    flushed once. Returns the fired (id, version)."""
    writer = Writer(batch=True)
    fired: set[tuple[int, int]] = set()
    late: list[float] = []
    for row in due:
        sess = sessions[row.agent_id]
        state = sess.states.get(row.channel_id)
        if state is None or state.pk != row.pk or not _is_due(state, row.wrap_up_version, sess.now):
            continue
        sess.writer = writer
        sess.ctx = Ctx(None, _request_id(source, row.pk, row.wrap_up_version), sess.now)
        lateness = _lateness(state, sess.now)
        if leave_wrap_up(sess, state, "timer", interaction_id=state.wrap_up_interaction_id):
            fired.add((row.pk, row.wrap_up_version))
            late.append(lateness)
    writer.flush()
    _observe_lateness(source, late)
    return fired


def _lateness(state: AgentChannelState, now: datetime) -> float:
    """Seconds from the deadline to the firing (the database clock read after the lock)."""
    return (now - state.wrap_up_deadline).total_seconds()


def _observe_lateness(source: str, lateness: list[float]) -> None:
    """``cc_wrap_up_lateness_seconds`` for timers whose firing commits."""
    if not lateness:
        return

    def observe() -> None:
        histogram = metrics.WRAP_UP_LATENESS.labels(source)
        for seconds in lateness:
            histogram.observe(seconds)

    metrics.on_commit(observe)


def _request_id(source: str, state_id: int, version: int) -> str:
    """The request id a timer's ledger row carries (the same on every firing path)."""
    return f"{source}:{state_id}:{version}"


def _is_due(state: AgentChannelState, version: int, now: datetime) -> bool:
    return (
        state.status == Status.AFTER_CALL_WORK
        and state.wrap_up_version == version
        and state.wrap_up_deadline is not None
        and state.wrap_up_deadline <= now
    )
