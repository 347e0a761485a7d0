"""Dashboards for compliance and supervisors under /admin/dashboard/ (issue 6)."""

from django.urls import path

from . import dashboard

app_name = "dashboard"

urlpatterns = [
    path("", dashboard.time_in_status_page, name="time-in-status"),
    path("live/", dashboard.live_board, name="live"),
    path("history/", dashboard.history_page, name="history"),
    path("integrity/", dashboard.integrity_page, name="integrity"),
]
