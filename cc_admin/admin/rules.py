"""Rule rows (global, role, agent scope) and the change history of the configuration.

Rule, Role and ReasonCode keep their history with django-simple-history: every change made
here is recorded with the user, the time and the old and new values ("History" on each row,
and the read-only "historical …" lists for compliance, which also show deleted rows).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.urls import path
from django.utils.html import format_html

from cc_admin.forms import RULE_HELP, VALUE_HELP, RuleForm
from cc_admin.rule_matrix.pages import GlobalDefaultsMixin
from cc_rules.choices import Scope
from cc_rules.engine.rulebook import RULES
from cc_rules.models import ReasonCode, Role, Rule
from cc_rules.services.rule_history import reason_code_label, scope_label

from .base import HistoricalRecordsAdmin, HistoryAdmin, key_label, show_value
from .scoped import AgentScopedAdmin
from .warnings import warn_after_rule_change, warn_after_save


def related(record, name: str) -> str:
    """A historical row's related object, or its id when that object has been deleted since
    (history keeps ids without a database constraint)."""
    try:
        return str(getattr(record, name))
    except ObjectDoesNotExist:
        return f"#{getattr(record, name + '_id')} (deleted)"


class RuleKeyFilter(admin.SimpleListFilter):
    title = "rule"
    parameter_name = "key"

    def lookups(self, request, model_admin):
        return [(key, key_label(key)) for key in RULES]

    def queryset(self, request, queryset):
        return queryset.filter(key=self.value()) if self.value() else queryset


@admin.register(Rule)
class RuleAdmin(GlobalDefaultsMixin, AgentScopedAdmin, HistoryAdmin):
    """Every rule row. No row means *inherit*; the value null means unlimited / no timer.
    A supervisor sees global and role rules, and agent overrides of their teams' agents.

    The raw, advanced view; roles, agents and the "Global defaults" page (``global/``) edit
    the same rows as a matrix in words (``cc_admin.rule_matrix``).
    """

    unassigned_visible = True
    form = RuleForm
    list_display = ["rule_label", "scope", "target", "channel", "shown_value", "note"]
    list_display_links = ["rule_label"]
    list_filter = ["scope", RuleKeyFilter, ("role", admin.RelatedOnlyFieldListFilter), "channel"]
    search_fields = ["key", "note", "role__name", "role__label", "agent__user__username"]
    autocomplete_fields = ["role", "agent"]
    list_select_related = ["role", "agent__user", "channel"]
    history_list_display = ["shown_value"]
    fieldsets = [
        (None, {"fields": ["key"]}),
        (
            "Where it applies (the most specific scope wins: agent, then role, then global)",
            {"fields": ["scope", "role", "agent", "channel"]},
        ),
        (None, {"fields": ["value", "note"]}),
    ]

    @admin.display(description="rule", ordering="key")
    def rule_label(self, obj: Rule) -> str:
        return key_label(obj.key)

    @admin.display(description="applies to", ordering="scope")
    def target(self, obj: Rule) -> str:
        return scope_label(obj.scope, role=obj.role, agent=obj.agent, everyone="everyone")

    @admin.display(description="value", ordering="value")
    def shown_value(self, obj: Rule) -> str:
        return show_value(obj.key, obj.value)

    # Cross-rule warnings (issue 16, item 4) for what the saved or deleted row concerns.
    def after_matrix_saved(self, request, obj) -> None:
        warn_after_save(request)  # the "Global defaults" page: the whole configuration

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        warn_after_rule_change(request, form.instance)

    def delete_model(self, request, obj: Rule) -> None:
        super().delete_model(request, obj)
        warn_after_rule_change(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        warn_after_save(request)

    def get_readonly_fields(self, request, obj=None):
        # another key is another rule (delete this one, add that one); a fixed key lets the
        # value be edited with a typed widget (cc_admin.rule_widgets)
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "key"] if obj is not None else fields

    def get_urls(self):
        view = self.admin_site.admin_view(self.global_defaults_view)
        return [path("global/", view, name="cc_rules_rule_global"), *super().get_urls()]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "rule_help": {"keys": RULE_HELP, "general": VALUE_HELP},
        }
        return super().changeform_view(request, object_id, form_url, extra_context)


class HistoricalRuleAdmin(AgentScopedAdmin, HistoricalRecordsAdmin):
    unassigned_visible = True  # global and role rules; agent overrides of visible agents only
    list_display = ["history_date", "history_user", "change_kind", "record", "changes"]
    list_filter = ["history_type", "scope", RuleKeyFilter, "channel", "history_date"]
    search_fields = [
        "key",
        "note",
        "history_user__username",
        "role__name",
        "agent__user__username",
    ]
    list_select_related = ["history_user"]

    @admin.display(description="rule")
    def record(self, record) -> str:
        target = scope_label(
            record.scope,
            role=related(record, "role") if record.scope == Scope.ROLE else None,
            agent=related(record, "agent") if record.scope == Scope.AGENT else None,
            everyone="everyone",
        )
        where = f" [{record.channel_id}]" if record.channel_id else ""
        return format_html(
            "{}{} — {} <small>(rule #{})</small>", key_label(record.key), where, target, record.id
        )

    def describe_created(self, record) -> list[tuple[str, str]]:
        return [("value", show_value(record.key, record.value))]

    def show(self, field: str, value: Any, record) -> str:
        if field == "value":
            return show_value(record.key, value)
        return super().show(field, value, record)


class HistoricalRoleAdmin(HistoricalRecordsAdmin):
    search_fields = ["name", "label", "history_user__username"]

    def describe_created(self, record) -> list[tuple[str, str]]:
        return [("name", record.name), ("label", record.label or "(empty)")]


class HistoricalReasonCodeAdmin(HistoricalRecordsAdmin):
    search_fields = ["code", "label", "history_user__username"]

    @admin.display(description="reason code")
    def record(self, record) -> str:
        return reason_code_label(record.code, related(record, "role") if record.role_id else None)

    def describe_created(self, record) -> list[tuple[str, str]]:
        return [("code", record.code), ("label", record.label)]


admin.site.register(Rule.history.model, HistoricalRuleAdmin)
admin.site.register(Role.history.model, HistoricalRoleAdmin)
admin.site.register(ReasonCode.history.model, HistoricalReasonCodeAdmin)
