"""Team scoping in the admin (issue 16, item 1): a supervisor's lists hold only the rows of
their teams' agents, and another team's object URL answers 404 as if it did not exist (never
403, and never the admin's "doesn't exist" redirect, which is a different answer). Superusers
and compliance see every row. Who sees which agents is decided in ``cc_rules.scoping``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from cc_rules import scoping


class VisibleAgentFilter(admin.RelatedFieldListFilter):
    """The "by agent" list filter offering only the agents the user sees (the stock filter
    lists every agent's name)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        limit = None
        if not scoping.sees_all_agents(request.user):
            limit = {"pk__in": scoping.visible_agents(request.user).values("pk")}
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=limit)


class NotFoundOutsideScope:
    """ModelAdmin mixin (first in the bases): for a user who does not see every agent, an
    object outside ``get_queryset`` is 404 on its change, history and simulator pages, exactly
    as an unknown id is (superusers and compliance keep the admin's usual answers)."""

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None and not scoping.sees_all_agents(request.user):
            # Unknown and out-of-scope ids get the same answer: nothing tells them apart.
            raise Http404("No such object.")
        return found

    def _in_scope_or_404(self, request, object_id) -> None:
        if scoping.sees_all_agents(request.user):
            return
        try:
            found = self.get_queryset(request).filter(pk=unquote(object_id)).exists()
        except (ValueError, ValidationError):  # not an id at all: as absent as any other
            found = False
        if not found:
            raise Http404("No such object.")

    def history_view(self, request, object_id, extra_context=None):
        # simple-history falls back to the newest historical row when get_queryset misses.
        self._in_scope_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple-history reads the version without get_queryset: scope it here.
        self._in_scope_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class AgentScopedAdmin(NotFoundOutsideScope):
    """ModelAdmin mixin (first in the bases): rows of the agents the user sees.

    ``agent_field``: the path from this model to its agent (``None``: the model is Agent);
    ``unassigned_visible``: rows without an agent (role and global rules) stay visible.
    """

    agent_field: str | None = "agent"
    unassigned_visible = False

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if self.agent_field is None:
            return scoping.visible_agents(request.user, queryset)
        return scoping.visible_rows(
            request.user, queryset, self.agent_field, unassigned=self.unassigned_visible
        )

    def get_list_filter(self, request):
        # The plain "agent" filter would list every agent's name: offer the visible ones only.
        return [
            (name, VisibleAgentFilter) if name == self.agent_field else name
            for name in super().get_list_filter(request)
        ]
