"""The one exception handler: every 4xx has API.md's body ``{code, detail, rule}``.

A database that cannot be reached becomes 503 ``database_unavailable``; nothing else may
escape as a 5xx. A deadlock or serialization failure is not handled here: it propagates so that
``IdempotencyMiddleware`` runs the request again (``services.sessions.retry_transient``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from cc_rules.api.authentication import TokenExpired
from cc_rules.api.throttling import LoginLocked
from cc_rules.services.errors import ServiceError
from cc_rules.services.sessions import is_transient

log = logging.getLogger(__name__)

_CODES: dict[type[exceptions.APIException], str] = {
    # Subclasses with codes of their own first (API.md, "Authentication").
    TokenExpired: "token_expired",
    LoginLocked: "login_locked",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "invalid",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, detail: str, rule: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"code": code, "detail": detail, "rule": rule, **extra}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        extra = {"fields": exc.fields} if exc.fields else {}
        return Response(error_body(exc.code, exc.detail, exc.rule, **extra), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, OperationalError) and is_transient(exc):
        return None  # DRF raises it again; the middleware retries the whole request
    elif isinstance(exc, OperationalError | InterfaceError):
        log.warning("database unavailable: %s", type(exc).__name__)
        return database_unavailable_response()
    elif isinstance(exc, DatabaseError):
        # Data the validators let through but the database refused (e.g. a value out of
        # range): the transaction rolled back, so nothing was half-written.
        log.warning("database refused a write: %s", type(exc).__name__)
        return Response(
            error_body("invalid", "The database refused this value."),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if not isinstance(exc, exceptions.APIException):
        return None
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
    if code is None:
        code = exc.default_code if isinstance(exc.default_code, str) else "error"
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if isinstance(fields, dict):
            body = error_body("invalid", "Some fields are invalid.", fields=fields)
        else:
            body = error_body("invalid", "; ".join(map(str, fields)) or "Invalid input.")
    else:
        body = error_body(code, str(exc.detail))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # DRF would send 403 when no WWW-Authenticate header applies; API.md says 401.
        exc.status_code = status.HTTP_401_UNAUTHORIZED
        headers["WWW-Authenticate"] = 'Token realm="api"'
    return Response(body, status=exc.status_code, headers=headers)


def database_unavailable_response() -> Response:
    response = Response(
        error_body("database_unavailable", UNAVAILABLE_DETAIL),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )
    return response


# --- Django's own error views, for requests that never reach a DRF view ---------------------------
# (no route matches, a request Django refuses before routing). Under /api/ they answer with the
# same body as every other API error; elsewhere (admin) with Django's pages.
def _api_path(request: Any) -> bool:
    return request.path.startswith("/api/")


def _json_error(status_code: int, code: str, detail: str) -> HttpResponse:
    return JsonResponse(error_body(code, detail), status=status_code)


def handler400(request: Any, exception: Exception | None = None) -> HttpResponse:
    if _api_path(request):
        return _json_error(400, "invalid", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def handler403(request: Any, exception: Exception | None = None) -> HttpResponse:
    if _api_path(request):
        return _json_error(403, "forbidden", "You may not do this.")
    return defaults.permission_denied(request, exception)


def handler404(request: Any, exception: Exception | None = None) -> HttpResponse:
    if _api_path(request):
        return _json_error(404, "not_found", "No such endpoint or resource.")
    return defaults.page_not_found(request, exception)


def handler500(request: Any) -> HttpResponse:
    # Django calls this while handling the exception: a database that cannot be reached, raised
    # outside a view (a middleware's own query), is still a 503, not a 500.
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return database_unavailable_page(request)
    if _api_path(request):
        return _json_error(500, "server_error", "Something went wrong on our side.")
    return defaults.server_error(request)


UNAVAILABLE_DETAIL = "The database cannot be reached; nothing was changed."


def database_unavailable_page(request: Any) -> HttpResponse:
    """503 for a database that cannot be reached: API.md's JSON body under /api/, else (admin,
    dashboards) an admin-styled page. Nothing here touches the database: the page is rendered
    without the request's context processors (no user, session or messages)."""
    if _api_path(request):
        response: HttpResponse = _json_error(503, "database_unavailable", UNAVAILABLE_DETAIL)
    else:
        from django.contrib import admin  # the admin's names for the page's header

        html = render_to_string(
            "cc_rules/database_unavailable.html",
            {
                "title": "Database unavailable",
                "site_header": admin.site.site_header,
                "site_title": admin.site.site_title,
                "site_url": admin.site.site_url,
                "has_permission": False,  # no user tools: they would read the session
                "is_nav_sidebar_enabled": False,
                "retry_url": request.get_full_path() if request.method == "GET" else "",
            },
        )
        response = HttpResponse(html, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = "5"
    return response
