"""Dashboards for compliance and supervisors under /admin/dashboard/ (issue 6)."""

urlpatterns: list = []
