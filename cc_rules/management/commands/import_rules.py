"""``manage.py import_rules FILE [--dry-run]``: make the configuration exactly FILE's.

FILE is a rules file (docs/rules-as-code.md; ``-`` reads standard input). The whole file is
checked first; any problem is listed with its place in the file and nothing is written.
Otherwise the database's global visibility, reason codes, rules, roles, agent overrides and
workbins become the file's in one transaction: rows are created, changed or deleted, each
change listed and recorded in the history with the reason ``import_rules FILE``. ``--dry-run``
lists the changes and writes nothing.

Exit status: 0 applied, nothing to change, or (``--dry-run``) planned; 1 the file has problems
(JSON syntax, format, content), nothing written; 2 FILE cannot be read (or bad arguments);
3 the database refused a change while applying, everything rolled back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cc_rules.services.rules_file_check import FileSyntaxError
from cc_rules.services.rules_import import ApplyError, import_rules


class Command(BaseCommand):
    help = (
        "Check a rules file (docs/rules-as-code.md) and make the configuration exactly its "
        "content, in one transaction; --dry-run lists the changes only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", metavar="FILE", help="The rules file; - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="List the changes; write nothing."
        )

    def handle(self, *args: Any, file: str, dry_run: bool = False, **options: Any) -> None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise CommandError(f"Cannot read {file}: {reason}", returncode=2) from exc
        try:
            result = import_rules(text, source=file, dry_run=dry_run)
        except FileSyntaxError as exc:
            raise CommandError(f"{file} is not valid JSON: {exc}", returncode=1) from exc
        except ApplyError as exc:
            raise CommandError(
                f"The database refused the import of {file}; nothing was written. {exc}",
                returncode=3,
            ) from exc
        if result.problems:
            listed = "\n".join(f"  {problem}" for problem in result.problems)
            raise CommandError(
                f"{file} has {len(result.problems)} problem(s); nothing was written:\n{listed}",
                returncode=1,
            )
        for change in result.changes:
            self.stdout.write(f"  {change}")
        n = result.counts()
        if not result.changes:
            self.stdout.write(f"Nothing to change: the configuration already is {file}'s.")
        elif dry_run:
            self.stdout.write(
                f"Dry run of {file}: {n['create']} to create, {n['change']} to change, "
                f"{n['delete']} to delete; nothing was written."
            )
        else:
            self.stdout.write(
                f"Imported {file}: {n['create']} created, {n['change']} changed, "
                f"{n['delete']} deleted."
            )
