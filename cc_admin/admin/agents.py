"""Agents: configuration, agent-scope rules, the effective rules and the decision simulator.

The admin writes configuration only (user, role, extension, active). DND, forwarding and the
per-channel statuses are live state: they change through ``cc_rules.services`` (which lock the
agent row and write the ledger), so here they are shown read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from cc_admin.forms import AgentForm, SimulatorForm
from cc_admin.live import CHANNEL_WORDS, STATUS_WORDS
from cc_admin.rule_matrix import Target
from cc_admin.rule_matrix.pages import RuleMatrixAdminMixin
from cc_rules.choices import Direction
from cc_rules.engine.decide import may_take_work
from cc_rules.engine.rulebook import CHANNELS, RULES
from cc_rules.engine.types import RuleRef
from cc_rules.models import Agent
from cc_rules.selectors import agent_live, effective_rules, offer_decision
from cc_rules.services.rule_history import scope_label

from .base import value_in_words
from .scoped import AgentScopedAdmin
from .supervise import SupervisorActionsMixin
from .warnings import warn_after_save

# What each decision code means, for the simulator (codes from cc_rules.engine.reasons).
CODE_TEXT = {
    "allowed": "The agent may take new work on this channel now.",
    "channel_not_visible": "The agent's role does not see this channel (R1).",
    "logged_off": "The agent is logged off this channel (R2).",
    "dnd_active": "Do-not-disturb is on (R3).",
    "pending_held": "A status request is pending on this channel; it gets no new work (R8).",
    "after_call_work": "The channel is in after-call work (R14).",
    "forward_target_unavailable": "The agent forwards calls (R4) to an extension that cannot "
    "take them now.",
    "not_ready": "The channel is not ready (R2).",
    "channel_cap_reached": "The channel's cap of open interactions is reached (R9).",
    "total_cap_reached": "The cap over all channels is reached (R9).",
    "blocked_by_channel": "Open work on another channel blocks this one (R9).",
}


def scope_text(ref: RuleRef, role_label: str | None = None) -> str:
    """Where an effective value comes from: agent override, role, global or built in."""
    return scope_label(ref.scope, role=role_label or None, agent="override")


def rule_link(ref: RuleRef) -> str:
    if ref.rule_id is None:
        return ""
    url = reverse("admin:cc_rules_rule_change", args=[ref.rule_id])
    return format_html('<a href="{}">rule #{}</a>', url, ref.rule_id)


def effective_rows(agent: Agent) -> list[dict]:
    """The agent's effective rules as table rows: rule, channel, value, where it came from."""
    rules = effective_rules(agent)
    role = str(agent.role) if agent.role_id else None
    rows = [
        {
            "rule": "Visible channels",
            "rnum": "R1",
            "channel": "",
            "value": value_in_words("visible", sorted(rules.visible)),
            "source": scope_text(rules.visible_ref, role),
            "link": "",
        },
        {
            "rule": "Not Ready reason codes",
            "rnum": "R2",
            "channel": "",
            "value": ", ".join(sorted(rules.reason_codes)) or "none",
            "source": scope_text(rules.reason_codes_ref, role),
            "link": "",
        },
    ]
    for key, _definition, channel, setting in rules.in_force():
        rows.append(
            {
                "rule": RULES[key].label,
                "rnum": RULES[key].rule,
                "channel": CHANNEL_WORDS.get(channel, channel) if channel else "",
                "value": value_in_words(key, setting.value),
                "source": scope_text(setting.ref, role),
                "link": rule_link(setting.ref),
                "overridden": setting.ref.scope == "agent",
            }
        )
    return rows


@admin.register(Agent)
class AgentAdmin(RuleMatrixAdminMixin, SupervisorActionsMixin, AgentScopedAdmin, admin.ModelAdmin):
    agent_field = None  # the agents themselves: a supervisor's teams' (cc_rules.scoping)
    form = AgentForm
    list_display = [
        "username",
        "full_name",
        "role",
        "extension",
        "forward_to",
        "dnd",
        "is_active",
        "simulator_link",
    ]
    list_filter = ["role", "dnd", "is_active"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "extension"]
    autocomplete_fields = ["user", "role"]
    list_select_related = ["user", "role"]
    readonly_fields = [
        "team_names",
        "forward_to",
        "dnd",
        "dnd_on_since",
        "live_state",
        "effective_rules_panel",
    ]
    fieldsets = [
        (None, {"fields": ["user", "role", "extension", "is_active", "team_names"]}),
        (
            "Live state (changed by the agent's client and supervisors through the API)",
            {"fields": ["forward_to", "dnd", "dnd_on_since", "live_state"]},
        ),
        (
            "Effective rules now, and where each value comes from",
            {"fields": ["effective_rules_panel"]},
        ),
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # agents are deactivated, never deleted (DECISIONS.md, "Engineering")

    def matrix_target(self, obj: Agent) -> Target:
        # a fresh copy: the page's form changes its instance (a new role) before saving it
        return Target.for_agent(Agent.objects.select_related("role", "user").get(pk=obj.pk))

    @admin.display(description="username", ordering="user__username")
    def username(self, obj: Agent) -> str:
        return obj.user.username

    @admin.display(description="name", ordering="user__first_name")
    def full_name(self, obj: Agent) -> str:
        return obj.user.get_full_name() or "—"

    @admin.display(description="decisions")
    def simulator_link(self, obj: Agent) -> str:
        url = reverse("admin:cc_rules_agent_simulate", args=[obj.pk])
        return format_html('<a href="{}">simulate</a>', url)

    @admin.display(description="teams")
    def team_names(self, obj: Agent | None) -> str:
        """The teams the agent is in (edited on the team's page); their supervisors see the
        agent, and act on them."""
        if obj is None or obj.pk is None:
            return "—"
        names = ", ".join(str(team) for team in obj.teams.all())
        return names or "none: no supervisor sees this agent"

    @admin.display(description="DND on since")
    def dnd_on_since(self, obj: Agent | None):
        return obj.dnd_since if obj and obj.dnd_since else "—"

    @admin.display(description="channels")
    def live_state(self, obj: Agent | None) -> str:
        if obj is None or obj.pk is None:
            return "—"
        return render_to_string("admin/cc_rules/agent/live_state.html", {"rows": live_rows(obj)})

    @admin.display(description="effective rules")
    def effective_rules_panel(self, obj: Agent | None) -> str:
        if obj is None or obj.pk is None:
            return "Saved agents show their effective rules here."
        return render_to_string(
            "admin/cc_rules/agent/effective_rules.html", {"rows": effective_rows(obj)}
        )

    def save_model(self, request, obj: Agent, form, change: bool) -> None:
        """Write only the configuration fields that changed, under the agent's row lock.

        A full ``save()`` would write back DND, forwarding and the history-chain head as they
        were when the page was loaded, undoing a concurrent service's change (or forking the
        chain); services lock the same row, so the two serialise.
        """
        if not change:
            super().save_model(request, obj, form, change)
            return
        fields = [name for name in form.changed_data if name in AgentForm.Meta.fields]
        if fields:
            Agent.objects.select_for_update().filter(pk=obj.pk).values_list("pk").first()
            obj.save(update_fields=fields)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        warn_after_save(request, agent=form.instance)  # issue 16, item 4

    # -- decision simulator -------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view(self.simulate_view)
        return [
            path("<path:object_id>/simulate/", view, name="cc_rules_agent_simulate"),
            *super().get_urls(),
        ]

    def simulate_view(self, request, object_id: str):
        """What would the engine answer for this agent now? Reads only; changes nothing."""
        agent = self.get_object(request, unquote(object_id))
        if agent is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, agent):
            raise PermissionDenied
        rules = effective_rules(agent)
        live, _ = agent_live(agent)
        form = SimulatorForm(request.GET or None)
        decision = None
        if form.is_valid():
            channel = form.cleaned_data["channel"]
            outbound = form.cleaned_data["direction"] == Direction.OUTBOUND
            offer = offer_decision(agent, channel, outbound=outbound)
            found = offer.decision
            decision = {
                "forwarded_to": offer.forwarded_to,
                "channel": CHANNEL_WORDS.get(channel, channel),
                "direction": "outbound" if outbound else "inbound",
                "allowed": found.allowed,
                "code": found.code,
                "text": CODE_TEXT.get(found.code, ""),
                "rule": str(found.rule) if found.rule else "",
                "link": rule_link(found.rule) if found.rule else "",
            }
        matrix = []
        for code in CHANNELS:
            inbound = may_take_work(rules, live, code)
            outbound = may_take_work(rules, live, code, outbound=True)
            state = live.channel(code)
            matrix.append(
                {
                    "channel": CHANNEL_WORDS.get(code, code),
                    "status": STATUS_WORDS.get(state.status, state.status),
                    "open_work": state.open_work,
                    "inbound": inbound,
                    "outbound": outbound,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Decision simulator: {agent}",
            "subtitle": None,
            "opts": self.opts,
            "original": agent,
            "has_view_permission": True,
            "form": form,
            "decision": decision,
            "matrix": matrix,
            "dnd": live.dnd,
            "role": agent.role,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/cc_rules/agent/simulate.html", context)


def live_rows(agent: Agent) -> list[dict]:
    live, states = agent_live(agent)
    rows = []
    for code in CHANNELS:
        if code not in states and code not in live.channels:
            continue
        state, row = live.channel(code), states.get(code)
        pending = ""
        if state.pending_status:
            pending = STATUS_WORDS.get(state.pending_status, state.pending_status)
            if state.pending_reason:
                pending += f" ({state.pending_reason})"
        rows.append(
            {
                "channel": CHANNEL_WORDS.get(code, code),
                "status": STATUS_WORDS.get(state.status, state.status),
                "reason": state.reason or "",
                "since": row.since if row else None,
                "pending": pending,
                "open_work": state.open_work,
                "deadline": row.wrap_up_deadline if row else None,
            }
        )
    return rows
