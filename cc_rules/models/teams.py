"""Teams: which agents a supervisor sees and acts on (issue 16, item 1; DECISIONS.md).

A supervisor sees and acts only on the agents of the teams they supervise, in the API (404 for
the others), the admin and the dashboards; superusers see all, and compliance reads all. The
questions "who sees whom" are answered in one place, ``cc_rules.scoping``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class Team(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=128, blank=True)
    agents = models.ManyToManyField("cc_rules.Agent", blank=True, related_name="teams")
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="supervised_teams",
        help_text="Users in the supervisor group who see and act on this team's agents.",
    )
    history = HistoricalRecords(m2m_fields=[agents, supervisors])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name
