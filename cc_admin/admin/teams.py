"""Teams (issue 16, item 1): which agents each supervisor sees and acts on."""

from __future__ import annotations

from django.contrib import admin

from cc_rules.models import Team

from .base import HistoryAdmin


@admin.register(Team)
class TeamAdmin(HistoryAdmin):
    list_display = ["name", "label", "agent_count", "supervisor_names"]
    search_fields = ["name", "label", "agents__user__username", "supervisors__username"]
    filter_horizontal = ["agents", "supervisors"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("agents", "supervisors")

    @admin.display(description="agents")
    def agent_count(self, team: Team) -> int:
        return len(team.agents.all())

    @admin.display(description="supervisors")
    def supervisor_names(self, team: Team) -> str:
        return ", ".join(sorted(u.username for u in team.supervisors.all())) or "—"
