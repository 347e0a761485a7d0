"""Compliance endpoints under /api/v1/audit/ (issue 6; API.md "Compliance")."""

from django.urls import path

from . import audit

urlpatterns = [
    path("status-changes/", audit.StatusChangeList.as_view(), name="audit-status-changes"),
    path("time-in-status/", audit.TimeInStatusView.as_view(), name="audit-time-in-status"),
    path("verify/", audit.VerifyView.as_view(), name="audit-verify"),
    path("rule-changes/", audit.RuleChangeList.as_view(), name="audit-rule-changes"),
]
