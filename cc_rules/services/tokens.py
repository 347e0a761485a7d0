"""API tokens (issue 15, item 3; ``cc_rules.models.tokens``): issued at login, revoked by their
user, an admin, a password change or a deactivation.

A password change is a change of the user's password hash that is not Django's own re-hash on
login (``check_password`` upgrading the hasher saves ``password`` alone without
``set_password``'s marker): the receivers below compare the stored hash before a save and
delete the user's tokens after it. Deactivating a user (``is_active`` off) revokes their
tokens too (``services.deactivation`` does it for agents, under the agent's lock).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from cc_rules.models import ApiToken


def issue(user: Any, *, device: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user`` (the row and the secret, shown once); the user's expired tokens
    are dropped on the way."""
    with transaction.atomic():
        ApiToken.objects.filter(user=user, expires__lte=timezone.now()).delete()
        return ApiToken.issue(user, device=device)


def revoke_all(user_id: int) -> int:
    """Delete every token of the user; the number deleted."""
    return ApiToken.objects.filter(user_id=user_id).delete()[0]


def _password_changed(instance: Any, update_fields: Any) -> bool:
    if instance.pk is None or instance._state.adding:
        return False
    if update_fields is not None and "password" not in update_fields:
        return False
    rehash = getattr(instance, "_password", None) is None and update_fields is not None
    if rehash and set(update_fields) == {"password"}:
        return False  # check_password upgrading the hash: the same password
    stored = (
        type(instance)._default_manager.filter(pk=instance.pk).values_list("password", flat=True)
    )
    old = stored.first()
    return old is not None and old != instance.password


def _user_saving(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    instance._cc_revoke_tokens = not raw and _password_changed(instance, update_fields)


def _user_saved(sender, instance, created: bool, raw=False, update_fields=None, **kwargs) -> None:
    if raw or created:
        return
    deactivated = (update_fields is None or "is_active" in update_fields) and not (
        instance.is_active
    )
    if getattr(instance, "_cc_revoke_tokens", False) or deactivated:
        instance._cc_revoke_tokens = False
        revoke_all(instance.pk)


def connect() -> None:
    User = get_user_model()
    pre_save.connect(_user_saving, sender=User, dispatch_uid="cc_rules.tokens_user_saving")
    post_save.connect(_user_saved, sender=User, dispatch_uid="cc_rules.tokens_user_saved")
