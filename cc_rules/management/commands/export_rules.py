"""``manage.py export_rules [-o FILE]``: the configuration as a rules file (rules as code).

Writes global visibility, reason codes and rules, the roles with theirs, agents' overrides and
the workbins in the format of docs/rules-as-code.md: the same configuration always gives the
same bytes, so the file can live in version control and be reviewed as a diff. Read-only.

Exit status: 0 written; 1 the database holds a rule value the rulebook refuses (named; fix it
in the admin); 2 the output file cannot be written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cc_rules.services.rules_file import ExportError, config_snapshot, dumps, to_document


class Command(BaseCommand):
    help = "Write the rules configuration as a reviewable JSON file (docs/rules-as-code.md)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="Write to FILE instead of standard output."
        )

    def handle(self, *args: Any, output: str | None = None, **options: Any) -> None:
        try:
            config = config_snapshot()
        except ExportError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        for scope, target, key, channel in config.unknown_rules:
            where = f"{scope} {target}" if target else scope
            what = f"{key}[{channel}]" if channel else key
            self.stderr.write(f"Skipped rule {what} ({where}): not in the rulebook.")
        text = dumps(to_document(config))
        if output is None or output == "-":
            self.stdout.write(text, ending="")
            return
        path = Path(output)
        # Written beside the target and renamed over it: a reader never sees half a file.
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(
                f"Cannot write {output}: {exc.strerror or exc}", returncode=2
            ) from exc
        if options["verbosity"] >= 1:
            self.stderr.write(f"Wrote the configuration to {output}.")
