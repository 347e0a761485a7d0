"""Signed checkpoints of every agent's chain head, kept outside the database (docs/audit.md).

A checkpoint is a JSON file ``checkpoint-<UTC time>.json`` in ``CC_CHECKPOINT_DIR``:
``{"format", "created_at", "key_id", "heads": [[agent id, seq, hash], …], "signature"}``, where
``signature`` is HMAC-SHA256 under ``CC_HISTORY_KEY`` of the canonical JSON of everything else.
The Celery beat task ``cc_rules.checkpoint_history`` (every ``CC_CHECKPOINT_INTERVAL`` seconds)
and ``manage.py checkpoint_history`` write one. ``verify_chain`` compares the current heads with
the newest checkpoint: a head behind it (rows cut and the head wound back, even consistently and
with the key) or a row that differs from it is reported, and so is a newest checkpoint whose
signature does not match (an edited file). Keep the directory where the database's users cannot
write (another host, an object store with object lock), or its protection is only as good as
theirs.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from cc_rules.models import Agent
from cc_rules.selectors import db_now
from cc_rules.services.history import canonical, history_key, key_id

FORMAT = "cc_rules.checkpoint.v1"
PATTERN = "checkpoint-*.json"


class CheckpointError(Exception):
    """A checkpoint file that is unreadable or whose signature does not match."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    created_at: datetime
    key_id: str
    heads: dict[int, tuple[int, str]]

    @property
    def name(self) -> str:
        return self.path.name


def _sign(body: dict) -> str:
    return hmac.new(history_key(), canonical(body), "sha256").hexdigest()


def write_checkpoint(directory: Path | None = None) -> Checkpoint:
    """Sign and write all agents' heads (one consistent SELECT); returns the checkpoint."""
    directory = Path(directory or settings.CC_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    heads = list(Agent.objects.order_by("id").values_list("id", "history_seq", "history_head"))
    now = db_now().astimezone(UTC)
    body = {
        "format": FORMAT,
        "created_at": now.isoformat(timespec="microseconds"),
        "key_id": key_id(),
        "heads": [[pk, seq, head] for pk, seq, head in heads],
    }
    body["signature"] = _sign(body)
    path = directory / f"checkpoint-{now:%Y%m%dT%H%M%S%fZ}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(body, indent=1))
    os.replace(partial, path)  # a reader never sees half a file
    return Checkpoint(path, now, body["key_id"], {pk: (seq, h) for pk, seq, h in heads})


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in ``path``; ``CheckpointError`` if unreadable or its signature fails."""
    try:
        body = json.loads(path.read_text())
        signature = body.pop("signature")
        if body.get("format") != FORMAT:
            raise CheckpointError(f"unknown format {body.get('format')!r}")
        if body.get("key_id") != key_id():
            raise CheckpointError(
                f"signed with another key (key id {body.get('key_id')}, ours {key_id()})"
            )
        if not hmac.compare_digest(str(signature).encode(), _sign(body).encode()):
            raise CheckpointError("its signature does not match its contents (the file was edited)")
        heads = {int(pk): (int(seq), str(h)) for pk, seq, h in body["heads"]}
        created = datetime.fromisoformat(body["created_at"])
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"unreadable ({exc})") from exc
    return Checkpoint(path, created, body["key_id"], heads)


def checkpoint_files(directory: Path | None = None) -> list[Path]:
    """Checkpoint files, newest first (their names sort by time)."""
    directory = Path(directory or settings.CC_CHECKPOINT_DIR)
    if not directory.is_dir():
        return []
    return sorted(directory.glob(PATTERN), reverse=True)


def latest_checkpoint(directory: Path | None = None) -> tuple[Checkpoint | None, str]:
    """The newest checkpoint, or ``(None, problem)`` when the newest file fails its checks (it
    is not skipped for an older one: an edited newest checkpoint is itself a finding)."""
    files = checkpoint_files(directory)
    if not files:
        return None, ""
    try:
        return read_checkpoint(files[0]), ""
    except CheckpointError as exc:
        return None, f"checkpoint {files[0].name}: {exc}"
