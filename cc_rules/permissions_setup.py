"""The groups the product knows and the model permissions each gets (API and admin).

- ``agent``: their own session through the API; no admin.
- ``supervisor``: all agents' live state, forced status changes; read-only admin of the
  configuration and the audit.
- ``compliance``: read-only: history, reports, rule-change history (R16). No change permission
  anywhere.
- ``router``: the service account that offers inbound work.
Admins are superusers and change the rules.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

AGENT, SUPERVISOR, COMPLIANCE, ROUTER = "agent", "supervisor", "compliance", "router"

READ_MODELS = [
    "statuschange",
    "agent",
    "agentchannelstate",
    "interaction",
    "rule",
    "historicalrule",
    "role",
    "historicalrole",
    "reasoncode",
    "historicalreasoncode",
    "channel",
    "workbin",
    "contact",
    "contactpoint",
    "auditjob",
    "team",
    "historicalteam",
]


def ensure_groups() -> dict[str, Group]:
    groups = {
        name: Group.objects.get_or_create(name=name)[0]
        for name in (AGENT, SUPERVISOR, COMPLIANCE, ROUTER)
    }
    view = Permission.objects.filter(
        content_type__app_label="cc_rules",
        codename__in=[f"view_{m}" for m in READ_MODELS],
    )
    groups[COMPLIANCE].permissions.set(view)
    groups[SUPERVISOR].permissions.set(view)
    return groups
