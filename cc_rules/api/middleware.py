"""Request ids, and 503 for a database that cannot be reached outside DRF views."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (the client's ``X-Request-ID`` if sane); history rows keep it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex  # type: ignore[attr-defined]
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
