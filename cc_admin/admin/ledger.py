"""Read-only views of live state and the audit ledger (R16).

Nobody writes here, not even a superuser: live state changes through the services, and the
status history is append-only (database triggers refuse UPDATE and DELETE on PostgreSQL).
"""

from __future__ import annotations

from django.contrib import admin

from cc_rules.models import AgentChannelState, AuditJob, Interaction, Message, StatusChange
from cc_rules.services.audit import LEDGER_COLUMNS

from .base import ReadOnlyAdmin, ReadOnlyInline
from .scoped import AgentScopedAdmin


@admin.register(StatusChange)
class StatusChangeAdmin(AgentScopedAdmin, ReadOnlyAdmin):
    list_display = [
        "at",
        "agent",
        "channel",
        "event",
        "transition",
        "reason",
        "cause",
        "rule",
        "actor_name",
        "seq",
    ]
    list_filter = ["agent", "channel", "event", "cause"]
    date_hierarchy = "at"
    search_fields = ["agent__user__username", "rule", "actor_name", "request_id"]
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

    @admin.display(description="from → to")
    def transition(self, obj: StatusChange) -> str:
        return f"{obj.from_status or '—'} → {obj.to_status or '—'}"


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
class AuditJobAdmin(ReadOnlyAdmin):
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
