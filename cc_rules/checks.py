"""System checks of the audit trail's configuration (docs/audit.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register("cc_rules")
def history_key_check(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off the ledger's HMAC key must come from the environment, and be long."""
    if settings.DEBUG:
        return []
    key = settings.CC_HISTORY_KEY
    if not key:
        return [
            Error(
                "CC_HISTORY_KEY is not set.",
                hint="Set CC_HISTORY_KEY in the environment (at least 32 random characters, "
                "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`); it keys "
                "the status ledger's hash chain and signs its checkpoints (docs/audit.md).",
                id="cc_rules.E001",
            )
        ]
    if key != settings.DEV_HISTORY_KEY and len(key) < 32:
        return [
            Error(
                "CC_HISTORY_KEY is shorter than 32 characters.",
                hint="Use at least 32 random characters.",
                id="cc_rules.E002",
            )
        ]
    return []
