"""``manage.py verify_history``: is the status ledger's hash chain intact (R16)?

Prints ``History intact`` with the number of rows checked, or names the first broken row and
why, and exits with status 1. ``--archives DIR`` also checks that each agent's oldest remaining
row continues the chain head kept in that directory's archive manifests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cc_rules.models import Agent
from cc_rules.services.audit import verify_chain
from cc_rules.services.audit_archive import ArchiveError, archive_heads


class Command(BaseCommand):
    help = "Verify the status-history hash chain; exit 1 naming the first broken row."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", metavar="USERNAME", help="Check one agent's chain only.")
        parser.add_argument(
            "--archives",
            metavar="DIR",
            type=Path,
            help="Also check continuity with the chain heads of the archives in DIR.",
        )

    def handle(
        self, *args: Any, agent: str | None = None, archives: Path | None = None, **options: Any
    ) -> None:
        agent_id = None
        if agent:
            agent_id = (
                Agent.objects.filter(user__username=agent).values_list("id", flat=True).first()
            )
            if agent_id is None:
                raise CommandError(f"No agent named {agent!r}.")
        heads = None
        if archives is not None:
            try:
                heads = archive_heads(archives)
            except (ArchiveError, OSError, ValueError, KeyError) as exc:
                raise CommandError(f"Archive check failed: {exc}") from exc
        result = verify_chain(agent_id, archive_heads=heads)
        if result.intact:
            self.stdout.write(f"History intact: {result.rows_checked} rows checked.")
            return
        username = (
            Agent.objects.filter(pk=result.agent_id)
            .values_list("user__username", flat=True)
            .first()
        )
        raise CommandError(
            f"History broken at row id={result.first_broken} (agent {username or result.agent_id}, "
            f"seq {result.seq}): {result.problem}. {result.rows_checked} rows checked.",
            returncode=1,
        )
