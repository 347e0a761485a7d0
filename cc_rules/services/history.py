"""The status ledger's hash chain (R16): what a row's hash covers and how it is computed.

Rows are built and appended by the one writer (``cc_rules.services.ledger``) under the agent's
row lock, which is also the lock on the chain head (``Agent.history_seq``/``history_head``):
two writers for one agent serialise on it, so the chain can never fork. ``at`` is the service's
``now``, read from the database clock once after the locks were taken.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cc_rules.models import StatusChange


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
