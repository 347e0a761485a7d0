"""``manage.py verify_history``: is the status ledger's hash chain intact (R16)?

Prints ``History intact`` with the number of rows checked, or names the first broken row (or
the missing range of an agent's chain) and why, and exits with status 1. Archived ranges are
checked against the manifests in ``CC_ARCHIVE_DIR`` (``--archives DIR`` names another directory,
whose manifests must then all pass their checks), and the heads against the newest signed
checkpoint in ``CC_CHECKPOINT_DIR`` (docs/audit.md).
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
            help="Archive manifests to check archived ranges against (default: CC_ARCHIVE_DIR).",
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
        result = verify_chain(agent_id, archive_heads=heads, archive_dir=archives)
        if result.intact:
            self.stdout.write(f"History intact: {result.rows_checked} rows checked.")
            return
        username = (
            Agent.objects.filter(pk=result.agent_id)
            .values_list("user__username", flat=True)
            .first()
        )
        who = username or result.agent_id
        if result.first_broken is not None:
            where = f"at row id={result.first_broken} (agent {who}, seq {result.seq})"
        elif result.missing is not None:
            where = f"for agent {who}: seq {result.missing[0]}..{result.missing[1]} missing"
        else:
            where = "in its checkpoints" if result.agent_id is None else f"for agent {who}"
        raise CommandError(
            f"History broken {where}: {result.problem}. {result.rows_checked} rows checked.",
            returncode=1,
        )
