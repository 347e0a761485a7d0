"""Teams (issue 16, item 1): which agents each supervisor sees and acts on.

Superusers edit teams; supervisors (view permission) read the teams they supervise, compliance
reads every team. Supervisors are picked among active users in the supervisor group only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from cc_rules import scoping
from cc_rules.models import Team
from cc_rules.permissions_setup import SUPERVISOR

from .base import HistoryAdmin
from .scoped import NotFoundOutsideScope


def supervisor_candidates() -> QuerySet:
    """Who may supervise a team: active users in the supervisor group."""
    return get_user_model().objects.filter(is_active=True, groups__name=SUPERVISOR)


class TeamForm(forms.ModelForm):
    NOT_A_SUPERVISOR = (
        "Only active users in the supervisor group can supervise a team: {names} "
        "{verb} not. Add them to the supervisor group on their user page, or remove them here."
    )

    class Meta:
        model = Team
        fields = ["name", "label", "agents", "supervisors"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("supervisors")
        if field is None:  # a read-only view (supervisors, compliance): no fields to offer
            return
        # The current supervisors stay listed (selected) even if they no longer qualify, so the
        # form can say why it refuses instead of silently dropping them.
        current = Q(pk__in=self.instance.supervisors.values("pk")) if self.instance.pk else Q()
        ids = supervisor_candidates().values("pk")
        field.queryset = (
            get_user_model().objects.filter(Q(pk__in=ids) | current).order_by("username")
        )
        field.error_messages["invalid_choice"] = (
            "Only active users in the supervisor group can supervise a team; %(value)s is not "
            "one of them."
        )
        field.help_text = "Active users in the supervisor group. " + (field.help_text or "")

    def clean_supervisors(self):
        chosen = self.cleaned_data["supervisors"]
        allowed = set(supervisor_candidates().values_list("pk", flat=True))
        refused = sorted(user.username for user in chosen if user.pk not in allowed)
        if refused:
            raise forms.ValidationError(
                self.NOT_A_SUPERVISOR.format(
                    names=", ".join(refused), verb="is" if len(refused) == 1 else "are"
                ),
                code="not_a_supervisor",
            )
        return chosen


@admin.register(Team)
class TeamAdmin(NotFoundOutsideScope, HistoryAdmin):
    form = TeamForm
    list_display = ["name", "label", "agent_count", "supervisor_names"]
    search_fields = ["name", "label", "agents__user__username", "supervisors__username"]
    autocomplete_fields = ["agents"]  # searchable at any number of agents
    filter_horizontal = ["supervisors"]

    def get_queryset(self, request):
        teams = super().get_queryset(request).prefetch_related("agents__user", "supervisors")
        if scoping.sees_all_agents(request.user):
            return teams
        # A supervisor reads the teams they supervise; no other team's agents are shown.
        return teams.filter(supervisors=request.user)

    @admin.display(description="agents")
    def agent_count(self, team: Team) -> int:
        return len(team.agents.all())

    @admin.display(description="supervisors")
    def supervisor_names(self, team: Team) -> str:
        return ", ".join(sorted(u.username for u in team.supervisors.all())) or "—"
