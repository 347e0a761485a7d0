"""Compliance endpoints under /api/v1/audit/ (issue 6; API.md "Compliance"), and the audit
jobs that run long work off the request path (issue 14)."""

from django.urls import path

from .audit_job_views import (
    AuditJobDetail,
    AuditJobDownload,
    AuditJobList,
    ExportJobCreate,
    VerifyJobCreate,
)
from .audit_views import RuleChangeList, StatusChangeList, TimeInStatusView, VerifyView

urlpatterns = [
    path("status-changes/", StatusChangeList.as_view(), name="audit-status-changes"),
    path("status-changes/jobs/", ExportJobCreate.as_view(), name="audit-export-jobs"),
    path("time-in-status/", TimeInStatusView.as_view(), name="audit-time-in-status"),
    path("verify/", VerifyView.as_view(), name="audit-verify"),
    path("verify/jobs/", VerifyJobCreate.as_view(), name="audit-verify-jobs"),
    path("rule-changes/", RuleChangeList.as_view(), name="audit-rule-changes"),
    path("jobs/", AuditJobList.as_view(), name="audit-jobs"),
    path("jobs/<int:pk>/", AuditJobDetail.as_view(), name="audit-job"),
    path("jobs/<int:pk>/download/", AuditJobDownload.as_view(), name="audit-job-download"),
]
