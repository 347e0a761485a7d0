"""Appending to the status ledger (R16): one row per change, hash-chained per agent.

The caller holds the agent's row lock (``select_for_update``), which is also the lock on the
chain head (``Agent.history_seq``/``history_head``): two writers for one agent serialise on it,
so the chain can never fork. ``at`` is the service's ``now``, read from the database clock once
after the locks were taken.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from cc_rules import rows
from cc_rules.models import Agent, StatusChange


@dataclass(frozen=True)
class Ctx:
    """Who asks, under which request id, and the one ``now`` of this service call."""

    actor: Any  # a User or None (system, timers)
    request_id: str
    now: datetime


def canonical(fields: dict[str, Any]) -> bytes:
    """The canonical encoding hashed for a row: sorted-key compact JSON, UTC microseconds."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_fields(row: StatusChange) -> dict[str, Any]:
    at = row.at.astimezone(UTC).isoformat(timespec="microseconds")
    return {
        "seq": row.seq,
        "agent": row.agent_id,
        "channel": row.channel_id or "",
        "event": row.event,
        "from": row.from_status,
        "to": row.to_status,
        "reason": row.reason,
        "cause": row.cause,
        "rule": row.rule,
        "actor": row.actor_id,
        "actor_name": row.actor_name,
        "request_id": row.request_id,
        "interaction": row.interaction_id,
        "at": at,
        "prev": row.prev_hash,
    }


def row_hash(row: StatusChange) -> str:
    return hashlib.sha256(canonical(row_fields(row))).hexdigest()


def record(
    agent: Agent,
    ctx: Ctx,
    *,
    event: str,
    channel: str | None,
    from_status: str,
    to_status: str,
    reason: str | None,
    cause: str,
    rule: Any,
    interaction_id: int | None = None,
) -> StatusChange:
    """Append one row to ``agent``'s chain. The caller must hold the agent's row lock."""
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
    _append(row, agent)
    agent.history_seq = row.seq
    agent.history_head = row.hash
    return row


def _append(row: StatusChange, agent: Agent) -> None:
    """INSERT the row and move the agent's chain head to it: on PostgreSQL in one statement (a
    data-modifying WITH), elsewhere in two. Fixed SQL (cc_rules/rows.py): the ORM's insert cost
    more Python than the database spent on it."""
    if connection.vendor != "postgresql":
        rows.insert(row)
        Agent.objects.filter(pk=agent.pk).update(history_seq=row.seq, history_head=row.hash)
        return
    insert, values = rows.insert_statement(row)
    found = rows.fetch_one(
        f"WITH appended AS ({insert} RETURNING id) UPDATE {rows.table(Agent)} "
        f"SET history_seq = %s, history_head = %s WHERE id = %s "
        f"RETURNING (SELECT id FROM appended)",
        [*values, row.seq, row.hash, agent.pk],
    )
    rows.saved(row, found[0])
