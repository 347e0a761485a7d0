"""Shared admin pieces: read-only ledgers and the guard on simple-history's revert view."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from cc_admin.live import CHANNEL_WORDS
from cc_admin.rule_matrix.cells import (
    AFTER_DONE_WORDS,
    END_EVENT_WORDS,
    NUMBER_TYPE_WORDS,
)
from cc_rules.engine.rulebook import RULES

# How a null value reads, per rule key (DECISIONS.md: "unlimited", "no timer" and "inherit"
# are distinct; inherit is the absence of a row and never shows as a value).
NULL_MEANS = {
    "channel_cap": "unlimited",
    "total_cap": "unlimited",
    "acw_seconds": "no timer",
    "offer_timeout_seconds": "never expires",
    "after_done_reason": "none",
}


def show_value(key: str, value: Any) -> str:
    """A rule value as an admin reads it: JSON, with null spelled out."""
    if value is None:
        return f"null ({NULL_MEANS.get(key, 'none')})"
    definition = RULES.get(key)
    if definition is not None and isinstance(value, frozenset):
        value = definition.encode(value)
    return json.dumps(value, ensure_ascii=False)


# Statuses, channels, end events and number types in the matrix's words.
WORDS: dict[str, str] = {
    **CHANNEL_WORDS,
    **END_EVENT_WORDS,
    **NUMBER_TYPE_WORDS,
    **AFTER_DONE_WORDS,
}


def value_in_words(key: str, value: Any) -> str:
    """A rule value as an admin says it: "unlimited", "yes", "Not ready", "voice → chat"."""
    if value is None:
        return NULL_MEANS.get(key, "none")
    definition = RULES.get(key)
    if definition is not None and isinstance(value, frozenset):
        value = definition.encode(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value} s" if key.endswith("_seconds") else str(value)
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        return ", ".join(
            " → ".join(WORDS.get(v, v) for v in item)
            if isinstance(item, list | tuple)
            else WORDS.get(item, item)
            for item in value
        )
    return WORDS.get(str(value), str(value))


def key_label(key: str) -> str:
    definition = RULES.get(key)
    return f"{definition.rule} · {definition.label}" if definition else key


class NoWrites:
    """Admin mixin: nobody adds, changes or deletes here, not even a superuser."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(NoWrites, admin.ModelAdmin):
    """A ledger or live-state view: nobody adds, changes or deletes here, not even a superuser.

    Live state changes only through the services (they lock the agent and write history rows);
    the status ledger is append-only (R16).
    """

    actions = None


class ReadOnlyInline(NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


class HistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose "revert" form cannot be used to write without change permission.

    simple-history only checks *view* permission on its historical-version view, also for POST,
    so a read-only user (compliance) could revert a rule by posting that form. Refuse it.
    """

    object_history_list_template = "admin/cc_rules/object_history_list.html"

    def history_view(self, request, object_id, extra_context=None):
        labels = []
        for name in self.get_history_list_display(request):
            method = getattr(self, name, None)
            labels.append(getattr(method, "short_description", name.replace("_", " ")))
        extra_context = {**(extra_context or {}), "history_list_labels": labels}
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class HistoricalRecordsAdmin(ReadOnlyAdmin):
    """Every recorded change of one model, newest first: who, when, what, old → new value.

    One page for compliance to scan all rule changes, including rows that were deleted since
    (whose own "History" page can no longer be reached).
    """

    list_display = ["history_date", "history_user", "change_kind", "record", "changes"]
    list_filter = ["history_type", "history_date"]
    date_hierarchy = "history_date"
    search_fields = ["history_user__username", "history_change_reason"]
    list_select_related = ["history_user"]
    list_per_page = 50

    @admin.display(description="what", ordering="history_type")
    def change_kind(self, record) -> str:
        return record.get_history_type_display()

    @admin.display(description="record")
    def record(self, record) -> str:
        return str(record.instance)

    @admin.display(description="changes (old → new)")
    def changes(self, record) -> str:
        previous = record.prev_record
        if previous is None:
            fields = self.describe_created(record)
            return format_html("<ul>{}</ul>", _items(fields)) if fields else "—"
        delta = record.diff_against(previous)
        rows = [
            (c.field, f"{self.show(c.field, c.old, record)} → {self.show(c.field, c.new, record)}")
            for c in delta.changes
        ]
        return format_html("<ul>{}</ul>", _items(rows)) if rows else "no field changed"

    def describe_created(self, record) -> list[tuple[str, str]]:
        return []

    def show(self, field: str, value: Any, record) -> str:
        if isinstance(value, list):  # m2m: a list of through-row dicts
            # each dict is {parent: id, other: id}; the other side is the one to show
            return ", ".join(sorted(str(list(v.values())[-1]) for v in value)) or "(none)"
        return "(empty)" if value in (None, "") else str(value)


def _items(rows: list[tuple[str, str]]):
    return format_html_join("", "<li><strong>{}</strong>: {}</li>", rows)
