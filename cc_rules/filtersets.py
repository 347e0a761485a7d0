"""Query filters over the status ledger (R16), and the one parser of a moment typed by a person.

Like netbox's ``filtersets.py``: one ``FilterSet`` serves ``/api/v1/audit/status-changes/``
(JSON and its CSV export), the export job and the admin's history dashboard, so they never
disagree on what a filter means. ``StatusChangeFilter.query()`` spells the filters in force one
way (moments as UTC instants), which is what the dashboard's CSV link, its pages and an export
job carry; ``history_filter`` adds who may see which rows (``cc_rules.scoping``).
``parse_moment`` is also what ``archive_history --before`` and the audit API's query
serializers read dates with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters

from cc_rules.choices import Cause, ChannelCode, Event, Status
from cc_rules.models import StatusChange
from cc_rules.scoping import visible_history

# The filters of the ledger, in the order the dashboard shows them and links carry them.
HISTORY_FILTERS = (
    "agent",
    "channel",
    "status",
    "event",
    "cause",
    "reason",
    "actor",
    "since",
    "until",
)
# ``actor=system``: the rows no person caused (timers, sweeps, deactivation), which every table
# shows as "system"; the ledger keeps an empty ``actor_name`` for them.
SYSTEM_ACTOR = "system"


def parse_moment(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 datetime, or a date meaning its midnight; naive values are UTC.

    With ``end_of_day`` a date alone means the end of that day (the next midnight): what an
    exclusive upper bound such as ``until`` needs so that "until 2 Feb" includes 2 Feb.
    A datetime is taken as it is either way. Raises ``ValueError`` with a message fit to show
    the person who typed ``value``.
    """
    try:
        # The date first: parse_datetime (datetime.fromisoformat) also takes a date alone.
        day = parse_date(value)
        if day is not None:
            moment = datetime.combine(day, time.min)
            if end_of_day:
                moment += timedelta(days=1)
        else:
            moment = parse_datetime(value)
            if moment is None:
                raise ValueError(value)
    except (ValueError, OverflowError) as exc:
        raise ValueError("Enter an ISO 8601 date or datetime.") from exc
    if not 1900 <= moment.year <= 9000:  # leaves room for day arithmetic either side
        raise ValueError("Enter a date between the years 1900 and 9000.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def instant(moment: datetime) -> str:
    """A moment as an ISO 8601 UTC instant (``2026-02-02T23:00:00Z``): how links spell it."""
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


class MomentFormField(forms.Field):
    """A form field for ``parse_moment``: empty is ``None``, a bad value is ``invalid``."""

    def __init__(self, *args: Any, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value).strip(), end_of_day=self.end_of_day)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


class MomentFilter(filters.Filter):
    field_class = MomentFormField


def actor_rows(queryset: QuerySet, username: str) -> QuerySet:
    """Rows changed by ``username`` (as kept on the row), or by nobody for ``system``."""
    return queryset.filter(actor_name="" if username == SYSTEM_ACTOR else username)


class StatusChangeFilter(filters.FilterSet):
    """The filters of the status ledger; a value that is not valid is a 400 in the API and a
    form error on the dashboard. ``since`` is inclusive, ``until`` exclusive; a date alone in
    ``until`` means through the end of that day, so ``since=D&until=D`` is the whole day D."""

    agent = filters.CharFilter(
        field_name="agent__user__username", max_length=150, help_text="Agent username."
    )
    channel = filters.ChoiceFilter(choices=ChannelCode.choices, empty_label="All channels")
    status = filters.ChoiceFilter(
        field_name="to_status",
        choices=[*Status.choices, ("on", "DND on"), ("off", "DND off")],
        help_text="The status changed to (`to_status`).",
        empty_label="All statuses",
    )
    event = filters.ChoiceFilter(choices=Event.choices, empty_label="All events")
    cause = filters.ChoiceFilter(choices=Cause.choices, empty_label="All causes")
    reason = filters.CharFilter(
        field_name="reason",
        max_length=32,
        help_text="Reason code (`break`, `lunch`, or a system reason: `login`, `acw_timeout`, "
        "`missed_offer`).",
    )
    actor = filters.CharFilter(
        method="filter_actor",
        max_length=150,
        help_text="Username of who made the change (the agent, a supervisor); `system` for "
        "changes nobody made (timers, sweeps).",
    )
    since = MomentFilter(
        field_name="at", lookup_expr="gte", help_text="From this moment on (ISO date/datetime)."
    )
    until = MomentFilter(
        field_name="at",
        lookup_expr="lt",
        end_of_day=True,
        help_text="Before this moment (ISO datetime); a date alone means through the end of "
        "that day (before the next midnight, UTC).",
    )

    class Meta:
        model = StatusChange
        fields = list(HISTORY_FILTERS)

    def filter_actor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return actor_rows(queryset, value)

    def query(self) -> dict[str, str]:
        """The filters in force, each spelled one way, in ``HISTORY_FILTERS`` order: moments as
        UTC instants (a date-only ``until`` becomes the next midnight). Call after
        ``is_valid()``; links built from it select exactly the rows this filterset does."""
        out = {}
        for name in HISTORY_FILTERS:
            value = self.form.cleaned_data.get(name)
            if value in (None, ""):
                continue
            out[name] = instant(value) if isinstance(value, datetime) else str(value)
        return out


def history_filter(data: Mapping[str, Any], user: Any) -> StatusChangeFilter:
    """The ledger rows ``user`` may see (``cc_rules.scoping``), filtered by ``data``: the one
    entry point of the dashboard's history page and the export job (the API list goes through
    DRF's filter backend with the same filterset over the same scoped queryset)."""
    relevant = {k: v for k, v in data.items() if k in HISTORY_FILTERS}
    return StatusChangeFilter(relevant, queryset=visible_history(user))
