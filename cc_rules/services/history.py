"""The status ledger's hash chain (R16): what a row's hash covers and how it is computed.

Rows are built and appended by the one writer (``cc_rules.services.ledger``) under the agent's
row lock, which is also the lock on the chain head (``Agent.history_seq``/``history_head``):
two writers for one agent serialise on it, so the chain can never fork. ``at`` is the service's
``now``, read from the database clock once after the locks were taken.

A row's hash is HMAC-SHA256 of its canonical fields under ``CC_HISTORY_KEY`` (the environment,
never the database), so rows edited and re-hashed forward by someone without the key no longer
verify. Rows written before the key existed (plain SHA-256) were re-chained under the key by
migration 0006; only archive files of format v1 keep plain SHA-256 (docs/audit.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from cc_rules.models import StatusChange
from cc_rules.models.agents import GENESIS_HASH


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


def history_key() -> bytes:
    """``CC_HISTORY_KEY`` as bytes; refuses to hash with no key (production without the key)."""
    key = settings.CC_HISTORY_KEY
    if not key:
        raise ImproperlyConfigured(
            "CC_HISTORY_KEY is not set: the status ledger cannot be written or verified."
        )
    return key.encode()


def key_id(key: bytes | None = None) -> str:
    """A short public fingerprint of the key (which key signed a checkpoint), not the key."""
    return hmac.new(key or history_key(), b"cc_rules key id", hashlib.sha256).hexdigest()[:16]


def keyed_hash(fields: dict[str, Any], key: bytes | None = None) -> str:
    """HMAC-SHA256 of the canonical fields under the history key."""
    return hmac.new(key or history_key(), canonical(fields), hashlib.sha256).hexdigest()


def plain_hash(fields: dict[str, Any]) -> str:
    """The pre-0006 hash (unkeyed SHA-256): only archive files of format v1 use it."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def row_hash(row: StatusChange) -> str:
    return keyed_hash(row_fields(row))


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def link_problem(
    prev: StatusChange | None,
    row: StatusChange,
    archive_heads: dict[int, tuple[int, str]] | None,
) -> str:
    """Why ``row`` does not continue the chain after ``prev`` (its agent's previous row, or
    ``None`` for the oldest one present), or ``""``: verify and the archive both check links
    with it."""
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
