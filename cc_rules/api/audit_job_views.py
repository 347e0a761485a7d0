"""Audit jobs under /api/v1/audit/ (issue 14, item 3): verify and CSV export of any size.

``POST …/verify/jobs/`` and ``POST …/status-changes/jobs/`` answer 202 with the job (and its
URL in ``Location``); a Celery worker on the ``audit`` queue runs it. ``GET …/jobs/`` lists the
caller's jobs, ``GET …/jobs/{id}/`` reads one (state, progress, result) and
``GET …/jobs/{id}/download/`` returns an export's CSV file. Readers of the audit (compliance,
supervisors, superusers) ask for jobs; a job is visible only to its requester and superusers
(404 for anyone else, as for anything absent).
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from cc_rules.filtersets import StatusChangeFilter
from cc_rules.models import AuditJob
from cc_rules.services import audit_jobs
from cc_rules.services.errors import NotFound, ServiceError

from .audit_views import ERRORS, AuditError, CanReadAudit, agent_named
from .pagination import CursorPage
from .serializers import StrictSerializer

MAX_ID = 2**63 - 1


class JobNotDone(ServiceError):
    status = 409
    code = "job_not_done"


class ExportExpired(ServiceError):
    status = 410
    code = "export_expired"


class AuditJobSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username")
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(
        help_text="Export jobs that are done, until the file expires; else null."
    )
    rows_done = serializers.IntegerField(help_text="Rows checked or written so far.")
    rows_total = serializers.IntegerField(
        allow_null=True, help_text="Rows to go through (counted when the job started)."
    )
    result = serializers.JSONField(
        allow_null=True,
        help_text="verify: `{intact, first_broken, rows_checked, problem, agent, seq}`; "
        "export: `{rows, bytes, sha256}` of the CSV file. Null until done.",
    )
    error = serializers.CharField(allow_blank=True, help_text="Why the job failed.")

    class Meta:
        model = AuditJob
        fields = [
            "id",
            "kind",
            "state",
            "parameters",
            "requested_by",
            "rows_done",
            "rows_total",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "file_expires_at",
            "url",
            "download_url",
        ]

    def _request(self) -> Any:
        return self.context.get("request")

    def get_url(self, job: AuditJob) -> str:
        return reverse("audit-job", args=[job.pk], request=self._request())

    def get_download_url(self, job: AuditJob) -> str | None:
        if job.kind != AuditJob.Kind.EXPORT or job.state != AuditJob.State.DONE:
            return None
        if not job.file_name:
            return None
        return reverse("audit-job-download", args=[job.pk], request=self._request())


class VerifyJobRequest(StrictSerializer):
    agent = serializers.CharField(required=False, help_text="Agent username (default: all).")

    def validate_agent(self, value: str) -> str:
        agent_named(value)
        return value


class ExportJobRequest(StrictSerializer):
    """The filters of ``GET /audit/status-changes/`` (same names, same meaning)."""

    agent = serializers.CharField(required=False)
    channel = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    cause = serializers.CharField(required=False)
    event = serializers.CharField(required=False)
    reason = serializers.CharField(required=False, help_text="Reason code.")
    actor = serializers.CharField(
        required=False, help_text="Username of who made the change; `system` for nobody."
    )
    since = serializers.CharField(required=False, help_text="ISO date or datetime.")
    until = serializers.CharField(
        required=False,
        help_text="ISO datetime (exclusive), or a date: through the end of that day.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        filterset = StatusChangeFilter(data=attrs)
        if not filterset.is_valid():
            raise serializers.ValidationError(
                {k: [str(e) for e in v] for k, v in filterset.errors.items()}
            )
        return attrs


def _accepted(request: Request, job: AuditJob) -> Response:
    body = AuditJobSerializer(job, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


JOB_ERRORS = {
    **ERRORS,
    (404, "application/json"): OpenApiResponse(
        AuditError, description="`not_found`: no such job, or another user's."
    ),
}


class JobView(GenericAPIView):
    permission_classes = [CanReadAudit]
    queryset = AuditJob.objects.none()  # for the schema; the views read audit_jobs.jobs_of
    serializer_class = AuditJobSerializer
    pagination_class = None

    def get_job(self, pk: int) -> AuditJob:
        if pk > MAX_ID:  # no such row; SQLite could not even compare it
            raise NotFound(detail="No such job.")
        job = audit_jobs.jobs_of(self.request.user).filter(pk=pk).first()
        if job is None:
            raise NotFound(detail="No such job.")
        return job


def _start(request: Request, kind: str, body: type[serializers.Serializer]) -> Response:
    query = body(data=request.data)
    query.is_valid(raise_exception=True)
    return _accepted(request, audit_jobs.start(kind, dict(query.validated_data), request.user))


@extend_schema_view(
    post=extend_schema(
        tags=["audit"],
        operation_id="startVerifyJob",
        summary="Verify the history's hash chain as a job (any size)",
        description="202 with the job; poll its `url` for `state`, `rows_done`/`rows_total` and, "
        "once `done`, the `result` (`GET /audit/verify/`'s body). Runs on the `audit` worker.",
        request=VerifyJobRequest,
        responses={202: AuditJobSerializer, **ERRORS},
    )
)
class VerifyJobCreate(JobView):
    def post(self, request: Request) -> Response:
        return _start(request, AuditJob.Kind.VERIFY, VerifyJobRequest)


@extend_schema_view(
    post=extend_schema(
        tags=["audit"],
        operation_id="startExportJob",
        summary="Export status changes as CSV, as a job (any size)",
        description="The filters of `GET /audit/status-changes/` as JSON. 202 with the job; once "
        "`done`, `download_url` gives the CSV: the same bytes as the `?format=csv` answer for the "
        "same filters. Only the requester (and superusers) can download it; the file is deleted "
        "`CC_AUDIT_EXPORT_RETENTION_HOURS` (default 72) after the job finished.",
        request=ExportJobRequest,
        responses={202: AuditJobSerializer, **ERRORS},
    )
)
class ExportJobCreate(JobView):
    def post(self, request: Request) -> Response:
        return _start(request, AuditJob.Kind.EXPORT, ExportJobRequest)


class JobPage(CursorPage):
    ordering = ("-created_at", "-id")


@extend_schema_view(
    get=extend_schema(
        tags=["audit"],
        operation_id="listAuditJobs",
        summary="The caller's audit jobs, newest first",
        responses={200: AuditJobSerializer(many=True), **ERRORS},
    )
)
class AuditJobList(ListAPIView):
    permission_classes = [CanReadAudit]
    serializer_class = AuditJobSerializer
    pagination_class = JobPage
    queryset = AuditJob.objects.none()  # for the schema

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return AuditJob.objects.filter(requested_by=self.request.user).select_related(
            "requested_by"
        )


@extend_schema_view(
    get=extend_schema(
        tags=["audit"],
        operation_id="getAuditJob",
        summary="One audit job: state, progress, result",
        responses={200: AuditJobSerializer, **JOB_ERRORS},
    )
)
class AuditJobDetail(JobView):
    def get(self, request: Request, pk: int) -> Response:
        return Response(AuditJobSerializer(self.get_job(pk), context={"request": request}).data)


@extend_schema_view(
    get=extend_schema(
        tags=["audit"],
        operation_id="downloadAuditJobFile",
        summary="Download an export job's CSV file",
        description="Only its requester (and superusers). 409 `job_not_done` before it is done; "
        "410 `export_expired` once the file was deleted.",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV file."),
            **JOB_ERRORS,
            (409, "application/json"): OpenApiResponse(AuditError, description="`job_not_done`."),
            (410, "application/json"): OpenApiResponse(AuditError, description="`export_expired`."),
        },
    )
)
class AuditJobDownload(JobView):
    def get(self, request: Request, pk: int) -> FileResponse:
        job = self.get_job(pk)
        if job.kind != AuditJob.Kind.EXPORT:
            raise NotFound(detail="Only export jobs have a file.")
        if job.state != AuditJob.State.DONE:
            raise JobNotDone(detail=f"The job is {job.state}; download it once it is done.")
        path = audit_jobs.export_path(job)
        if path is None:
            raise ExportExpired(detail="The export file was deleted after its retention time.")
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"status-changes-job-{job.pk}.csv",
            content_type="text/csv; charset=utf-8",
        )
