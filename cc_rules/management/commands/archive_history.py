"""``manage.py archive_history``: move status history older than the retention to a file (R16).

The cutoff is ``--before DATE`` (a date or an ISO datetime, read by the audit filters'
``parse_moment``: UTC unless it names an offset) or, by default, now minus
``CC_HISTORY_RETENTION_DAYS``. Rows older than it are written to ``--out DIR`` (default
``CC_ARCHIVE_DIR``, where verify looks for manifests) as a gzip'd JSON-lines file with each
agent's chain head and a manifest holding the file's SHA-256; the file is read back and
verified, and only then are exactly those rows deleted, in one transaction, through the one
documented bypass: on PostgreSQL the SECURITY DEFINER function ``cc_rules_archive_history``
owned by the role ``cc_rules_archiver`` (docs/audit.md; never ``pgtrigger.ignore``).
``verify_history`` reports the remaining chain intact afterwards. See
``cc_rules.services.audit_archive`` for the file format.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cc_rules.filtersets import parse_moment
from cc_rules.models import StatusChange
from cc_rules.selectors import db_now
from cc_rules.services.audit_archive import ArchiveError, archive_history


class Command(BaseCommand):
    help = "Archive status history older than the retention period to a verified gzip file."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--before",
            metavar="DATE",
            help="Archive rows older than this (default: now - CC_HISTORY_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--out", metavar="DIR", type=Path, help="Where to write (default: CC_ARCHIVE_DIR)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the rows that would be archived."
        )

    def handle(
        self,
        *args: Any,
        before: str | None = None,
        out: Path | None = None,
        dry_run: bool = False,
        **options: Any,
    ) -> None:
        now = db_now()
        if before:
            try:
                cutoff = parse_moment(before)
            except ValueError as exc:
                raise CommandError(f"--before {before!r}: {exc}") from exc
        else:
            cutoff = now - timedelta(days=settings.CC_HISTORY_RETENTION_DAYS)
        out_dir = out or Path(settings.CC_ARCHIVE_DIR)
        if dry_run:
            count = StatusChange.objects.filter(at__lt=cutoff).count()
            self.stdout.write(f"{count} rows are older than {cutoff.isoformat()}.")
            return
        try:
            result = archive_history(before=cutoff, out_dir=out_dir, now=now)
        except ArchiveError as exc:
            raise CommandError(f"Nothing was archived or deleted: {exc}") from exc
        if not result.rows:
            self.stdout.write(f"No rows older than {cutoff.isoformat()}; nothing to archive.")
            return
        self.stdout.write(
            f"Archived and deleted {result.rows} rows older than {cutoff.isoformat()} "
            f"for {len(result.heads)} agents.\n  file:     {result.path}\n"
            f"  manifest: {result.manifest}"
        )
