"""Request ids, request metrics and the access line, and 503 for a database that cannot be
reached outside DRF views."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from cc_rules import logs, metrics

access_log = logging.getLogger("cc_rules.access")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (the client's ``X-Request-ID`` if sane); history rows keep it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex  # type: ignore[attr-defined]
        logs.request_id.set(request.request_id)  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class DatabaseUnavailableMiddleware:
    """Answer 503 ``database_unavailable`` when PostgreSQL is down (sessions, admin, auth)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError):
            return self._unavailable()

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, OperationalError | InterfaceError):
            return self._unavailable()
        return None

    @staticmethod
    def _unavailable() -> HttpResponse:
        body = {
            "code": "database_unavailable",
            "detail": "The database cannot be reached; nothing was changed.",
            "rule": None,
        }
        response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
        response["Retry-After"] = "5"
        return response


class RequestMetricsMiddleware:
    """Outermost: the request's latency by route name (``cc_http_request_duration_seconds``)
    and, with ``CC_ACCESS_LOG``, one access line (logger ``cc_rules.access``) with the request
    id. The route is the resolved URL pattern's name (``interaction-accept``), never the raw
    path with its ids; a path nothing matched is ``unmatched``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.access = settings.CC_ACCESS_LOG

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            method = request.method if request.method in METHODS else "other"
            route = _route(request)
            status = response.status_code
            metrics.REQUEST_LATENCY.labels(route, method, f"{status // 100}xx").observe(elapsed)
            if self.access:
                access_log.info(
                    "%s %s %s %.1f ms",
                    method,
                    request.path,
                    status,
                    elapsed * 1000,
                    extra={
                        "http_method": method,
                        "path": request.path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            return response
        finally:
            logs.request_id.set("")  # Django's own request lines read it from the request


def _route(request: HttpRequest) -> str:
    """The resolved pattern's name; a response a middleware gave without running the view (an
    idempotent replay) is resolved here."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    return match.view_name or match.route or "unnamed"
