"""``manage.py checkpoint_history``: write a signed checkpoint of every agent's chain head.

The same as the beat task ``cc_rules.checkpoint_history``: a JSON file in ``--dir`` (default
``CC_CHECKPOINT_DIR``) signed with ``CC_HISTORY_KEY``; ``verify_history`` and
``GET /api/v1/audit/verify/`` compare the current heads with the newest one (docs/audit.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from cc_rules.services.checkpoints import write_checkpoint


class Command(BaseCommand):
    help = "Write a signed checkpoint of every agent's history chain head."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dir", metavar="DIR", type=Path, help="Where to write (default: CC_CHECKPOINT_DIR)."
        )

    def handle(self, *args: Any, dir: Path | None = None, **options: Any) -> None:
        checkpoint = write_checkpoint(dir)
        self.stdout.write(
            f"Checkpoint of {len(checkpoint.heads)} chain heads written: {checkpoint.path}"
        )
