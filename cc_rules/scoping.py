"""Who sees and acts on which agents (issue 16, item 1; API.md "Supervisor"; DECISIONS.md).

- Superusers see and act on every agent.
- Compliance staff read every agent's state and history, and act on none.
- Supervisors see and act on the agents of the teams they supervise (``Team.supervisors``),
  nobody else: anywhere else an agent is "not found" (404), never "forbidden", so a supervisor
  cannot even learn which other usernames exist.
- Everyone else sees no agent here (an agent reaches only their own session through ``/me/``).

The API, the admin and the dashboards all ask these functions, so the answer never differs.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from cc_rules.models import Agent, StatusChange, Team
from cc_rules.permissions_setup import COMPLIANCE, SUPERVISOR


def in_group(user: Any, name: str) -> bool:
    """Is ``user`` in group ``name``? One query per request at most (the API's too)."""
    if not user or not user.is_authenticated:
        return False
    # The API's token loader already answered the known groups in its one query
    # (rows.load_token sets ``_cc_known_groups``): asking again would add a query per request.
    known = getattr(user, "_cc_known_groups", None)
    if known is not None and name in known:
        return known[name]
    cache = getattr(user, "_cc_groups", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._cc_groups = cache
    return name in cache


def _active(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def sees_all_agents(user: Any) -> bool:
    """Superusers and compliance read every agent."""
    return _active(user) and (user.is_superuser or in_group(user, COMPLIANCE))


def acts_on_all_agents(user: Any) -> bool:
    return _active(user) and user.is_superuser


def is_supervisor(user: Any) -> bool:
    return _active(user) and in_group(user, SUPERVISOR)


def team_agent_ids(user: Any) -> QuerySet:
    """The ids of the agents in the teams ``user`` supervises (a subquery, not a list)."""
    return Team.agents.through.objects.filter(team__supervisors=user).values("agent_id")


def visible_agents(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """The agents ``user`` may see (read): all, their teams', or none."""
    queryset = Agent.objects.all() if queryset is None else queryset
    if sees_all_agents(user):
        return queryset
    if is_supervisor(user):
        return queryset.filter(pk__in=team_agent_ids(user))
    return queryset.none()


def actionable_agents(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """The agents ``user`` may act on (forced status, logout, DND off, wrap-up)."""
    queryset = Agent.objects.all() if queryset is None else queryset
    if acts_on_all_agents(user):
        return queryset
    if is_supervisor(user):
        return queryset.filter(pk__in=team_agent_ids(user))
    return queryset.none()


def may_see_agent(user: Any, agent: Agent) -> bool:
    if sees_all_agents(user):
        return True
    return is_supervisor(user) and visible_agents(user).filter(pk=agent.pk).exists()


def may_act_on_agent(user: Any, agent: Agent) -> bool:
    if acts_on_all_agents(user):
        return True
    return is_supervisor(user) and actionable_agents(user).filter(pk=agent.pk).exists()


def visible_agent_ids(user: Any) -> list[int] | None:
    """The ids of the agents ``user`` sees, for readers that take a list of ids (the
    time-in-status report); ``None``: every agent (no restriction)."""
    if sees_all_agents(user):
        return None
    return list(visible_agents(user).values_list("pk", flat=True))


def visible_rows(
    user: Any, queryset: QuerySet, agent_field: str = "agent", *, unassigned: bool = False
) -> QuerySet:
    """The rows of ``queryset`` that belong to agents ``user`` may see; ``agent_field`` is the
    path to the row's agent. ``unassigned``: rows without an agent (a role's or the global
    rule) are everyone's configuration and stay visible. One subquery, never a query per row."""
    if sees_all_agents(user):
        return queryset
    if is_supervisor(user):
        seen = Q(**{f"{agent_field}__in": team_agent_ids(user)})
        if unassigned:
            seen |= Q(**{f"{agent_field}__isnull": True})
        return queryset.filter(seen)
    if unassigned:
        return queryset.filter(**{f"{agent_field}__isnull": True})
    return queryset.none()


def visible_history(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """Status-ledger rows of the agents ``user`` may see (audit API, CSV, dashboards)."""
    queryset = StatusChange.objects.all() if queryset is None else queryset
    return visible_rows(user, queryset, "agent")
