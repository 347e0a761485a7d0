"""Compliance endpoints under /api/v1/audit/ (R16; API.md "Compliance"): read-only.

Readers are the ``compliance`` and ``supervisor`` groups and superusers; agents and the router
get 403, anonymous callers 401. Views validate the query and make one call: a filtered
queryset, or a function of ``cc_rules.services.audit``.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet, Value
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from cc_rules.choices import Cause, ChannelCode, Event, Status
from cc_rules.models import Agent, ReasonCode, Role, Rule, StatusChange
from cc_rules.permissions_setup import COMPLIANCE, SUPERVISOR
from cc_rules.services.audit import database_now, time_in_status, verify_chain

from .pagination import CursorPage

AUDIT_GROUPS = (COMPLIANCE, SUPERVISOR)
CSV_CHUNK = 2000  # rows per fetch from the server-side cursor and per chunk sent
CSV_COLUMNS = [
    "id",
    "seq",
    "agent",
    "channel",
    "event",
    "from_status",
    "to_status",
    "reason",
    "cause",
    "rule",
    "actor",
    "request_id",
    "at",
]


def can_read_audit(user: Any) -> bool:
    """Compliance staff, supervisors and superusers read the audit (API and dashboards)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name__in=AUDIT_GROUPS).exists()


class CanReadAudit(BasePermission):
    message = "Only compliance staff, supervisors and admins may read the audit."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_read_audit(request.user)


# --- shared pieces ------------------------------------------------------------------------------
def parse_moment(value: str) -> datetime:
    """An ISO 8601 datetime, or a date meaning its midnight; naive values are UTC."""
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


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):
    def to_internal_value(self, data: Any) -> datetime:
        try:
            return parse_moment(str(data).strip())
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc

    def to_representation(self, value: datetime) -> str:
        return _iso(value)


def _iso(value: datetime) -> str:
    """The same text DRF's DateTimeField gives, so CSV and JSON rows read alike."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class AuditError(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    rule = serializers.CharField(allow_null=True)


# Errors are JSON whatever was negotiated (see CsvAwareMixin).
ERRORS = {
    (400, "application/json"): OpenApiResponse(
        AuditError, description="`invalid`: a query parameter is not valid."
    ),
    (401, "application/json"): OpenApiResponse(AuditError, description="`not_authenticated`."),
    (403, "application/json"): OpenApiResponse(
        AuditError, description="`forbidden`: only compliance, supervisors and admins."
    ),
    (503, "application/json"): OpenApiResponse(AuditError, description="`database_unavailable`."),
}


class AuditView(GenericAPIView):
    permission_classes = [CanReadAudit]
    queryset = StatusChange.objects.none()  # for the schema; the views call services


# --- status changes -----------------------------------------------------------------------------
class StatusChangeFilter(filters.FilterSet):
    """The filters of ``/audit/status-changes/``; a value that is not valid is a 400."""

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


class StatusChangeSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.user.username")
    actor = serializers.CharField(source="actor_name", help_text="Username, or empty (system).")

    class Meta:
        model = StatusChange
        fields = CSV_COLUMNS


class StatusChangePage(CursorPage):
    ordering = ("at", "id")


class CSVRenderer(BaseRenderer):
    """``text/csv``: lets content negotiation pick CSV; the list view then streams it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        rows = data if isinstance(data, list) else [data]
        return "".join(_csv_lines([list(r.values()) for r in rows if isinstance(r, dict)]))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def stream_status_changes_csv(queryset: QuerySet) -> Iterator[str]:
    """The CSV of ``queryset`` in (at, id) order, in constant memory.

    A server-side cursor (``.iterator()``) inside one read-only transaction: PostgreSQL sends
    rows in chunks and one snapshot covers the whole export. Closing the response (client
    gone) closes this generator, which ends the transaction.
    """
    yield from _csv_lines([CSV_COLUMNS])
    values = queryset.order_by("at", "id").values_list(
        "id",
        "seq",
        "agent__user__username",
        "channel_id",
        "event",
        "from_status",
        "to_status",
        "reason",
        "cause",
        "rule",
        "actor_name",
        "request_id",
        "at",
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with transaction.atomic():
        for n, row in enumerate(values.iterator(chunk_size=CSV_CHUNK), 1):
            writer.writerow([*row[:3], row[3] or "", *row[4:12], _iso(row[12])])
            if n % CSV_CHUNK == 0:  # one write to the client per chunk, not per row
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


class CsvAwareMixin:
    """Errors are JSON even when CSV was negotiated (API.md: every 4xx has the error body)."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any):
        renderer = getattr(request, "accepted_renderer", None)
        failed = isinstance(response, Response) and response.status_code >= 400
        if failed and renderer is not None and renderer.format == "csv":
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


@extend_schema(
    tags=["audit"],
    summary="Status, DND and pending history (oldest first)",
    description=(
        "Every change of status, DND and pending status (R16), oldest first by (`at`, `id`), "
        "cursor-paginated. `Accept: text/csv` or `?format=csv` streams the same columns as CSV "
        "(every matching row, no pagination) in constant memory."
    ),
    parameters=[
        OpenApiParameter(
            "format", str, enum=["json", "csv"], description="`csv` streams a CSV file."
        ),
    ],
    responses={
        (200, "application/json"): StatusChangeSerializer(many=True),
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR,
            description="CSV with a header row: " + ", ".join(CSV_COLUMNS) + ".",
            examples=[
                OpenApiExample(
                    "CSV",
                    value=",".join(CSV_COLUMNS)
                    + "\n17,4,alice,voice,status,not_ready,ready,,agent,,alice,"
                    "9f0c,2026-01-05T09:00:00.123456Z\n",
                    media_type="text/csv",
                )
            ],
        ),
        **ERRORS,
    },
)
class StatusChangeList(CsvAwareMixin, ListAPIView):
    permission_classes = [CanReadAudit]
    serializer_class = StatusChangeSerializer
    filterset_class = StatusChangeFilter
    filter_backends = [filters.DjangoFilterBackend]
    pagination_class = StatusChangePage
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]
    queryset = StatusChange.objects.select_related("agent__user").order_by("at", "id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.accepted_renderer.format != "csv":
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(StatusChange.objects.all())
        response = StreamingHttpResponse(
            stream_status_changes_csv(queryset), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="status-changes.csv"'
        return response


# --- time in status -----------------------------------------------------------------------------
class TimeInStatusQuery(serializers.Serializer):
    agent = serializers.CharField(required=False, help_text="Agent username (default: all).")
    since = MomentField(required=False, help_text="Default: `until` minus one day.")
    until = MomentField(required=False, help_text="Default: now.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "agent" in attrs:
            agent = Agent.objects.filter(user__username=attrs["agent"]).first()
            if agent is None:
                raise serializers.ValidationError({"agent": "No agent with this username."})
            attrs["agent"] = agent
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and until <= since:
            raise serializers.ValidationError({"until": "Must be later than since."})
        return attrs


class TimeInStatusRow(serializers.Serializer):
    agent = serializers.CharField()
    channel = serializers.CharField(allow_null=True, help_text="null for the `dnd` series.")
    status = serializers.CharField(
        help_text="`ready`, `not_ready`, `after_call_work`, or the series `dnd` and `handling`."
    )
    seconds = serializers.IntegerField(help_text="Whole seconds (total floored).")


@extend_schema(
    tags=["audit"],
    summary="Seconds per agent, channel and status over a range",
    description=(
        "Computed in SQL from the history (window functions): intervals crossing `since` or "
        "`until` are split at the edge and an open interval counts up to now. Extra series: "
        "`dnd` (channel null) and `handling` (open work on the channel while `ready`; part of "
        "`ready`, not added to it). `logged_off` time is not reported. Each total is summed in "
        "microseconds and floored to whole seconds."
    ),
    parameters=[TimeInStatusQuery],
    responses={200: TimeInStatusRow(many=True), **ERRORS},
)
class TimeInStatusView(AuditView):
    pagination_class = None

    def get(self, request: Request) -> Response:
        query = TimeInStatusQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = database_now()
        until = query.validated_data.get("until", now)
        since = query.validated_data.get("since", until - timedelta(days=1))
        rows = time_in_status(
            agent=query.validated_data.get("agent"), since=since, until=until, now=now
        )
        return Response(TimeInStatusRow(rows, many=True).data)


# --- verify -------------------------------------------------------------------------------------
class VerifyBody(serializers.Serializer):
    intact = serializers.BooleanField()
    first_broken = serializers.IntegerField(allow_null=True, help_text="Id of the first bad row.")
    rows_checked = serializers.IntegerField()
    problem = serializers.CharField(allow_blank=True, help_text="Why the row is broken.")


@extend_schema(
    tags=["audit"],
    summary="Verify the history's hash chain",
    description=(
        "Recomputes every row's SHA-256 and checks `seq` continuity and `prev_hash` linkage "
        "per agent (rows archived away start the chain at the oldest remaining row). Streams "
        "the whole ledger: use `agent` to check one agent."
    ),
    parameters=[OpenApiParameter("agent", str, description="Agent username (default: all).")],
    responses={200: VerifyBody, **ERRORS},
)
class VerifyView(AuditView):
    pagination_class = None

    def get(self, request: Request) -> Response:
        agent_id = None
        username = request.query_params.get("agent")
        if username:
            agent_id = Agent.objects.filter(user__username=username).values_list("id", flat=True)
            agent_id = agent_id.first()
            if agent_id is None:
                raise serializers.ValidationError({"agent": "No agent with this username."})
        result = verify_chain(agent_id)
        return Response(
            VerifyBody(
                {
                    "intact": result.intact,
                    "first_broken": result.first_broken,
                    "rows_checked": result.rows_checked,
                    "problem": result.problem,
                }
            ).data
        )


# --- rule changes -------------------------------------------------------------------------------
RULE_HISTORIES = {"rule": Rule, "role": Role, "reason_code": ReasonCode}


class RuleChangeQuery(serializers.Serializer):
    model = serializers.ChoiceField(choices=list(RULE_HISTORIES), required=False)
    since = MomentField(required=False)
    until = MomentField(required=False)


class FieldChange(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class RuleChange(serializers.Serializer):
    id = serializers.CharField(help_text="`<model>:<history id>`.")
    model = serializers.ChoiceField(choices=list(RULE_HISTORIES))
    object_id = serializers.IntegerField()
    object = serializers.CharField(help_text="Which rule, role or reason code.")
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    who = serializers.CharField(allow_null=True, help_text="Username, null if unknown.")
    when = serializers.DateTimeField()
    reason = serializers.CharField(allow_null=True, help_text="The change reason, if given.")
    changes = FieldChange(many=True, help_text="Old and new value of every field that changed.")


class RuleChangePage(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


@extend_schema(
    tags=["audit"],
    summary="Who changed which rule, role or reason code, when; old and new values",
    description="From django-simple-history, newest first. Admin changes name the admin user.",
    parameters=[RuleChangeQuery],
    responses={200: RuleChange(many=True), **ERRORS},
)
class RuleChangeList(AuditView, ListAPIView):
    pagination_class = RuleChangePage
    serializer_class = RuleChange

    def get_queryset(self) -> QuerySet:
        query = RuleChangeQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        parts = []
        for name, model in RULE_HISTORIES.items():
            if query.validated_data.get("model", name) != name:
                continue
            qs = model.history.all()  # type: ignore[attr-defined]
            if "since" in query.validated_data:
                qs = qs.filter(history_date__gte=query.validated_data["since"])
            if "until" in query.validated_data:
                qs = qs.filter(history_date__lt=query.validated_data["until"])
            parts.append(
                qs.order_by()
                .annotate(model=Value(name))
                .values_list("history_date", "history_id", "model")
            )
        first, *rest = parts
        return first.union(*rest, all=True).order_by("-history_date", "-history_id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RuleChange(rule_changes(page or []), many=True).data)


def rule_changes(keys: list[tuple[datetime, int, str]]) -> list[dict[str, Any]]:
    """Expand ``(date, history id, model)`` keys into changes with old and new values."""
    records: dict[tuple[str, int], Any] = {}
    previous: dict[tuple[str, int], Any] = {}
    for name, model in RULE_HISTORIES.items():
        ids = [hid for _, hid, m in keys if m == name]
        if not ids:
            continue
        history = model.history  # type: ignore[attr-defined]
        page = {h.history_id: h for h in history.filter(history_id__in=ids)}
        records.update({(name, hid): h for hid, h in page.items()})
        object_ids = {h.id for h in page.values()}
        chain: dict[int, list[Any]] = {}
        for h in history.filter(id__in=object_ids).order_by("history_date", "history_id"):
            chain.setdefault(h.id, []).append(h)
        for versions in chain.values():
            for before, after in itertools.pairwise(versions):
                previous[(name, after.history_id)] = before
    users = _usernames(h.history_user_id for h in records.values())
    labels = _Labels()
    out = []
    for _date, hid, name in keys:
        record = records.get((name, hid))
        if record is None:
            continue
        new = _values(record)
        before = previous.get((name, hid))
        old = _values(before) if before is not None else {}
        if record.history_type == "-":
            changes = [{"field": f, "old": v, "new": None} for f, v in sorted(new.items())]
        else:
            changes = [
                {"field": f, "old": old.get(f), "new": v}
                for f, v in sorted(new.items())
                if before is None or old.get(f) != v
            ]
        out.append(
            {
                "id": f"{name}:{hid}",
                "model": name,
                "object_id": record.id,
                "object": labels.label(name, record),
                "action": {"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
                "who": users.get(record.history_user_id),
                "when": record.history_date,
                "reason": record.history_change_reason,
                "changes": changes,
            }
        )
    return out


def _values(record: Any) -> dict[str, Any]:
    values = {}
    for field in record.tracked_fields:
        if field.primary_key or not field.editable:
            continue
        values[field.name] = _plain(getattr(record, field.attname))
    for field in getattr(record, "_history_m2m_fields", ()):
        rows = getattr(record, field.name).all()
        target = field.m2m_reverse_field_name()
        values[field.name] = sorted(_plain(getattr(r, f"{target}_id")) for r in rows)
    return values


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _usernames(ids: Any) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    User = get_user_model()
    return dict(User.objects.filter(pk__in=wanted).values_list("pk", User.USERNAME_FIELD))


class _Labels:
    """Human names for historical rows, tolerant of roles and agents deleted since."""

    def __init__(self) -> None:
        self.roles = dict(Role.objects.values_list("id", "name"))
        self.agents = dict(Agent.objects.values_list("id", "user__username"))

    def label(self, model: str, record: Any) -> str:
        if model == "role":
            return record.name
        if model == "reason_code":
            role = self.roles.get(record.role_id, f"role #{record.role_id}")
            return f"{record.code} ({role if record.role_id else 'global'})"
        where = f"[{record.channel_id}]" if record.channel_id else ""
        if record.scope == "role":
            target = f"role {self.roles.get(record.role_id, f'#{record.role_id}')}"
        elif record.scope == "agent":
            target = f"agent {self.agents.get(record.agent_id, f'#{record.agent_id}')}"
        else:
            target = "global"
        return f"{record.key}{where} @ {target}"
