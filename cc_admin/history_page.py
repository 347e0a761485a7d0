"""What the history dashboard shows (issue 16, item 5): the ledger rows a filter selects, newest
first in keyset pages, and the link to their CSV.

The filters are ``cc_rules.filtersets.history_filter``: the same FilterSet, over the same rows
the viewer may see (``cc_rules.scoping``), as ``GET /api/v1/audit/status-changes/``, its CSV and
the export job. Every link the page builds (the CSV, older and newest pages) carries the
filters as ``StatusChangeFilter.query()`` spells them, so each selects exactly the page's rows:
the CSV has all of them (oldest first), the table shows them ``HISTORY_PAGE`` at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.urls import reverse

from cc_rules.engine.reasons import SYSTEM_REASONS
from cc_rules.filtersets import SYSTEM_ACTOR, history_filter, parse_moment
from cc_rules.models import ReasonCode, StatusChange
from cc_rules.permissions_setup import SUPERVISOR
from cc_rules.scoping import sees_all_agents, visible_agents
from cc_rules.services.audit_jobs import EXPORT_JOBS_URL, rows_at_most

HISTORY_PAGE = 100


def _local_input(moment: datetime | None) -> str:
    """A moment as a ``datetime-local`` input's value (UTC, to the second)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else ""


def _after_keyset(rows: Any, before: str | None) -> Any:
    """Rows strictly older than the ``before`` position (``<at ISO>|<id>``) of the last page."""
    if not before:
        return rows
    at_text, _, pk = before.rpartition("|")
    try:
        moment = parse_moment(at_text)
    except ValueError:
        return rows
    if not pk.isdigit():
        return rows
    return rows.filter(at__lte=moment).exclude(at=moment, id__gte=int(pk))


def _choices(request: HttpRequest, filterset: Any) -> dict[str, list[str]]:
    """Names for the agent list and the actor and reason suggestions, as far as the viewer may
    see them (a supervisor is offered their teams' agents and themself, nobody else)."""
    user = request.user
    agents = list(
        visible_agents(user).order_by("user__username").values_list("user__username", flat=True)
    )
    actors = {*agents, user.get_username()}
    if sees_all_agents(user):
        people = get_user_model().objects.filter(is_active=True, is_staff=True)
        actors |= set(
            people.filter(groups__name=SUPERVISOR).values_list("username", flat=True)
        ) | set(people.filter(is_superuser=True).values_list("username", flat=True))
    reasons = {*SYSTEM_REASONS, *ReasonCode.objects.values_list("code", flat=True)}
    chosen = filterset.data.get("reason")
    if chosen:
        reasons.add(chosen)
    return {
        "agents": agents,
        "actors": [SYSTEM_ACTOR, *sorted(actors - {SYSTEM_ACTOR})],
        "reasons": sorted(reasons),
    }


def history_context(request: HttpRequest) -> dict[str, Any]:
    """The history page's context for ``request``'s filters and page position."""
    filterset = history_filter(request.GET, request.user)
    valid = filterset.is_valid()
    query = filterset.query() if valid else {}
    matching = filterset.qs if valid else StatusChange.objects.none()
    newest_first = matching.select_related("agent__user").order_by("-at", "-id")
    before = request.GET.get("before")
    page = list(_after_keyset(newest_first, before)[: HISTORY_PAGE + 1])
    more = len(page) > HISTORY_PAGE
    page = page[:HISTORY_PAGE]
    older = None
    if more:
        last = page[-1]
        older = "?" + urlencode({**query, "before": f"{last.at.isoformat()}|{last.pk}"})

    limit = settings.CC_AUDIT_CSV_MAX_ROWS
    count = rows_at_most(matching, limit) if valid else 0  # bounded: never a full COUNT(*)
    cleaned = getattr(filterset.form, "cleaned_data", {})  # the valid fields, even if some are not
    return {
        "filterset": filterset,
        "rows": page,
        "older": older,
        "newest": "?" + urlencode(query) if before else None,
        "matching": count,
        "too_many": count > limit,
        "csv_limit": limit,
        "csv_url": (
            reverse("audit-status-changes") + "?" + urlencode({**query, "format": "csv"})
            if valid and count <= limit
            else None
        ),
        "export_jobs_url": EXPORT_JOBS_URL,
        "page_size": HISTORY_PAGE,
        "since_value": _local_input(cleaned.get("since")),
        "until_value": _local_input(cleaned.get("until")),
        **_choices(request, filterset),
    }
