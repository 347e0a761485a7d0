"""Errors a service raises; ``cc_rules.api.errors`` turns them into API.md's error body."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 409
    code = "conflict"

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        rule: Any = None,
        *,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or self.code
        self.detail = detail or self.code.replace("_", " ").capitalize() + "."
        self.rule = str(rule) if rule is not None else None
        self.fields = fields
        super().__init__(self.detail)


class Refused(ServiceError):
    """A rule refused or the state forbids it (409)."""

    status = 409


class Invalid(ServiceError):
    """Bad field values (400 ``invalid``)."""

    status = 400
    code = "invalid"


class NotFound(ServiceError):
    """Absent, or invisible to the caller, which is the same thing (404)."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
