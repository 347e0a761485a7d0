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

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from cc_rules import rows
from cc_rules.models import Agent, Role
from cc_rules.permissions_setup import COMPLIANCE, ROUTER, SUPERVISOR

KNOWN_GROUPS = (ROUTER, SUPERVISOR, COMPLIANCE)


@cache
def _sql() -> str:
    User = get_user_model()
    member = User.groups.through
    in_group = (
        f"EXISTS (SELECT 1 FROM {rows.table(member)} m JOIN {rows.table(Group)} g "
        f"ON g.id = m.group_id WHERE m.user_id = u.id AND g.name = %s)"
    )
    return (
        f"SELECT {rows.select_list(Token, 't')}, {rows.select_list(User, 'u')}, "
        f"{rows.select_list(Agent, 'a')}, {rows.select_list(Role, 'r')}, "
        + ", ".join(in_group for _ in KNOWN_GROUPS)
        + f" FROM {rows.table(Token)} t JOIN {rows.table(User)} u ON u.id = t.user_id"
        f" LEFT JOIN {rows.table(Agent)} a ON a.user_id = u.id"
        f" LEFT JOIN {rows.table(Role)} r ON r.id = a.role_id"
        f" WHERE t.key = %s"
    )


def load_token(key: str) -> Token | None:
    """The token with ``token.user``, ``user.agent`` (or its absence) and ``agent.role`` loaded,
    and ``user._cc_known_groups`` answering ``in_group`` for the three known groups."""
    row = rows.fetch_one(_sql(), [*KNOWN_GROUPS, key])
    if row is None:
        return None
    User = get_user_model()
    at = 0
    token = rows.hydrate(Token, row, at)
    at += rows.width(Token)
    user = rows.hydrate(User, row, at)
    at += rows.width(User)
    agent = rows.hydrate(Agent, row, at)
    at += rows.width(Agent)
    role = rows.hydrate(Role, row, at)
    at += rows.width(Role)
    token.user = user
    if agent is None:
        Agent.user.field.remote_field.set_cached_value(user, None)  # user.agent: DoesNotExist
    else:
        agent.role = role
        agent.user = user
        Agent.user.field.remote_field.set_cached_value(user, agent)
    user._cc_known_groups = {name: bool(row[at + i]) for i, name in enumerate(KNOWN_GROUPS)}
    return token


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        token = load_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
