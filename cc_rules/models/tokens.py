"""API tokens (issue 15, item 3): one per login, per device, expiring, hashed at rest.

The secret is 256 random bits shown once, at login. Only its SHA-256 digest is stored (a
digest lookup is sound for a high-entropy secret: there is nothing to guess that a slow hash
would protect), with an eight-character display prefix so a user can tell tokens apart. A token
is revoked by deleting its row: by its user (``DELETE /auth/token/``, ``/auth/tokens/{id}/``),
by an admin (the admin's "revoke" action), and for every token of a user whose password changes
or who is deactivated (``services.tokens``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX_LENGTH = 8


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def default_expiry():
    return timezone.now() + timedelta(hours=settings.CC_TOKEN_TTL_HOURS)


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=PREFIX_LENGTH, editable=False, help_text="The secret's first characters."
    )
    device = models.CharField(max_length=100, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires = models.DateTimeField(default=default_expiry)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.device or 'no device'})"

    @property
    def expired(self) -> bool:
        return self.expires <= timezone.now()

    @classmethod
    def issue(cls, user, *, device: str = "", ttl: timedelta | None = None) -> tuple[ApiToken, str]:
        """A new token for ``user``: (the row, the secret). The secret is not kept."""
        secret = new_secret()
        token = cls.objects.create(
            user=user,
            digest=digest_of(secret),
            prefix=secret[:PREFIX_LENGTH],
            device=device,
            expires=timezone.now() + (ttl or timedelta(hours=settings.CC_TOKEN_TTL_HOURS)),
        )
        return token, secret
