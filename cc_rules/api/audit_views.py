"""Compliance endpoints under /api/v1/audit/ (R16; API.md "Compliance"): read-only.

Readers are the ``compliance`` and ``supervisor`` groups and superusers; agents and the router
get 403, anonymous callers 401. Views validate the query and make one call: a queryset
filtered by ``cc_rules.filtersets``, or a function of ``cc_rules.services.audit`` /
``cc_rules.services.rule_history``. The CSV export lives in ``audit_csv``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
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
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from cc_rules import scoping
from cc_rules.filtersets import StatusChangeFilter, parse_moment
from cc_rules.models import Agent, StatusChange
from cc_rules.scoping import visible_history
from cc_rules.selectors import db_now
from cc_rules.services.audit import LEDGER_COLUMNS, can_read_audit, time_in_status, verify_chain
from cc_rules.services.audit_jobs import (
    EXPORT_JOBS_URL,
    VERIFY_JOBS_URL,
    check_sync_export,
    check_sync_verify,
)
from cc_rules.services.rule_history import (
    ACTIONS,
    RULE_HISTORIES,
    rule_change_keys,
    rule_changes,
)

from .audit_csv import CSV_COLUMNS, CsvAwareMixin, CSVRenderer, csv_response, iso
from .pagination import CursorPage


class CanReadAudit(BasePermission):
    message = "Only compliance staff, supervisors and admins may read the audit."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_read_audit(request.user)


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):
    """A query parameter read with ``parse_moment`` (the filters' parser). ``end_of_day``: an
    upper bound, where a date alone means through the end of that day (as the filters'
    ``until``)."""

    def __init__(self, *args: Any, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        try:
            return parse_moment(str(data).strip(), end_of_day=self.end_of_day)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc

    def to_representation(self, value: datetime) -> str:
        return iso(value)


class AuditError(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    rule = serializers.CharField(allow_null=True)


# Errors are JSON whatever was negotiated (see CsvAwareMixin).
ERRORS = {
    (400, "application/json"): OpenApiResponse(
        AuditError,
        description="`invalid`: a query parameter is not valid; `invalid_cursor`: a `cursor` "
        "this list did not hand out.",
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


def agent_named(username: str, among: QuerySet | None = None) -> Agent:
    """The agent with this username, else a 400 on the ``agent`` parameter. ``among``: the
    agents the caller sees (``cc_rules.scoping.visible_agents``); one outside it is unknown."""
    among = Agent.objects.all() if among is None else among
    # No stored name holds NUL (PostgreSQL text cannot): absent, without asking the database.
    agent = None if "\x00" in username else among.filter(user__username=username).first()
    if agent is None:
        raise serializers.ValidationError({"agent": "No agent with this username."})
    return agent


# --- status changes -----------------------------------------------------------------------------
class StatusChangeSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.user.username")
    actor = serializers.CharField(source="actor_name", help_text="Username, or empty (system).")

    class Meta:
        model = StatusChange
        fields = CSV_COLUMNS


class StatusChangePage(CursorPage):
    ordering = ("at", "id")


@extend_schema(
    tags=["audit"],
    summary="Status, DND and pending history (oldest first)",
    description=(
        "Every change of status, DND and pending status (R16), oldest first by (`at`, `id`), "
        "cursor-paginated. A supervisor gets the rows of their teams' agents only; compliance "
        "and superusers get every row. The filters are the history dashboard's: `since` is "
        "inclusive, `until` exclusive, and a date alone in `until` means through the end of "
        "that day, so `since=2026-02-02&until=2026-02-02` is that whole day. "
        "`Accept: text/csv` or `?format=csv` answers the same columns as CSV "
        "(every matching row, no pagination, with `Content-Length`) when at most "
        "`CC_AUDIT_CSV_MAX_ROWS` rows (default 50,000) match; more is 400 `export_too_large`: "
        f"POST the same filters to `{EXPORT_JOBS_URL}` to export any number as a job."
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
            description="CSV with a header row: " + ", ".join(LEDGER_COLUMNS) + ".",
            examples=[
                OpenApiExample(
                    "CSV",
                    value=",".join(LEDGER_COLUMNS)
                    + "\n17,4,alice,voice,status,not_ready,ready,,agent,,alice,"
                    "9f0c,2026-01-05T09:00:00.123456Z\n",
                    media_type="text/csv",
                )
            ],
        ),
        **ERRORS,
        (400, "application/json"): OpenApiResponse(
            AuditError,
            description="`invalid`: a filter is not valid; `export_too_large`: CSV asked for "
            f"more than `CC_AUDIT_CSV_MAX_ROWS` rows (use `{EXPORT_JOBS_URL}`).",
        ),
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

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return visible_history(self.request.user, super().get_queryset())

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.accepted_renderer.format != "csv":
            return super().list(request, *args, **kwargs)
        # The same filterset over the same scoped rows as the JSON pages (and the dashboard).
        queryset = self.filter_queryset(visible_history(request.user))
        check_sync_export(queryset)
        return csv_response(queryset)


# --- time in status -----------------------------------------------------------------------------
class TimeInStatusQuery(serializers.Serializer):
    agent = serializers.CharField(required=False, help_text="Agent username (default: all).")
    since = MomentField(required=False, help_text="Default: `until` minus one day.")
    until = MomentField(
        required=False,
        end_of_day=True,
        help_text="Default: now. A date alone means through the end of that day.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "agent" in attrs:
            among = scoping.visible_agents(self.context["user"])
            attrs["agent"] = agent_named(attrs["agent"], among)
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
        "microseconds and floored to whole seconds. A supervisor's report covers the agents of "
        "the teams they supervise only (another agent named in `agent` is unknown: 400)."
    ),
    parameters=[TimeInStatusQuery],
    responses={200: TimeInStatusRow(many=True), **ERRORS},
)
class TimeInStatusView(AuditView):
    """A supervisor's report covers their teams' agents only (another team's agent named in
    ``agent`` is unknown: 400); compliance and superusers read every agent."""

    pagination_class = None

    def get(self, request: Request) -> Response:
        query = TimeInStatusQuery(data=request.query_params, context={"user": request.user})
        query.is_valid(raise_exception=True)
        now = db_now()
        until = query.validated_data.get("until", now)
        since = query.validated_data.get("since", until - timedelta(days=1))
        rows = time_in_status(
            agent=query.validated_data.get("agent"),
            agents=scoping.visible_agent_ids(request.user),
            since=since,
            until=until,
            now=now,
        )
        return Response(TimeInStatusRow(rows, many=True).data)


# --- verify -------------------------------------------------------------------------------------
class VerifyBody(serializers.Serializer):
    intact = serializers.BooleanField()
    first_broken = serializers.IntegerField(allow_null=True, help_text="Id of the first bad row.")
    rows_checked = serializers.IntegerField()
    problem = serializers.CharField(allow_blank=True, help_text="Why the row is broken.")
    # Only when not intact: where the break is.
    agent = serializers.CharField(
        allow_null=True, required=False, help_text="Username of the broken chain's agent."
    )
    seq = serializers.IntegerField(
        allow_null=True, required=False, help_text="Seq of the first bad row."
    )
    missing_range = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        required=False,
        help_text="`[first, last]` seqs of the agent's chain that are gone with no archive "
        "covering them (cut from the start, the end, or the whole chain), else null.",
    )

    @classmethod
    def of(cls, result) -> dict:
        body = {
            "intact": result.intact,
            "first_broken": result.first_broken,
            "rows_checked": result.rows_checked,
            "problem": result.problem,
        }
        if not result.intact:
            body["agent"] = (
                Agent.objects.filter(pk=result.agent_id)
                .values_list("user__username", flat=True)
                .first()
            )
            body["seq"] = result.seq
            body["missing_range"] = list(result.missing) if result.missing else None
        data = cls(body).data
        return {key: value for key, value in data.items() if key in body}  # intact: four keys


@extend_schema(
    tags=["audit"],
    summary="Verify the history's hash chain",
    description=(
        "Recomputes every row's keyed hash (HMAC-SHA256) and checks `seq` continuity and "
        "`prev_hash` linkage per agent, every agent's chain head against its last row, archived "
        "ranges only against the archive manifests, and the heads against the newest signed "
        "checkpoint (docs/audit.md). Names the first broken row, or the missing range. Within "
        "one request only up to `CC_AUDIT_SYNC_VERIFY_MAX_ROWS` rows (default 50,000; use "
        "`agent` to check one agent); more is 400 `verify_too_large`: "
        f"`POST {VERIFY_JOBS_URL}` verifies any size as a job."
    ),
    parameters=[OpenApiParameter("agent", str, description="Agent username (default: all).")],
    responses={
        200: VerifyBody,
        **ERRORS,
        (400, "application/json"): OpenApiResponse(
            AuditError,
            description="`invalid`: no such agent; `verify_too_large`: more rows than one "
            f"request checks (use `{VERIFY_JOBS_URL}`).",
        ),
    },
)
class VerifyView(AuditView):
    pagination_class = None

    def get(self, request: Request) -> Response:
        username = request.query_params.get("agent")
        among = scoping.visible_agents(request.user)  # another team's agent is unknown
        agent_id = agent_named(username, among).pk if username else None
        check_sync_verify(agent_id)
        result = verify_chain(agent_id)
        return Response(VerifyBody.of(result))


# --- rule changes -------------------------------------------------------------------------------
class RuleChangeQuery(serializers.Serializer):
    model = serializers.ChoiceField(choices=list(RULE_HISTORIES), required=False)
    since = MomentField(required=False)
    until = MomentField(
        required=False, end_of_day=True, help_text="A date alone means through its end."
    )


class FieldChange(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class RuleChange(serializers.Serializer):
    id = serializers.CharField(help_text="`<model>:<history id>`.")
    model = serializers.ChoiceField(choices=list(RULE_HISTORIES))
    object_id = serializers.IntegerField()
    object = serializers.CharField(help_text="Which rule, role or reason code.")
    action = serializers.ChoiceField(choices=list(ACTIONS.values()))
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
        return rule_change_keys(**query.validated_data)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RuleChange(rule_changes(page or []), many=True).data)
