"""Token authentication that loads what every request asks next, in the same query.

DRF's ``TokenAuthentication`` reads the token and its user. Every request then asks which
agent the user is (``permissions.agent_of``: the agent with its role) and, for the write
throttle and the permission classes, whether the user is in the router, supervisor or
compliance group (``permissions.in_group``). Here the token query also joins the agent and its
role and answers the three group questions as ``EXISTS`` columns, so a request costs one query
for all of it instead of three. The answers are as fresh as the request: nothing is cached
across requests, so a revoked group or a deactivated agent takes effect on the next call.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from cc_rules.permissions_setup import COMPLIANCE, ROUTER, SUPERVISOR

KNOWN_GROUPS = (ROUTER, SUPERVISOR, COMPLIANCE)


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        flags = {
            f"in_{name}": Exists(Group.objects.filter(user=OuterRef("user_id"), name=name))
            for name in KNOWN_GROUPS
        }
        token = (
            model.objects.select_related("user", "user__agent", "user__agent__role")
            .annotate(**flags)
            .filter(key=key)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # permissions.in_group answers these names from here; other names still ask the database
        token.user._cc_known_groups = {name: getattr(token, f"in_{name}") for name in KNOWN_GROUPS}
        return (token.user, token)
