"""`manage.py purge_idempotency`: delete idempotency records past their TTL.

Records live ``CC_IDEMPOTENCY_TTL_HOURS`` (API.md "Conventions"); an expired one is already
ignored by the middleware, so this only reclaims space. Run it daily (cron, or a beat entry).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cc_rules.api.idempotency import purge_expired


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than CC_IDEMPOTENCY_TTL_HOURS."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = purge_expired()
        if options["verbosity"] >= 1:
            self.stdout.write(f"Deleted {deleted} expired idempotency record(s).")
