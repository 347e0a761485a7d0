"""OpenAPI post-processing: the conventions every operation shares (API.md, DECISIONS.md).

Views document their own answers; this hook adds what the middleware and the REST framework
settings answer for every operation, so the schema lists every status a client can see:
- POST and PUT: the ``Idempotency-Key`` header, 409 ``request_in_progress`` and 422
  ``idempotency_key_reused`` (cc_rules/api/idempotency.py), 400 for a bad key, 415 for a body
  that is not JSON;
- writes and the token endpoint: 429 ``throttled`` with ``Retry-After`` (throttling.py); every
  429 (also IM's ``inbox_full``) documents ``Retry-After``;
- every operation: 503 ``database_unavailable`` with ``Retry-After`` (middleware.py, errors.py);
- a ``format`` query parameter: 404 for a format no renderer has (DRF's content negotiation);
  a ``cursor``: 400 ``invalid_cursor`` for one the list did not hand out (pagination.py).
"""

from __future__ import annotations

from typing import Any

from cc_rules.engine import reasons

from .idempotency import EXEMPT_PATHS, MAX_KEY_LENGTH

WRITE_METHODS = ("post", "put", "patch", "delete")
ERROR_REF = {"$ref": "#/components/schemas/Error"}

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": (
        "Makes a retry safe: a retry with the same key and body replays the first response "
        "(with `Idempotent-Replayed: true`); the same key with another body → 422 "
        "`idempotency_key_reused`; while the first is still running → 409 "
        "`request_in_progress`. Keys expire after CC_IDEMPOTENCY_TTL_HOURS (default 24)."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}
REPLAYED = {
    "schema": {"type": "string", "enum": ["true"]},
    "description": "Present when this is the stored answer to an earlier request with the same "
    "Idempotency-Key.",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}


def _error(description: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


def _add(responses: dict[str, Any], code: int, response: dict[str, Any]) -> None:
    responses.setdefault(str(code), response)


def document_conventions(result: dict[str, Any], generator: Any, request: Any, public: bool):
    """drf-spectacular POSTPROCESSING_HOOK: add the shared headers and statuses."""
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Error",
        {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable machine-readable code. Besides invalid, invalid_cursor, "
                    "not_found, forbidden, not_authenticated, throttled, inbox_full, "
                    "unsupported_media_type, idempotency_key_reused, im_unavailable and "
                    "database_unavailable, a refusal (409) is one of: "
                    + "; ".join(f"`{c}`: {text}" for c, text in reasons.DESCRIPTIONS.items()),
                },
                "detail": {"type": "string"},
                "rule": {"type": "string", "nullable": True},
                "fields": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "detail", "rule"],
        },
    )
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete", "head", "options"):
                continue
            responses = operation.setdefault("responses", {})
            _add(
                responses,
                503,
                _error("database_unavailable: nothing was changed; retry later", RETRY_AFTER),
            )
            if method in WRITE_METHODS or path in EXEMPT_PATHS:
                _add(responses, 429, _error("throttled", RETRY_AFTER))
            if "429" in responses:  # every 429 (also `inbox_full`) says when to retry
                responses["429"].setdefault("headers", {}).update(RETRY_AFTER)
            query = {
                p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"
            }
            if "format" in query:
                _add(responses, 404, _error("not_found: no such `format`"))
            if "cursor" in query:
                _add(
                    responses,
                    400,
                    _error("invalid; `invalid_cursor`: a `cursor` this list did not hand out"),
                )
            if "requestBody" in operation:
                _add(responses, 400, _error("invalid"))
                _add(responses, 415, _error("unsupported_media_type"))
            if method in ("post", "put") and path not in EXEMPT_PATHS:
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(dict(IDEMPOTENCY_PARAMETER))
                _add(responses, 400, _error("invalid (also a malformed Idempotency-Key)"))
                _add(responses, 409, _error("request_in_progress, or a rule refused"))
                _add(responses, 422, _error("idempotency_key_reused"))
                for code, response in responses.items():
                    if str(code).startswith(("2", "4")) and "$ref" not in response:
                        response.setdefault("headers", {}).setdefault(
                            "Idempotent-Replayed", REPLAYED
                        )
    return result
