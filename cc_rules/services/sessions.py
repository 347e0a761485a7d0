"""Opening a service call on one agent: lock, clock, rules, live state.

Every service that changes an agent's live state starts with ``open_session``: it locks the
Agent row (``SELECT … FOR UPDATE``; the lock every writer for this agent takes first, so
caps, pending releases and the history chain cannot race), reads ``now`` from the database
clock once after the lock, resolves the effective rules and loads the channel states.

Transactions: a service's ``atomic()`` is the transaction of its work, or, in a request that
carries an ``Idempotency-Key``, a savepoint of the request's transaction (the stored answer
commits with the work, cc_rules/api/idempotency.py). Either way it takes its Agent locks in
ascending id order and never waits on one while holding a lock it took before (routing gives a
candidate back before trying the next: ``offers._route``). A deadlock that still happens (some
path that breaks the order) or a serialization failure rolls the whole transaction back;
``retry_transient`` runs it again, and the API does so for every request
(``IdempotencyMiddleware``), so a client never sees one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import DatabaseError, connection

from cc_rules.choices import Status
from cc_rules.engine.types import AgentLive, EffectiveRules
from cc_rules.models import Agent, AgentChannelState
from cc_rules.selectors import (
    agent_live,
    effective_rules,
    locked_agents,
    open_work_counts,
    session_reads,
)

from .errors import NotFound
from .history import Ctx

log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLSTATEs after which PostgreSQL has rolled the whole transaction back and running it again
# is the documented remedy: deadlock_detected, serialization_failure.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_ATTEMPTS = 5
RETRY_BASE_DELAY = 0.01  # seconds; attempt n sleeps a random time up to base * 2**n (≤ 0.2 s)


def is_transient(exc: BaseException) -> bool:
    """A deadlock victim or a serialization failure (psycopg's ``errors.DeadlockDetected``,
    ``errors.SerializationFailure``; Django raises them as ``OperationalError`` with the
    driver's error as ``__cause__``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
        seen = seen.__cause__
    return False


def retry_transient(call: Callable[[], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
    """``call()``, run again (at most ``attempts`` times in all, after a random pause that
    grows each time: "full jitter", so two victims of one deadlock do not meet again) while it
    fails with a transient error. ``call`` must own its transaction: inside an ``atomic()``
    block the outer transaction is not ours to roll back, so the error is raised at once for
    the block's owner to retry. The last error is raised when the attempts are used up."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except DatabaseError as exc:
            if not is_transient(exc) or attempt == attempts or connection.in_atomic_block:
                raise
            log.info("transient database error (%s); retry %d", exc.__cause__, attempt)
            time.sleep(random.uniform(0, min(0.2, RETRY_BASE_DELAY * 2**attempt)))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class AgentResult:
    """What a service leaves behind for the caller to render, with no further query: the
    agent, the rules in force, the channel rows and the live state as committed. ``channel``
    names the channel the request was about; ``held``: its request was held as pending (202)."""

    agent: Agent
    rules: EffectiveRules
    states: Mapping[str, AgentChannelState]
    live: AgentLive
    channel: str | None = None
    held: bool = False

    @property
    def state(self) -> AgentChannelState | None:
        return self.states.get(self.channel) if self.channel else None


class Session:
    """One agent, locked, with its rules and live state as of ``ctx.now``.

    ``live`` (the engine's view: statuses plus open work per channel) is computed when first
    read (a request that never asks, like accept, never counts open work; the status writers
    call ``before_change()`` first, so it is as of the lock) and kept until something changes:
    ``refresh_live()`` after interactions changed (open work is counted again, one query),
    ``states_changed()`` after only channel states, DND or pending changed (recomputed from the
    rows in hand, no query).
    """

    def __init__(
        self,
        agent: Agent,
        rules: EffectiveRules,
        states: dict[str, AgentChannelState],
        ctx: Ctx,
        *,
        counts: dict[str, tuple[int, int]] | None = None,
        writer: Any = None,
    ) -> None:
        self.agent = agent
        self.writer = writer  # a ledger.Writer; None: an immediate one (a sweeper batch shares one)
        self.rules = rules
        self.states = states
        self.ctx = ctx
        self.counts = counts  # open_work_counts(agent), or None: count when needed
        self.extra: dict[str, Any] = {}
        self._live: AgentLive | None = None

    @property
    def now(self) -> datetime:
        return self.ctx.now

    @property
    def live(self) -> AgentLive:
        if self._live is None:
            if self.counts is None:
                self.counts = open_work_counts(self.agent)
            self._live, _ = agent_live(self.agent, self.states.values(), self.counts)
        return self._live

    def refresh_live(self) -> AgentLive:
        """Interactions changed: count open work again; the new live state."""
        self.counts = None
        self._live = None
        return self.live

    def before_change(self) -> None:
        """A writer is about to change a state row: if ``live`` has not been read yet, compute
        it now, from the states as they were (decisions are made on the state as of the lock)."""
        self.live  # noqa: B018  (the property computes and keeps it)

    def work_changed(self) -> None:
        """Interactions changed: count open work again when ``live`` is next read."""
        self.counts = None
        self._live = None

    def states_changed(self) -> None:
        """Only channel states (or DND) changed: open work is as counted."""
        self._live = None

    def result(self, channel: str | None = None, *, held: bool = False) -> AgentResult:
        """The plain result of this service call (live state computed now, inside it)."""
        return AgentResult(self.agent, self.rules, dict(self.states), self.live, channel, held)

    def state(self, channel: str) -> AgentChannelState:
        """The channel's state row; 404 when the role does not see it (invisible = absent).

        A channel that stopped being visible stays reachable while it has open work
        (DECISIONS.md, "Rules").
        """
        if channel not in self.rules.visible and self.live.channel(channel).open_work == 0:
            raise NotFound("not_found", f"No channel {channel!r} for this agent.", None)
        if channel not in self.states:
            self.states[channel] = _create_state(self.agent, channel, self.now)
        return self.states[channel]


def lock_agents(agent_ids: Iterable[int], *, active_only: bool = True) -> dict[int, Agent]:
    """Lock several agent rows in ascending id order (DECISIONS.md lock order)."""
    found = locked_agents(sorted(set(agent_ids)), active_only=active_only)
    return {a.pk: a for a in found}


def _create_state(agent: Agent, channel: str, now: datetime) -> AgentChannelState:
    return AgentChannelState.objects.create(
        agent=agent, channel_id=channel, status=Status.LOGGED_OFF, since=now
    )


def open_session(
    agent_id: int, *, actor: Any, request_id: str, now: datetime | None = None
) -> Session:
    """Lock the agent, read the clock, resolve rules, load live state. Call inside atomic()."""
    agent = lock_agents([agent_id]).get(agent_id)
    if agent is None:
        raise NotFound("not_found", "No such agent.", None)
    return session_for(agent, actor=actor, request_id=request_id, now=now)


def lock_sessions(
    agent_ids: Iterable[int], *, actor: Any, request_id: str, active_only: bool = True
) -> dict[int, Session]:
    """Lock the agents in id order and open one session each, sharing one ``now`` (read after
    the last lock). 404 if one of them is not an (active, unless ``active_only`` is False)
    agent. Call inside atomic()."""
    ids = sorted(set(agent_ids))
    locked = lock_agents(ids, active_only=active_only)
    if set(ids) - set(locked):
        raise NotFound("not_found", "No such agent.")
    sessions: dict[int, Session] = {}
    now = None
    for agent_id in ids:
        sess = session_for(locked[agent_id], actor=actor, request_id=request_id, now=now)
        now = sess.now
        sessions[agent_id] = sess
    return sessions


def session_for(
    agent: Agent,
    *,
    actor: Any,
    request_id: str,
    now: datetime | None = None,
    writer: Any = None,
) -> Session:
    """Build a Session for an agent whose row the caller has already locked."""
    clock, version, rows = session_reads(agent)
    rules = effective_rules(agent, version)
    ctx = Ctx(actor=actor, request_id=request_id, now=now or clock)  # several agents: one now
    states = {s.channel_id: s for s in rows}
    for code in rules.visible:
        if code not in states:
            states[code] = _create_state(agent, code, ctx.now)
    return Session(agent, rules, states, ctx, writer=writer)
