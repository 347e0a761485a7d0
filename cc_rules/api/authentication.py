"""Token authentication that loads what every request asks next, in one fixed query.

``Authorization: Token <secret>`` or ``Authorization: Bearer <secret>``. The secret is looked up
by its SHA-256 digest (``cc_rules.models.tokens``: only digests are stored). Every request then
asks which agent the user is (``permissions.agent_of``: the agent with its role) and, for the
write throttle and the permission classes, whether the user is in the router, supervisor or
compliance group (``permissions.in_group``). Here one query answers all of it: the token, its
user, the user's agent and role (outer joins) and the three group questions as ``EXISTS``
columns. The SQL is written once (``cc_rules.rows``): built by the ORM, this query cost ~3 ms
of Python per request. Nothing is cached across requests, so a revoked token or group, a
deactivated user or agent takes effect on the next call.

Refusals are 401: ``token_expired`` for a token past its expiry, ``not_authenticated`` for an
unknown or revoked one (a revoked token's row is gone) and for an inactive user.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from cc_rules import rows

KEYWORDS = (b"token", b"bearer")


class TokenExpired(exceptions.AuthenticationFailed):
    default_detail = _("Token expired: log in again.")
    default_code = "token_expired"


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        auth = authentication.get_authorization_header(request).split()
        if not auth or auth[0].lower() not in KEYWORDS:
            return None
        if len(auth) == 1:
            raise exceptions.AuthenticationFailed(_("Invalid token header: no token."))
        if len(auth) > 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header: spaces in the token."))
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key):
        token = rows.load_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if token.expires <= timezone.now():
            raise TokenExpired()
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)

    def authenticate_header(self, request):
        return self.keyword


class TokenScheme(OpenApiAuthenticationExtension):
    """The schema's security scheme for ``TokenAuthentication`` (drf-spectacular)."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` or `Bearer <token>` (POST /api/v1/auth/token/).",
        }
