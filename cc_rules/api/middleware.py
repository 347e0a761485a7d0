"""Request ids, request metrics and the access line, and 503 for a database that cannot be
reached outside DRF views."""

from __future__ import annotations

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
from cc_rules.api.errors import database_unavailable_page

access_log = logging.getLogger("cc_rules.access")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# A client's id: no ``:`` (the system's own ids are ``namespace:…``), no spaces, 64 chars at most
# (the ledger's column), starting with a letter or digit.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The request ids the system writes itself on ledger rows, by namespace (the part before the
# first ``:``, ``.``, ``_`` or ``-``): ``timer:<state>:<version>`` and ``sweep:<state>:<version>``
# (services/wrap_up_firing.py, by services/timers.py), ``sweep:visibility``
# (services/visibility.py), ``deactivate`` (services/deactivation.py). A client id in one of them
# would pass for the system's (issue 15), so it is replaced; tests/api/test_request_ids.py
# fails when a service writes a literal id outside this list.
SYSTEM_REQUEST_ID_NAMESPACES = frozenset({"timer", "sweep", "deactivate", "system"})
_NAMESPACE = re.compile(r"[:._-]")


def client_request_id(given: str) -> str | None:
    """``given`` if a client may name its request so, else ``None`` (the server makes one)."""
    if not _REQUEST_ID.match(given):
        return None
    if _NAMESPACE.split(given, 1)[0].lower() in SYSTEM_REQUEST_ID_NAMESPACES:
        return None
    return given


class RequestIdMiddleware:
    """Give every request an id; history rows keep it, the response's ``X-Request-ID`` says it.

    The client's ``X-Request-ID`` is kept only if it matches a safe pattern and is outside the
    system's own namespaces; otherwise the server's id (32 hex digits) replaces it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = client_request_id(request.headers.get("X-Request-ID", ""))
        request.request_id = given or uuid.uuid4().hex  # type: ignore[attr-defined]
        logs.request_id.set(request.request_id)  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class DatabaseUnavailableMiddleware:
    """Answer 503 when PostgreSQL is down (sessions, admin, auth): ``database_unavailable`` JSON
    under /api/, an admin-styled page elsewhere (``errors.database_unavailable_page``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError):
            return database_unavailable_page(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, OperationalError | InterfaceError):
            return database_unavailable_page(request)
        return None


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
