"""Bump the rules version whenever configuration that feeds the resolver changes.

The bump runs in the same transaction as the change, so a reader that sees the new version
also sees the new rows; every process's cache keyed by the old version is then stale.
"""

import uuid

from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from .models import Agent, Channel, ReasonCode, Role, Rule, RulesVersion


def bump_rules_version() -> None:
    updated = RulesVersion.objects.filter(pk=1).update(value=F("value") + 1, token=uuid.uuid4())
    if not updated:
        RulesVersion.objects.get_or_create(pk=1)


@receiver([post_save, post_delete], sender=Rule)
@receiver([post_save, post_delete], sender=Role)
@receiver([post_save, post_delete], sender=ReasonCode)
@receiver([post_save, post_delete], sender=Channel)
def _config_changed(sender, **kwargs) -> None:
    bump_rules_version()


@receiver(m2m_changed, sender=Role.visible_channels.through)
def _visibility_changed(sender, action: str, **kwargs) -> None:
    if action.startswith("post_"):
        bump_rules_version()


@receiver(post_save, sender=Agent)
def _agent_saved(sender, instance: Agent, created: bool, update_fields=None, **kwargs) -> None:
    # Only a change of role changes the agent's rules; live-state saves name their fields.
    if created or update_fields is None or "role" in update_fields:
        bump_rules_version()
