"""Token authentication that loads what every request asks next, in one fixed query.

DRF's ``TokenAuthentication`` reads the token and its user. Every request then asks which
agent the user is (``permissions.agent_of``: the agent with its role) and, for the write
throttle and the permission classes, whether the user is in the router, supervisor or
compliance group (``permissions.in_group``). Here one query answers all of it: the token, its
user, the user's agent and role (outer joins) and the three group questions as ``EXISTS``
columns. The SQL is written once (``cc_rules.rows``): built by the ORM, this query cost ~3 ms
of Python per request. Nothing is cached across requests, so a revoked group, a deactivated
user or agent takes effect on the next call.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from cc_rules import rows


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        token = rows.load_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
