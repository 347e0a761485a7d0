"""Compliance endpoints under /api/v1/audit/ (issue 6)."""

urlpatterns: list = []
