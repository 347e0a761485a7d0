"""The one writer (ARCHITECTURE.md, "One way for every write"; R16).

This module is the only code that changes a channel's status, pending status, DND or wrap-up
deadline, and the only code that builds a ledger row (``history_row``). Every path calls it:
the API services, the timer sweeper, admin actions and management commands. The caller holds
the agent's row lock (``sessions.open_session``/``lock_sessions``), which is also the lock on
the agent's chain head, so the chain can never fork; the engine has already decided what to do.

A ``Writer`` is how the writes leave:
- ``Writer()`` (every request): each change is written at once, the channel row by one UPDATE
  and the ledger row with its chain head by one statement (``rows.append_history``);
- ``Writer(batch=True)`` (the sweeper: many locked agents share one writer): changes are kept
  and ``flush()`` sends them as three statements for the whole batch (channel rows, ledger rows,
  chain heads). The rows are built by the same code either way, so they are byte-identical.

Both count the rows they write in ``cc_status_changes_total`` (event, cause) once their
transaction commits (cc_rules/metrics.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Protocol

from django_fsm import TransitionNotAllowed

from cc_rules import metrics, rows
from cc_rules.choices import Cause, Event, Status
from cc_rules.engine import reasons
from cc_rules.engine.types import RuleRef, Target
from cc_rules.models import Agent, AgentChannelState, StatusChange

from . import wakeups
from .errors import Refused
from .history import Ctx, row_hash

Rule = RuleRef | str | None


class Session(Protocol):
    """What the writer needs of a locked agent's session (``sessions.Session`` is one): the
    locked agent, who asks and when, where the writes go, and the live-state bookkeeping."""

    agent: Agent
    ctx: Ctx
    writer: Writer | None

    @property
    def now(self) -> datetime: ...

    def before_change(self) -> None: ...

    def states_changed(self) -> None: ...


# Every column a change of live state may touch, for the batch UPDATEs.
STATE_FIELDS = tuple(
    f.attname for f in AgentChannelState._meta.concrete_fields if not f.primary_key
)
AGENT_FIELDS = ("dnd", "dnd_since", "history_seq", "history_head")


class Writer:
    """Where the changes of one service call (or one sweeper batch) go; see the module doc."""

    def __init__(self, *, batch: bool = False) -> None:
        self.batch = batch
        self.written: list[StatusChange] = []  # every ledger row of this writer, in order
        self._states: dict[int, AgentChannelState] = {}
        self._agents: dict[int, Agent] = {}
        self._pending_rows: list[StatusChange] = []

    def save_state(self, state: AgentChannelState) -> None:
        if self.batch:
            self._states[state.pk] = state
        else:
            rows.update(state)  # state.save(), without the ORM's SQL building

    def save_agent(self, agent: Agent, fields: tuple[str, ...]) -> None:
        if self.batch:
            self._agents[agent.pk] = agent
        else:
            rows.update_fields(agent, fields)

    def append(self, agent: Agent, row: StatusChange) -> None:
        self.written.append(row)
        if self.batch:
            self._pending_rows.append(row)
            self._agents[agent.pk] = agent
        else:
            rows.append_history(row, agent)
            _count_on_commit(Counter(((row.event, row.cause),)))

    def flush(self) -> None:
        """Send what a batch writer kept: channel rows, ledger rows, agents (heads, DND)."""
        if self._states:
            rows.update_many(list(self._states.values()), STATE_FIELDS)
        if self._pending_rows:
            StatusChange.objects.bulk_create(self._pending_rows)
            _count_on_commit(Counter((r.event, r.cause) for r in self._pending_rows))
        if self._agents:
            rows.update_many(list(self._agents.values()), AGENT_FIELDS)
        self._states.clear()
        self._pending_rows.clear()
        self._agents.clear()


def _count_on_commit(counts: Counter) -> None:
    """``cc_status_changes_total`` by event and cause, for rows whose transaction commits (a
    batch rolled back and redone row by row is counted once)."""

    def count() -> None:
        for (event, cause), n in counts.items():
            metrics.STATUS_CHANGES.labels(event, cause).inc(n)

    metrics.on_commit(count)


def history_row(
    agent: Agent,
    ctx: Ctx,
    *,
    event: str,
    channel: str | None,
    from_status: str,
    to_status: str,
    reason: str | None,
    cause: str,
    rule: Rule,
    interaction_id: int | None = None,
) -> StatusChange:
    """The one constructor of a ledger row: chained onto ``agent``'s head, which moves to it
    (in memory; the writer stores both). The caller holds the agent's row lock."""
    actor = ctx.actor if ctx.actor is not None and ctx.actor.is_authenticated else None
    row = StatusChange(
        seq=agent.history_seq + 1,
        agent=agent,
        channel_id=channel,
        event=event,
        from_status=from_status or "",
        to_status=to_status or "",
        reason=reason or "",
        cause=cause,
        rule=str(rule) if rule is not None else "",
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        request_id=ctx.request_id or "",
        interaction_id=interaction_id,
        at=ctx.now,
        prev_hash=agent.history_head,
    )
    row.hash = row_hash(row)
    agent.history_seq = row.seq
    agent.history_head = row.hash
    return row


def record(agent: Agent, ctx: Ctx, *, writer: Writer | None = None, **fields: Any) -> StatusChange:
    """Build and append one ledger row (``history_row``'s fields), at once unless ``writer``
    batches. For writes that are not a change of live state (tests, data loading)."""
    row = history_row(agent, ctx, **fields)
    (writer or Writer()).append(agent, row)
    return row


def _writer(sess: Session) -> Writer:
    """The session's writer; an immediate one unless a batch gave it its own."""
    if sess.writer is None:
        sess.writer = Writer()
    return sess.writer


def _append(sess: Session, **fields: Any) -> StatusChange:
    row = history_row(sess.agent, sess.ctx, **fields)
    _writer(sess).append(sess.agent, row)
    return row


def _changed(sess: Session, state: AgentChannelState, event: str, **fields: Any) -> None:
    """A channel row changed: store it, append its ledger row, note that live state moved."""
    _writer(sess).save_state(state)
    _append(sess, event=event, channel=state.channel_id, **fields)
    sess.states_changed()


# -- status ---------------------------------------------------------------------------------------
def set_status(
    sess: Session,
    state: AgentChannelState,
    status: str,
    reason: str | None,
    *,
    cause: str,
    rule: Rule,
    interaction_id: int | None = None,
) -> None:
    """Move one channel to ``status`` by its FSM transition (``AgentChannelState.transition_to``)
    and append the row. Leaving ACW clears the deadline and bumps its version (stale timers do
    nothing). A move no transition allows is refused with ``invalid_transition``."""
    sess.before_change()
    old = state.status
    try:
        state.transition_to(status, reason, sess.now)
    except TransitionNotAllowed:
        raise Refused(
            reasons.INVALID_TRANSITION,
            f"The {state.channel_id} channel cannot go from {old} to {status}.",
            rule,
        ) from None
    _changed(
        sess,
        state,
        Event.STATUS,
        from_status=old,
        to_status=status,
        reason=reason,
        cause=cause,
        rule=rule,
        interaction_id=interaction_id,
    )


def land(
    sess: Session, state: AgentChannelState, target: Target, *, interaction_id: int | None
) -> None:
    """Move a channel to the engine's ``target``. A target that consumes the held pending status
    closes it first with its own row (cause: what released it), so no pending series is left
    open (DECISIONS.md, "Every pending status closes with a row")."""
    if target.from_pending and state.pending_status is not None:
        clear_pending(sess, state, cause=target.cause, rule=target.rule, applied=True)
    elif state.pending_status is not None and target.status == Status.LOGGED_OFF:
        clear_pending(sess, state, cause=target.cause, rule=target.rule)
    set_status(
        sess,
        state,
        target.status,
        target.reason,
        cause=target.cause,
        rule=target.rule,
        interaction_id=interaction_id,
    )


# -- pending (R8) ---------------------------------------------------------------------------------
def hold_pending(
    sess: Session,
    state: AgentChannelState,
    status: str,
    reason: str | None,
    *,
    cause: str,
    rule: Rule,
) -> None:
    """Hold ``status`` as pending on one channel (R8), recorded (``event=pending``)."""
    sess.before_change()
    before = state.pending_status or ""
    state.pending_status = status
    state.pending_reason = reason
    state.pending_requested_at = sess.now
    _changed(
        sess,
        state,
        Event.PENDING,
        from_status=before,
        to_status=status,
        reason=reason,
        cause=cause,
        rule=rule,
    )


def clear_pending(
    sess: Session,
    state: AgentChannelState,
    *,
    cause: str,
    rule: Rule,
    applied: bool = False,
    interaction_id: int | None = None,
) -> None:
    """Close the held pending status with a row: ``applied`` (the channel is about to land in
    it), cancelled by the agent, dropped (``not_released``) or cleared by a supervisor, logout
    or the system. The row's ``reason`` names the pending status's reason."""
    sess.before_change()
    held, held_reason = state.pending_status or "", state.pending_reason
    state.clear_pending()
    _changed(
        sess,
        state,
        Event.PENDING,
        from_status=held,
        to_status=held if applied else "",
        reason=held_reason,
        cause=cause,
        rule=rule,
        interaction_id=interaction_id,
    )


# -- DND (R3) -------------------------------------------------------------------------------------
def set_dnd(sess: Session, enabled: bool, *, cause: str, rule: Rule) -> bool:
    """Switch do-not-disturb over all channels; True if it changed (and a row was written)."""
    agent = sess.agent
    if agent.dnd == enabled:
        return False
    sess.before_change()
    agent.dnd = enabled
    agent.dnd_since = sess.now if enabled else None
    _writer(sess).save_agent(agent, ("dnd", "dnd_since"))
    _append(
        sess,
        event=Event.DND,
        channel=None,
        from_status="off" if enabled else "on",
        to_status="on" if enabled else "off",
        reason=None,
        cause=cause,
        rule=rule,
    )
    sess.states_changed()
    return True


# -- wrap-up (R14, R15) ---------------------------------------------------------------------------
def start_wrap_up(
    sess: Session,
    state: AgentChannelState,
    *,
    interaction_id: int,
    seconds: int | None,
    rule: Rule,
) -> None:
    """ACW for ``interaction_id``'s end: enter it (with a row), or, when the channel already is
    in ACW (work opened during ACW ended), start the wrap-up over for that work (no row). The
    deadline's wake-up is scheduled after commit."""
    if state.status == Status.AFTER_CALL_WORK:
        sess.before_change()
        state.clear_wrap_up()
    else:
        set_status(
            sess,
            state,
            Status.AFTER_CALL_WORK,
            None,
            cause=Cause.SYSTEM,
            rule=rule,
            interaction_id=interaction_id,
        )
    state.wrap_up_interaction_id = interaction_id
    if seconds:
        state.wrap_up_deadline = sess.now + timedelta(seconds=seconds)
    _writer(sess).save_state(state)
    wakeups.schedule_wrap_up(state)


def extend_wrap_up(sess: Session, state: AgentChannelState) -> None:
    """R15: ACW without a deadline until done or a manual status (the interaction stays)."""
    if state.wrap_up_extended:
        return
    sess.before_change()
    interaction_id = state.wrap_up_interaction_id
    state.clear_wrap_up()
    state.wrap_up_interaction_id = interaction_id
    state.wrap_up_extended = True
    _writer(sess).save_state(state)


def cancel_wrap_up_deadline(sess: Session, state: AgentChannelState) -> None:
    """Done with ``after_done = manual``: the timer no longer ends ACW; the agent does."""
    if state.wrap_up_deadline is None:
        return
    sess.before_change()
    state.clear_wrap_up()
    _writer(sess).save_state(state)


def mark_idle(sess: Session, state: AgentChannelState) -> None:
    """The channel's last open work ended while ready: longest-idle counts from now."""
    state.idle_since = sess.now
    _writer(sess).save_state(state)
