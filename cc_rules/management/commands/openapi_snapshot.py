"""``manage.py openapi_snapshot``: refresh ``docs/openapi.json`` from the live schema.

Refuses (exit 1) when the schema does not generate without warnings, or when the change breaks
clients (``cc_rules.api.schema_compat``) and ``info.version`` was not bumped: bump
``[project] version`` in pyproject.toml for a breaking change. ``--check`` writes nothing and
exits 1 when the snapshot is out of date (what tests/api/test_openapi.py checks).
``--allow-breaking`` writes a breaking change anyway: only for a snapshot no client has been
built from yet (e.g. merging several branches that each reshape the same endpoints).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from cc_rules.api import schema_compat as compat


class Command(BaseCommand):
    help = (
        "Write the OpenAPI snapshot docs/openapi.json (refuses a breaking change without a "
        "version bump)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Only compare; exit 1 if the snapshot is stale."
        )
        parser.add_argument(
            "--allow-breaking",
            action="store_true",
            help="Write a breaking change without a version bump (no client uses it yet).",
        )

    def handle(self, *args, check: bool = False, allow_breaking: bool = False, **options):
        live, problems = compat.live_schema()
        if problems:
            raise CommandError("The schema generates with warnings:\n" + "\n".join(problems))
        path = compat.SNAPSHOT
        old = json.loads(path.read_text()) if path.exists() else None
        if old == live:
            self.stdout.write(f"{path} is up to date (version {live['info']['version']}).")
            return
        breaking = compat.breaking_changes(old, live) if old else []
        bumped = old is None or compat.version_bumped(old, live)
        lines = [f"  breaking: {line}" for line in breaking]
        lines += [f"  {line}" for line in compat.additive_changes(old or {}, live)]
        report = "\n".join(lines) or "  (descriptions, headers or other details)"
        if breaking and not bumped and not allow_breaking:
            raise CommandError(
                f"The API changed in a way that breaks clients, and info.version is still "
                f"{live['info']['version']}:\n{report}\nRevert it, or bump [project] version in "
                f"pyproject.toml and run this again (or, if no client was ever built from "
                f"{path.name}, run it with --allow-breaking)."
            )
        if check:
            raise CommandError(
                f"{path} is out of date:\n{report}\nRefresh it: python3 manage.py openapi_snapshot"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(compat.dumps(live))
        self.stdout.write(f"Wrote {path} (version {live['info']['version']}):\n{report}")
