"""The OpenAPI schema's conventions, kept in one place so that every view (and every view a later
change adds) gets them without decorating it (issue 14, item 7: "OpenAPI clients work first
try").

- ``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``): operation ids are camelCase verbs
  derived from the path and method (``acceptInteraction``, ``setChannelStatus``,
  ``listStatusChanges``; ``operation_id_for`` says how), tags are the API's areas (``me``,
  ``interactions``, ``audit``, ...), descriptions are Markdown (reST's double backticks are turned
  into single ones), and request components are not named ``…RequestRequest``. A view overrides
  its id with ``@extend_schema(operation_id=...)`` (or an entry in ``OPERATION_IDS``), its
  tags with ``tags=[...]``.
- ``TokenSchemes``: ``Authorization: Token <key>`` (apiKey ``tokenAuth``) and ``Authorization:
  Bearer <key>`` (http ``bearerAuth``), either one.
- Post-processing hooks (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``), in order:
  ``name_enums`` gives every choice set one named component (``ChannelEnum``, ``StatusEnum``,
  ``ReasonCodeEnum``, ...) whatever field it came from; ``document_conventions`` adds what the
  middleware and the REST framework settings answer for every operation (below);
  ``name_inline_schemas`` moves anonymous request and response objects into named components;
  ``markdown_descriptions`` turns reST markup left in any description into Markdown;
  ``check_operation_ids`` warns (so ``spectacular --fail-on-warn`` fails) on a duplicate or
  malformed operation id.

``document_conventions`` lists every status a client can see:
- POST and PUT: the ``Idempotency-Key`` header, 409 ``request_in_progress`` and 422
  ``idempotency_key_reused`` (cc_rules/api/idempotency.py), 400 for a bad key, 415 for a body
  that is not JSON; the ``Idempotent-Replayed`` response header on exactly the answers a replay
  can repeat (2xx and 4xx but 401, 422 and 429: the middleware stores no others);
- writes and the token endpoint: 429 ``throttled`` with ``Retry-After`` (throttling.py); every
  429 (also IM's ``inbox_full``) documents ``Retry-After``;
- every operation: 503 ``database_unavailable`` with ``Retry-After`` (middleware.py, errors.py);
- a ``format`` query parameter: 404 for a format no renderer has (DRF's content negotiation);
  a ``cursor``: 400 ``invalid_cursor`` for one the list did not hand out (pagination.py).
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular import openapi
from drf_spectacular.drainage import warn
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from cc_rules import choices
from cc_rules.engine import reasons

from .idempotency import EXEMPT_PATHS, MAX_KEY_LENGTH, NOT_STORED
from .serializers import REASON_CODES

API_PREFIX = "/api/v1/"
WRITE_METHODS = ("post", "put", "patch", "delete")
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
ERROR_REF = {"$ref": "#/components/schemas/Error"}
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")


# -- operation ids and tags ----------------------------------------------------------------------
# A last path segment that names what the request does rather than a resource: the verb of the
# operation id, "{}" standing for the resource noun (/interactions/{id}/accept/ →
# acceptInteraction). Any other path gets a verb from its method (METHOD_VERBS).
ACTIONS = {
    "accept": "accept{}",
    "reject": "reject{}",
    "end": "end{}",
    "close": "close{}",
    "done": "mark{}Done",
    "extend": "extend{}",
    "consult": "startConsultation",
    "conference": "startConference",
    "login": "login",
    "logout": "logout",
    "heartbeat": "sendHeartbeat",
    "ack": "ack{}",
    "acknowledge": "acknowledge{}",
    "revoke": "revoke{}",
    "cancel": "cancel{}",
    "retry": "retry{}",
    "verify": "verify{}",
    "download": "download{}",
}
# Central overrides, for a derived id that reads badly or collides (a view may instead say
# ``@extend_schema(operation_id=...)``). Paths not served are ignored.
OPERATION_IDS = {
    ("delete", "/api/v1/auth/token/"): "revokeCurrentToken",  # beside DELETE /auth/tokens/{id}/
    ("delete", "/api/v1/auth/tokens/{id}/"): "revokeToken",
    ("post", "/api/v1/agents/{username}/logout/"): "logoutAgent",  # beside POST /me/logout/
    ("put", "/api/v1/agents/{username}/dnd/"): "setAgentDnd",
    ("post", "/api/v1/agents/{username}/channels/{channel}/wrap-up/extend/"): "extendAgentWrapUp",
    ("post", "/api/v1/agents/{username}/channels/{channel}/wrap-up/end/"): "endAgentWrapUp",
}
METHOD_VERBS = {"get": "get", "post": "create", "put": "set", "patch": "update", "delete": "delete"}
# Leading segments that group operations instead of naming a resource; left out of the noun
# (/audit/status-changes/ → listStatusChanges, /me/dnd/ → setDnd).
NAMESPACES = {"me", "audit", "auth", "decisions"}
# A tag is the path's first segment (its area), unless a later segment is one of these.
SUBRESOURCE_TAGS = {"messages": "messages"}


def _camel(segment: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[-_]", segment) if word)


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _segments(path: str) -> list[str]:
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    return [s for s in path.strip("/").split("/") if s]


def _is_parameter(segment: str) -> bool:
    return segment.startswith("{") or segment.startswith("<")


def operation_id_for(path: str, method: str, is_list: bool) -> str:
    """The default operation id of ``method`` on ``path`` (under /api/v1/).

    The verb is the path's last segment when it names an action (``ACTIONS``), else the method's
    (``list`` for a GET answering a list). The noun is the literal segments after a namespace
    (``NAMESPACES``), each singular but the last; the last is singular after a parameter and for
    a create, plural for a list: ``GET /interactions/{id}/messages/`` → ``listInteractionMessages``,
    ``PUT /agents/{username}/channels/{channel}/status/`` → ``setAgentChannelStatus``."""
    segments = _segments(path)
    namespace = ""
    if len(segments) > 1 and segments[0] in NAMESPACES and not _is_parameter(segments[1]):
        namespace, segments = segments[0], segments[1:]
    method = method.lower()
    template = None
    if segments and segments[-1] in ACTIONS:
        template, segments = ACTIONS[segments[-1]], segments[:-1]
    elif method == "get":
        template = "list{}" if is_list else "get{}"
    else:
        template = METHOD_VERBS.get(method, method) + "{}"
    words: list[str] = []
    for i, segment in enumerate(segments):
        if _is_parameter(segment):
            continue
        last_literal = all(_is_parameter(s) for s in segments[i + 1 :])
        ends_with_parameter = i + 1 < len(segments) and _is_parameter(segments[-1])
        if not last_literal or ends_with_parameter or template == "create{}":
            segment = _singular(segment)
        words.append(_camel(segment))
    noun = "".join(words)
    if not noun and "{}" in template and namespace != "me":
        noun = _camel(namespace)
    name = template.format(noun) if "{}" in template else template
    return name[:1].lower() + name[1:]


def tags_for(path: str) -> list[str]:
    segments = [s for s in _segments(path) if not _is_parameter(s)]
    for segment in segments[1:]:
        if segment in SUBRESOURCE_TAGS:
            return [SUBRESOURCE_TAGS[segment]]
    return segments[:1] or ["api"]


_REST_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_REST_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`([^`]+)`")


def markdown(text: str) -> str:
    """reST inline markup → Markdown: ````x```` → ```x```, ``:func:`x``` → ```x```."""
    if not isinstance(text, str) or "`" not in text:
        return text
    return _REST_ROLE.sub(r"`\1`", _REST_LITERAL.sub(r"`\1`", text))


def lib_doc_excludes() -> list[type]:
    """``GET_LIB_DOC_EXCLUDES``: base classes whose docstrings are notes for developers, not
    descriptions of a component or operation (drf-spectacular's list and ours)."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    from .serializers import StrictSerializer

    return [*get_lib_doc_excludes(), StrictSerializer]


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema with this API's names (module docstring)."""

    def get_operation_id(self) -> str:
        override = OPERATION_IDS.get((self.method.lower(), self.path))
        if override:
            return override
        is_list = self.method == "GET" and self._is_list_view()
        return operation_id_for(self.path, self.method, is_list)

    def get_tags(self) -> list[str]:
        return tags_for(self.path)

    def get_description(self) -> str:
        return markdown(super().get_description())

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        # COMPONENT_SPLIT_REQUEST appends "Request" to request components: LoginRequest would
        # become LoginRequestRequest.
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        if name.endswith("RequestRequest"):
            name = name[: -len("Request")]
        return name


class TokenSchemes(OpenApiAuthenticationExtension):
    """``Authorization: Token <key>`` or ``Authorization: Bearer <key>``: either one."""

    target_class = "cc_rules.api.authentication.TokenAuthentication"
    match_subclasses = True
    priority = 1
    name = ["tokenAuth", "bearerAuth"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Authorization: Token <key>`, the key from "
                "`POST /api/v1/auth/token/`.",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <key>`: the same key, as OAuth-style "
                "clients send it.",
            },
        ]


# -- enums ---------------------------------------------------------------------------------------
# Every choice set a client sees, one named component each (API.md). Enums whose values are the
# same set are merged into this name whichever serializer field or model they came from (the
# same channels appear as the engine's tuple and as the model's TextChoices).
NAMED_ENUMS: dict[str, tuple[str, ...]] = {
    "ChannelEnum": tuple(choices.ChannelCode.values),
    "StatusEnum": tuple(choices.Status.values),
    "RequestableStatusEnum": tuple(choices.RequestableStatus.values),
    "InteractionStateEnum": tuple(choices.InteractionState.values),
    "CauseEnum": tuple(choices.Cause.values),
    "EventEnum": tuple(choices.Event.values),
    "DirectionEnum": tuple(choices.Direction.values),
    "InteractionKindEnum": tuple(choices.Kind.values),
    "EndHowEnum": tuple(choices.EndHow.values),
    "ContactPointKindEnum": tuple(choices.ContactPointKind.values),
    "ReasonCodeEnum": REASON_CODES,
}


def _walk(node: Any):
    """Every dict in a JSON tree, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _rename_refs(result: dict[str, Any], renames: dict[str, str]) -> None:
    if not renames:
        return
    prefix = "#/components/schemas/"
    for node in _walk(result):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix) :] in renames:
            node["$ref"] = prefix + renames[ref[len(prefix) :]]


def name_enums(result: dict[str, Any], generator: Any, request: Any, public: bool):
    """Give each known choice set its one name (``NAMED_ENUMS``); run after drf-spectacular's
    ``postprocess_schema_enums``, which names enums per field and model."""
    schemas = result.get("components", {}).get("schemas", {})
    by_values = {frozenset(values): name for name, values in NAMED_ENUMS.items()}
    renames: dict[str, str] = {}
    for name, schema in list(schemas.items()):
        values = schema.get("enum")
        if schema.get("type") != "string" or not isinstance(values, list):
            continue
        target = by_values.get(frozenset(v for v in values if v not in ("", None)))
        if target is None or target == name:
            continue
        renames[name] = target
        kept = schemas.get(target)
        # Keep the one with the labels in its description (a model's TextChoices).
        if kept is None or len(schema.get("description", "")) > len(kept.get("description", "")):
            schemas[target] = schema
        del schemas[name]
    _rename_refs(result, renames)
    # Query parameters (django-filter's choices) name the same enums.
    for _path, _method, operation in _operations(result):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            holder = schema.get("items") if schema.get("type") == "array" else schema
            if not isinstance(holder, dict) or not isinstance(holder.get("enum"), list):
                continue
            target = by_values.get(frozenset(v for v in holder["enum"] if v not in ("", None)))
            if target is not None and target in schemas:
                holder.clear()
                holder["$ref"] = f"#/components/schemas/{target}"
    for name, values in NAMED_ENUMS.items():
        if name in schemas:
            # The order of the source (the engine's check order, the model's choices).
            schemas[name]["enum"] = list(values)
    if "ReasonCodeEnum" in schemas:
        schemas["ReasonCodeEnum"]["description"] = "\n".join(
            f"* `{code}` - {reasons.DESCRIPTIONS.get(code, code.replace('_', ' '))}"
            for code in REASON_CODES
        )
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


# -- shared headers and statuses -----------------------------------------------------------------
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
# Answers the idempotency middleware stores and so may replay: the view's 2xx and 4xx but these
# (422 idempotency_key_reused is the middleware's own answer, never stored).
NOT_REPLAYED = {*NOT_STORED, 422}
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


def _replayable(code: str) -> bool:
    return code[:1] in ("2", "4") and code.isdigit() and int(code) not in NOT_REPLAYED


def _operations(result: dict[str, Any]):
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


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
                    "dnd_on_not_allowed, "
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
    for path, method, operation in _operations(result):
        if not path.startswith(API_PREFIX):
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
        query = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
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
                if _replayable(str(code)) and "$ref" not in response:
                    response.setdefault("headers", {}).setdefault("Idempotent-Replayed", REPLAYED)
    return result


# -- names, descriptions, ids --------------------------------------------------------------------
def _pascal(operation_id: str) -> str:
    return operation_id[:1].upper() + operation_id[1:]


def _hoist(schemas: dict[str, Any], media: dict[str, Any], name: str) -> None:
    """Move an anonymous object schema (or the items of an anonymous array) to ``name``."""
    schema = media.get("schema")
    if not isinstance(schema, dict):
        return
    holder, key = media, "schema"
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        holder, key = schema, "items"
        schema = schema["items"]
    if schema.get("type") != "object" or "properties" not in schema:
        return
    if name in schemas and schemas[name] != schema:
        warn(f"cannot name an inline schema {name!r}: a different component has that name")
        return
    schemas[name] = schema
    holder[key] = {"$ref": f"#/components/schemas/{name}"}


def name_inline_schemas(result: dict[str, Any], generator: Any, request: Any, public: bool):
    """Request and response bodies given as inline objects get a component named after their
    operation (``<OperationId>Request``, ``<OperationId>Response``), so generated clients have
    a named model for them rather than an anonymous one."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for _path, _method, operation in _operations(result):
        base = _pascal(operation.get("operationId", ""))
        if not base:
            continue
        for media in operation.get("requestBody", {}).get("content", {}).values():
            _hoist(schemas, media, f"{base}Request")
        for code, response in operation.get("responses", {}).items():
            suffix = "Response" if str(code).startswith("2") else f"Response{code}"
            for media in response.get("content", {}).values():
                _hoist(schemas, media, base + suffix)
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


def markdown_descriptions(result: dict[str, Any], generator: Any, request: Any, public: bool):
    """Every ``description`` and ``summary`` in Markdown (docstrings and help texts are reST)."""
    for node in _walk(result):
        for key in ("description", "summary"):
            if isinstance(node.get(key), str):
                node[key] = markdown(node[key])
    return result


def check_operation_ids(result: dict[str, Any], generator: Any, request: Any, public: bool):
    """Warn on a duplicate or malformed operation id: generated clients name a function after
    each. Fix it with ``@extend_schema(operation_id="verbNoun")`` on the view's method."""
    seen: dict[str, str] = {}
    for path, method, operation in _operations(result):
        operation_id = operation.get("operationId", "")
        where = f"{method.upper()} {path}"
        if not OPERATION_ID.match(operation_id):
            warn(f"operationId {operation_id!r} of {where} is not camelCase")
        if operation_id in seen:
            warn(f"operationId {operation_id!r} of {where} is also that of {seen[operation_id]}")
        seen.setdefault(operation_id, where)
    return result


__all__ = [
    "AutoSchema",
    "TokenSchemes",
    "check_operation_ids",
    "document_conventions",
    "markdown_descriptions",
    "name_enums",
    "name_inline_schemas",
    "operation_id_for",
]


# -- start-up ------------------------------------------------------------------------------------
def resolve_schema_extensions() -> None:
    """Resolve every drf-spectacular extension's target class once, before threads serve.

    drf-spectacular resolves an extension's ``target_class`` (a dotted path) lazily, on the first
    schema request, and not thread-safely: two first requests at once in a threaded gunicorn
    worker can see one thread set the path to ``None`` while the other still reads it (an
    ``AttributeError`` and a 500; seen in tests/api/test_faults.py under load). Called from
    ``cc_rules.wsgi`` so each web process resolves them single-threaded at start.
    """
    import drf_spectacular.openapi  # noqa: F401  (registers the contrib extensions)
    from drf_spectacular.plumbing import OpenApiGeneratorExtension

    for base in OpenApiGeneratorExtension.__subclasses__():
        for extension in list(base._registry):
            if isinstance(extension.target_class, str):
                extension._load_class()
