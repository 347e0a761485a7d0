"""Read-only views of live state and the audit ledger (R16).

Nobody writes here, not even a superuser: live state changes through the services, and the
status history is append-only (database triggers refuse UPDATE and DELETE on PostgreSQL).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from cc_rules import scoping
from cc_rules.choices import Event
from cc_rules.engine.reasons import SYSTEM_REASONS
from cc_rules.filtersets import SYSTEM_ACTOR, actor_rows
from cc_rules.models import (
    AgentChannelState,
    AuditJob,
    Interaction,
    Message,
    ReasonCode,
    StatusChange,
)
from cc_rules.permissions_setup import SUPERVISOR
from cc_rules.scoping import sees_all_agents, visible_agents, visible_history
from cc_rules.services.audit import LEDGER_COLUMNS

from .base import ReadOnlyAdmin, ReadOnlyInline
from .scoped import AgentScopedAdmin, NotFoundOutsideScope


def _unstorable(value: str) -> bool:
    """No stored text holds NUL (PostgreSQL text cannot): no row, without asking the database
    (which would refuse the query)."""
    return "\x00" in value


class AgentFilter(admin.SimpleListFilter):
    """The agents the viewer may see (a supervisor's teams'), by username (``?agent=``)."""

    title = "agent"
    parameter_name = "agent"

    def lookups(self, request, model_admin):
        names = visible_agents(request.user).order_by("user__username")
        return [(n, n) for n in names.values_list("user__username", flat=True)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return (
            queryset.none() if _unstorable(value) else queryset.filter(agent__user__username=value)
        )


class ActorFilter(admin.SimpleListFilter):
    """Who made the change (``?actor=``): ``system`` for changes nobody made (timers, sweeps).
    The same meaning as the API's and the dashboard's ``actor`` (``cc_rules.filtersets``)."""

    title = "changed by"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        user = request.user
        names = set(visible_agents(user).values_list("user__username", flat=True))
        names.add(user.get_username())
        if sees_all_agents(user):
            staff = get_user_model().objects.filter(is_active=True, is_staff=True)
            names |= set(
                staff.filter(Q(groups__name=SUPERVISOR) | Q(is_superuser=True)).values_list(
                    "username", flat=True
                )
            )
        value = self.value()
        if value:
            names.add(value)  # a link may name anyone who ever changed a status
        names.discard(SYSTEM_ACTOR)
        return [(SYSTEM_ACTOR, "system (nobody)"), *((n, n) for n in sorted(names))]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.none() if _unstorable(value) else actor_rows(queryset, value)


class ReasonFilter(admin.SimpleListFilter):
    """The reason code (``?reason=``): the configured codes and the system reasons."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        codes = {*SYSTEM_REASONS, *ReasonCode.objects.values_list("code", flat=True)}
        return [(c, c) for c in sorted(codes)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.none() if _unstorable(value) else queryset.filter(reason=value)


@admin.register(StatusChange)
class StatusChangeAdmin(NotFoundOutsideScope, ReadOnlyAdmin):
    """The ledger, newest first, to the second; rows of the agents the viewer may see only.

    Agent and actor cells link to this list filtered by that agent or actor, which anyone who
    can read this list can open (never a page they would be refused).
    """

    list_display = [
        "when",
        "agent_link",
        "channel",
        "transition",
        "reason",
        "cause",
        "rule",
        "actor_link",
        "seq",
    ]
    list_display_links = ["when"]
    list_filter = [
        AgentFilter,
        "channel",
        "event",
        "cause",
        ReasonFilter,
        ActorFilter,
        ("at", admin.DateFieldListFilter),
    ]
    date_hierarchy = "at"
    search_fields = ["reason", "agent__user__username", "actor_name", "request_id", "rule"]
    search_help_text = "Reason code, agent or actor username, request id or rule."
    list_select_related = ["agent__user", "channel"]
    ordering = ["-at", "-id"]
    show_full_result_count = False  # the ledger grows large; skip the second COUNT(*)
    # The compliance columns (the API's and the CSV's), then what only the admin shows.
    fields = [
        *(column for column in LEDGER_COLUMNS if column != "id"),
        "actor_name",
        "interaction_id",
        "prev_hash",
        "hash",
    ]

    class Media:
        css = {"all": ["cc_admin/ledger_admin.css"]}  # the list fits 1366 px, times unbroken

    def get_queryset(self, request):
        return visible_history(request.user, super().get_queryset(request))

    @admin.display(description=f"when ({settings.TIME_ZONE})", ordering="at")
    def when(self, obj: StatusChange) -> str:
        return timezone.localtime(obj.at).strftime("%Y-%m-%d %H:%M:%S")

    def _filtered(self, **query: str) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return f"{url}?{urlencode(query)}"

    @admin.display(description="agent", ordering="agent__user__username")
    def agent_link(self, obj: StatusChange) -> str:
        name = obj.agent.user.get_username()
        return format_html('<a href="{}">{}</a>', self._filtered(agent=name), name)

    @admin.display(description="by", ordering="actor_name")
    def actor_link(self, obj: StatusChange) -> str:
        name = obj.actor_name or SYSTEM_ACTOR
        return format_html('<a href="{}">{}</a>', self._filtered(actor=name), name)

    @admin.display(description="change", ordering="event")
    def transition(self, obj: StatusChange) -> str:
        change = f"{obj.from_status or '—'} → {obj.to_status or '—'}"
        return change if obj.event == Event.STATUS else f"{obj.get_event_display()}: {change}"


@admin.register(AgentChannelState)
class AgentChannelStateAdmin(AgentScopedAdmin, ReadOnlyAdmin):
    list_display = [
        "agent",
        "channel",
        "status",
        "reason",
        "since",
        "pending_status",
        "pending_reason",
        "wrap_up_deadline",
        "idle_since",
    ]
    list_filter = ["channel", "status", "agent__role"]
    search_fields = ["agent__user__username"]
    list_select_related = ["agent__user", "channel"]


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["created_at", "author", "text"]
    show_change_link = False


@admin.register(Interaction)
class InteractionAdmin(AgentScopedAdmin, ReadOnlyAdmin):
    list_display = [
        "id",
        "channel",
        "direction",
        "kind",
        "state",
        "agent",
        "contact",
        "created_at",
        "ended_at",
        "end_how",
    ]
    list_filter = ["channel", "state", "direction", "kind", "end_how"]
    date_hierarchy = "created_at"
    search_fields = ["agent__user__username", "contact__name", "to_address"]
    list_select_related = ["agent__user", "channel", "contact"]
    inlines = [MessageInline]


@admin.register(AuditJob)
class AuditJobAdmin(NotFoundOutsideScope, ReadOnlyAdmin):
    """Audit jobs (verify, CSV export) asked for through the API: who, what, how far, outcome."""

    list_display = [
        "id",
        "kind",
        "state",
        "requested_by",
        "progress",
        "outcome",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "state"]
    search_fields = ["requested_by__username"]
    list_select_related = ["requested_by"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        # A supervisor's job names filters and agents of their teams: they see their own jobs;
        # superusers and compliance (who audit the auditors) see every job.
        queryset = super().get_queryset(request)
        if scoping.sees_all_agents(request.user):
            return queryset
        return queryset.filter(requested_by=request.user)

    @admin.display(description="progress (rows)")
    def progress(self, obj: AuditJob) -> str:
        total = "?" if obj.rows_total is None else f"{obj.rows_total:,}"
        return f"{obj.rows_done:,} / {total}"

    @admin.display(description="result")
    def outcome(self, obj: AuditJob) -> str:
        if obj.error:
            return obj.error
        if not obj.result:
            return "—"
        if obj.kind == AuditJob.Kind.VERIFY:
            if obj.result.get("intact"):
                return "intact"
            return f"broken at row {obj.result.get('first_broken')}: {obj.result.get('problem')}"
        return f"{obj.result.get('rows', 0):,} rows, {obj.result.get('bytes', 0):,} bytes"
