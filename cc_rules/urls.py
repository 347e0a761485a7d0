"""URL configuration: admin (and its "check configuration" page), the API under /api/v1/, the
OpenAPI schema, Swagger UI and Redoc, the health endpoints /healthz and /readyz
(cc_rules/health.py), and /metrics (Prometheus)."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from cc_admin.admin.warnings import check_configuration_view
from cc_rules import health
from cc_rules.api.metrics_view import metrics_view

urlpatterns = [
    re_path(r"^healthz/?$", health.healthz, name="healthz"),
    re_path(r"^readyz/?$", health.readyz, name="readyz"),
    path("admin/dashboard/", include("cc_admin.dashboard_urls")),
    path("admin/check-configuration/", check_configuration_view, name="check-configuration"),
    path("admin/", admin.site.urls),
    path("api/v1/audit/", include("cc_rules.api.audit_urls")),
    path("api/v1/", include("cc_rules.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="cc_rules/redoc.html"),
        name="redoc",
    ),
    path("metrics", metrics_view, name="metrics"),
]

# Under /api/ even Django's own 400/403/404/500 answer with API.md's error body.
handler400 = "cc_rules.api.errors.handler400"
handler403 = "cc_rules.api.errors.handler403"
handler404 = "cc_rules.api.errors.handler404"
handler500 = "cc_rules.api.errors.handler500"
