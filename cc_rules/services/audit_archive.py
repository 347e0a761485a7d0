"""Archiving the status ledger (R16): rows older than the retention go to a verified file.

The ``archive_history`` command is the one documented way rows leave the ledger (DECISIONS.md,
"Engineering"; docs/audit.md): on PostgreSQL it deletes through the SECURITY DEFINER function
``cc_rules_archive_history`` owned by the role ``cc_rules_archiver``, the only ``current_user``
the protect trigger lets DELETE; the function deletes only a prefix of one agent's chain ending
at the archived head.

File format (``cc_rules.history.v2``): gzip'd JSON lines. ``{"kind": "row", "id",
"agent_username", "hash", "fields"}`` per row in (agent, seq) order, where ``fields`` is exactly
``cc_rules.services.history.row_fields(row)`` (so ``HMAC-SHA256(key, canonical(fields)) ==
hash``; format v1, written before migration 0006, used plain SHA-256), then
one ``{"kind": "head", "agent", "username", "seq", "hash", "rows"}`` per agent: the chain head
the remaining rows continue from. A ``.manifest.json`` beside it holds the file's SHA-256, the
row count, the cutoff and the same heads.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Max, Min, Q

from cc_rules.models import Agent, StatusChange
from cc_rules.models.guards import ARCHIVE_FUNCTION
from cc_rules.services.history import (
    keyed_hash,
    link_problem,
    plain_hash,
    row_fields,
    row_hash,
    same_hash,
)

CHUNK_SIZE = 2000
ARCHIVE_FORMAT = "cc_rules.history.v2"  # row hashes keyed (HMAC-SHA256)
FORMATS = {"cc_rules.history.v1": plain_hash, ARCHIVE_FORMAT: keyed_hash}


class ArchiveError(Exception):
    """The archive could not be written or verified; nothing was deleted."""


@dataclass(frozen=True)
class ArchiveResult:
    rows: int
    path: Path | None
    manifest: Path | None
    heads: dict[int, tuple[int, str]]


def archive_history(*, before: datetime, out_dir: Path, now: datetime) -> ArchiveResult:
    """Move every row older than ``before`` into a gzip'd JSON-lines file, then delete them.

    The one documented bypass of the ledger's protection (DECISIONS.md, "Engineering"). In one
    transaction (serialised with other archivers by an advisory lock on PostgreSQL):

    1. per agent, the rows to archive must be a prefix of its chain (else refuse: a row older
       than the cutoff after a newer one would leave a hole), and each is re-hashed and linked
       while it is written, so a broken chain is never archived as if it were sound;
    2. the file ends with one ``head`` line per agent (seq and hash of its last archived row),
       and a manifest beside it records the file's SHA-256, the row count and the heads;
    3. the file is read back: digest, row count, every hash and link, and the heads must match;
    4. only then are exactly the archived rows deleted, on PostgreSQL per agent through the
       archiving function (the protect trigger's one door); any other count rolls everything
       back.

    On any failure the file and manifest are removed and no row is deleted.
    """
    if before > now:
        raise ArchiveError("The cutoff is in the future; rows still being written would go.")
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{before:%Y%m%dT%H%M%SZ}-{now:%Y%m%dT%H%M%S%fZ}"
    path = out_dir / f"history-before-{stamp}.jsonl.gz"
    manifest = out_dir / f"history-before-{stamp}.manifest.json"
    old = Q(at__lt=before)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('cc_rules.archive'))")
            stats = (
                StatusChange.objects.values("agent_id")
                .annotate(
                    n_old=Count("id", filter=old),
                    max_old=Max("seq", filter=old),
                    first=Min("seq"),
                )
                .filter(n_old__gt=0)
            )
            expected = 0
            for s in stats:
                if s["n_old"] != s["max_old"] - s["first"] + 1:
                    raise ArchiveError(
                        f"agent {s['agent_id']}: the rows before the cutoff are not a prefix of "
                        "its chain (run verify_history); nothing was archived"
                    )
                expected += s["n_old"]
            if expected == 0:
                return ArchiveResult(rows=0, path=None, manifest=None, heads={})
            heads = _write_archive(path, StatusChange.objects.filter(old))
            rows = sum(h[2] for h in heads.values())
            if rows != expected:
                raise ArchiveError(f"wrote {rows} rows but {expected} are older than the cutoff")
            digest = _sha256(path)
            manifest.write_text(
                json.dumps(
                    {
                        "format": ARCHIVE_FORMAT,
                        "file": path.name,
                        "sha256": digest,
                        "rows": rows,
                        "before": before.isoformat(),
                        "created_at": now.isoformat(),
                        "heads": [
                            {"agent": a, "username": u, "seq": seq, "hash": h, "rows": n}
                            for a, (seq, h, n, u) in sorted(heads.items())
                        ],
                    },
                    indent=2,
                )
            )
            read_back = read_archive(manifest)
            if read_back != {a: (seq, h) for a, (seq, h, _n, _u) in heads.items()}:
                raise ArchiveError("the archive read back does not match what was written")
            deleted = _delete_archived(
                {a: (seq, h) for a, (seq, h, _n, _u) in heads.items()},
                StatusChange.objects.filter(old),
            )
            if deleted != rows:
                raise ArchiveError(f"{deleted} rows matched for deletion, {rows} were archived")
    except BaseException:
        path.unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
        raise
    return ArchiveResult(
        rows=rows,
        path=path,
        manifest=manifest,
        heads={a: (seq, h) for a, (seq, h, _n, _u) in heads.items()},
    )


def _delete_archived(heads: dict[int, tuple[int, str]], rows) -> int:
    """Delete each agent's archived prefix (through its archived head)."""
    if connection.vendor != "postgresql":
        return rows.delete()[0]
    deleted = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure(%s)", [f"{ARCHIVE_FUNCTION}(bigint, bigint, text)"])
        if cursor.fetchone()[0] is None:
            raise ArchiveError(
                f"the archiving function {ARCHIVE_FUNCTION} is missing: a superuser must create "
                "it (docs/audit.md, 'The archiving role')"
            )
        for agent, (seq, head) in sorted(heads.items()):
            try:
                cursor.execute(f"SELECT {ARCHIVE_FUNCTION}(%s, %s, %s)", [agent, seq, head])
            except DatabaseError as exc:  # e.g. this role may not execute it (docs/audit.md)
                raise ArchiveError(f"the archiving function refused: {exc}") from exc
            deleted += cursor.fetchone()[0]
    return deleted


def _write_archive(path: Path, rows) -> dict[int, tuple[int, str, int, str]]:
    """Stream ``rows`` into ``path``; return ``{agent: (seq, hash, count, username)}``."""
    names = dict(Agent.objects.values_list("id", "user__username"))
    heads: dict[int, tuple[int, str, int, str]] = {}
    prev: StatusChange | None = None
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for row in rows.order_by("agent_id", "seq").iterator(chunk_size=CHUNK_SIZE):
            if prev is not None and prev.agent_id != row.agent_id:
                prev = None
            problem = link_problem(prev, row, None)
            if not problem and row_hash(row) != row.hash:
                problem = "its stored hash does not match its contents"
            if problem:
                raise ArchiveError(f"row {row.pk} (agent {row.agent_id}, seq {row.seq}): {problem}")
            username = names.get(row.agent_id, "")
            line = {
                "kind": "row",
                "id": row.pk,
                "agent_username": username,
                "hash": row.hash,
                "fields": row_fields(row),
            }
            out.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
            count = heads[row.agent_id][2] + 1 if row.agent_id in heads else 1
            heads[row.agent_id] = (row.seq, row.hash, count, username)
            prev = row
        for agent, (seq, h, n, username) in sorted(heads.items()):
            head = {"kind": "head", "agent": agent, "username": username, "seq": seq, "hash": h}
            out.write(json.dumps({**head, "rows": n}, sort_keys=True, separators=(",", ":")))
            out.write("\n")
    return heads


def read_archive(manifest_path: Path) -> dict[int, tuple[int, str]]:
    """Check an archive against its manifest and return its heads ``{agent: (seq, hash)}``.

    Checks the SHA-256 of the file, that every row's hash matches its fields, that each agent's
    rows are a contiguous, linked run, and that the ``head`` lines, the manifest's heads and
    the row count all agree. Raises ``ArchiveError`` on the first mismatch.
    """
    return _read(manifest_path)[0]


Range = tuple[int, str, int, str]  # (first seq, its prev_hash, last seq, its hash)


def _read(manifest_path: Path) -> tuple[dict[int, tuple[int, str]], dict[int, Range]]:
    """``read_archive``'s checks; returns the heads and each agent's archived range."""
    manifest = json.loads(manifest_path.read_text())
    path = manifest_path.parent / manifest["file"]
    hash_of = FORMATS.get(manifest.get("format"))
    if hash_of is None:
        raise ArchiveError(f"{manifest_path.name}: unknown format {manifest.get('format')!r}")
    if _sha256(path) != manifest["sha256"]:
        raise ArchiveError(f"{path.name}: SHA-256 differs from the manifest")
    last: dict[int, tuple[int, str]] = {}
    first: dict[int, tuple[int, str]] = {}
    counts: dict[int, int] = defaultdict(int)
    file_heads: dict[int, tuple[int, str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            line = json.loads(text)
            if line["kind"] == "head":
                file_heads[line["agent"]] = (line["seq"], line["hash"])
                continue
            fields = line["fields"]
            agent, seq = fields["agent"], fields["seq"]
            if not same_hash(hash_of(fields), line["hash"]):
                raise ArchiveError(f"{path.name} line {number}: row {line['id']} hash mismatch")
            if agent in last and (seq, fields["prev"]) != (last[agent][0] + 1, last[agent][1]):
                raise ArchiveError(f"{path.name} line {number}: row {line['id']} breaks the chain")
            last[agent] = (seq, line["hash"])
            first.setdefault(agent, (seq, fields["prev"]))
            counts[agent] += 1
    manifest_heads = {h["agent"]: (h["seq"], h["hash"]) for h in manifest["heads"]}
    if not (last == file_heads == manifest_heads):
        raise ArchiveError(f"{path.name}: the chain heads in the file and manifest disagree")
    if sum(counts.values()) != manifest["rows"]:
        raise ArchiveError(
            f"{path.name}: {sum(counts.values())} rows, manifest says so many: {manifest['rows']}"
        )
    return last, {a: (*first[a], *last[a]) for a in last}


def archive_ranges(directory: Path) -> tuple[dict[int, list[Range]], list[str]]:
    """Every agent's archived ranges over the manifests in ``directory`` (ascending), and the
    problems of manifests that failed their checks (those cover nothing)."""
    ranges: dict[int, list[Range]] = defaultdict(list)
    problems: list[str] = []
    if not directory.is_dir():
        return {}, []
    for manifest in sorted(directory.glob("*.manifest.json")):
        try:
            _heads, found = _read(manifest)
        except (ArchiveError, OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{manifest.name}: {exc}")
            continue
        for agent, r in found.items():
            ranges[agent].append(r)
    return {a: sorted(rs) for a, rs in ranges.items()}, problems


def archive_heads(directory: Path) -> dict[int, tuple[int, str]]:
    """The newest archived chain head per agent over every manifest in ``directory``."""
    heads: dict[int, tuple[int, str]] = {}
    for manifest in sorted(directory.glob("*.manifest.json")):
        for agent, head in read_archive(manifest).items():
            if agent not in heads or head[0] > heads[agent][0]:
                heads[agent] = head
    return heads


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
