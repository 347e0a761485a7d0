"""Query filters over the status ledger (R16), and the one parser of a moment typed by a person.

Like netbox's ``filtersets.py``: one ``FilterSet`` serves ``/api/v1/audit/status-changes/``
(JSON and its CSV export) and the admin's history dashboard, so the three never disagree on
what a filter means. ``parse_moment`` is also what ``archive_history --before`` and the
audit API's query serializers read dates with.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters

from cc_rules.choices import Cause, ChannelCode, Event, Status
from cc_rules.models import StatusChange


def parse_moment(value: str) -> datetime:
    """An ISO 8601 datetime, or a date meaning its midnight; naive values are UTC.

    Raises ``ValueError`` with a message fit to show the person who typed ``value``.
    """
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                raise ValueError(value)
            moment = datetime.combine(day, time.min)
    except ValueError as exc:
        raise ValueError("Enter an ISO 8601 date or datetime.") from exc
    if not 1900 <= moment.year <= 9000:  # leaves room for day arithmetic either side
        raise ValueError("Enter a date between the years 1900 and 9000.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MomentFormField(forms.Field):
    """A form field for ``parse_moment``: empty is ``None``, a bad value is ``invalid``."""

    def to_python(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value).strip())
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


class MomentFilter(filters.Filter):
    field_class = MomentFormField


class StatusChangeFilter(filters.FilterSet):
    """The filters of the status ledger; a value that is not valid is a 400 in the API."""

    agent = filters.CharFilter(field_name="agent__user__username", help_text="Agent username.")
    channel = filters.ChoiceFilter(choices=ChannelCode.choices, empty_label="All channels")
    status = filters.ChoiceFilter(
        field_name="to_status",
        choices=[*Status.choices, ("on", "DND on"), ("off", "DND off")],
        help_text="The status changed to (`to_status`).",
        empty_label="All statuses",
    )
    cause = filters.ChoiceFilter(choices=Cause.choices, empty_label="All causes")
    event = filters.ChoiceFilter(choices=Event.choices, empty_label="All events")
    since = MomentFilter(
        field_name="at", lookup_expr="gte", help_text="From this moment on (ISO date/datetime)."
    )
    until = MomentFilter(
        field_name="at", lookup_expr="lt", help_text="Before this moment (ISO date/datetime)."
    )

    class Meta:
        model = StatusChange
        fields = ["agent", "channel", "status", "cause", "event", "since", "until"]
