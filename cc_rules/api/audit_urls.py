"""Compliance endpoints under /api/v1/audit/ (issue 6; API.md "Compliance")."""

from django.urls import path

from .audit_views import RuleChangeList, StatusChangeList, TimeInStatusView, VerifyView

urlpatterns = [
    path("status-changes/", StatusChangeList.as_view(), name="audit-status-changes"),
    path("time-in-status/", TimeInStatusView.as_view(), name="audit-time-in-status"),
    path("verify/", VerifyView.as_view(), name="audit-verify"),
    path("rule-changes/", RuleChangeList.as_view(), name="audit-rule-changes"),
]
