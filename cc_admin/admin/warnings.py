"""Cross-rule warnings in the admin (issue 16, item 4): after a save, and on one page.

The checks themselves are the engine's (``cc_rules.engine.config_check``); this module only
shows them: ``warn_after_save`` adds the warnings that concern what was just saved as admin
messages (each with its fix), and ``check_configuration_page`` lists every warning, grouped
by where it is fixed, with links to that page and to the rule rows behind it.

Call ``warn_after_save(request, role=…)`` / ``(request, agent=…)`` after a role's or an
agent's page has saved everything (``save_related``), ``warn_after_rule_change`` after a rule
row was saved or deleted.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from cc_admin.live import CHANNEL_WORDS
from cc_rules import scoping
from cc_rules.choices import Scope
from cc_rules.engine.config_check import ConfigWarning
from cc_rules.models import Agent, Role, Rule
from cc_rules.selectors import check_configuration

MAX_MESSAGES = 10  # after a save; the page lists them all
VIEW_PERMISSION = "cc_rules.view_rule"


def warn_after_save(
    request: HttpRequest, *, role: Role | None = None, agent: Agent | None = None
) -> list[ConfigWarning]:
    """Add the warnings that concern ``role`` (the role and its agents), ``agent``, or — with
    neither — the whole configuration, as admin warning messages with their fix."""
    found = check_configuration(role=role, agent=agent)
    for warning in found[:MAX_MESSAGES]:
        messages.warning(request, f"{warning.message} Fix: {warning.fix}")
    if len(found) > MAX_MESSAGES:
        messages.warning(
            request,
            format_html(
                '{} more warnings: see <a href="{}">Check configuration</a>.',
                len(found) - MAX_MESSAGES,
                reverse("check-configuration"),
            ),
        )
    return found


def warn_after_rule_change(request: HttpRequest, rule: Rule) -> list[ConfigWarning]:
    """After a rule row was saved or deleted: the warnings of its role, its agent, or (a
    global row) the whole configuration."""
    if rule.scope == Scope.ROLE and rule.role_id:
        return warn_after_save(request, role=rule.role)
    if rule.scope == Scope.AGENT and rule.agent_id:
        return warn_after_save(request, agent=rule.agent)
    return warn_after_save(request)


# -- the page ---------------------------------------------------------------------------------
def _links(warning: ConfigWarning) -> list[tuple[str, str]]:
    """Where the fix is made: the role's or agent's page (or the global rules), then each
    rule row behind the warning."""
    if warning.scope == "agent" and warning.agent_id:
        page = ("the agent's page", reverse("admin:cc_rules_agent_change", args=[warning.agent_id]))
    elif warning.scope == "role" and warning.role_id:
        page = ("the role's page", reverse("admin:cc_rules_role_change", args=[warning.role_id]))
    else:
        query = urlencode({"scope__exact": "global"})
        page = ("the global rules", f"{reverse('admin:cc_rules_rule_changelist')}?{query}")
    rows = [
        (f"rule #{pk}", reverse("admin:cc_rules_rule_change", args=[pk])) for pk in warning.rule_ids
    ]
    return [page, *rows]


def _groups(found: list[ConfigWarning]) -> list[dict]:
    """Warnings grouped by where they are fixed, in the engine's order (global, then each
    role followed by its agents)."""
    groups: list[dict] = []
    for warning in found:
        target = (warning.scope, warning.role_id, warning.agent_id)
        if not groups or groups[-1]["target"] != target:
            if warning.scope == "agent":
                title = f"Agent {warning.agent} (role {warning.role})"
                url = reverse("admin:cc_rules_agent_change", args=[warning.agent_id])
            elif warning.scope == "role":
                title = f"Role {warning.role}"
                url = reverse("admin:cc_rules_role_change", args=[warning.role_id])
            else:
                title = "Global rules (every role that does not set its own)"
                url = _links(warning)[0][1]
            groups.append({"target": target, "title": title, "url": url, "rows": []})
        groups[-1]["rows"].append(
            {
                "warning": warning,
                "channel": CHANNEL_WORDS.get(warning.channel or "", ""),
                "links": _links(warning),
            }
        )
    return groups


def check_configuration_page(request: HttpRequest) -> HttpResponse:
    """Every cross-rule warning of the configuration, grouped by role and agent, each with its
    fix and links to where it is made. Reads only. Staff who may view rules (superusers,
    supervisors, compliance); the admin's own login for everyone else."""
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    found = check_configuration()
    if not scoping.sees_all_agents(request.user) and not request.user.is_superuser:
        # a supervisor reads the roles' and global warnings, and only their teams' agents'
        mine = set(scoping.visible_agents(request.user).values_list("pk", flat=True))
        found = [w for w in found if w.agent_id is None or w.agent_id in mine]
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # the table wants the full width at 1366 px
        "title": "Check configuration",
        "subtitle": None,
        "groups": _groups(found),
        "count": len(found),
    }
    return TemplateResponse(request, "cc_admin/check_configuration.html", context)


# Wrapped by the admin site: staff only, anonymous users go to the admin login.
check_configuration_view = admin.site.admin_view(check_configuration_page)
