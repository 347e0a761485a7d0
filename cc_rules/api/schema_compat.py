"""The committed OpenAPI snapshot (``docs/openapi.json``) and what a change to it breaks.

``live_schema()`` is the schema the server serves (drf-spectacular's generator, its warnings
collected). ``breaking_changes(old, new)`` lists what would break a client built from ``old``
(a generated one, or one written by hand) talking to a server that serves ``new``:

- a path or operation removed, or an operation id changed (generated clients name a function
  after it);
- a parameter removed, newly required, or its type changed;
- a request body newly required; in a request body a property removed (the API refuses
  unknown fields), newly required, or its type narrowed; an enum value removed;
- a success response removed or its media type removed; in a response a property removed or
  no longer always present, its type changed or newly nullable; an enum value removed;
- a component schema removed or renamed (a generated model class).

Everything else (new paths, new optional fields, new response properties, new enum values in a
request, descriptions) is additive: refresh the snapshot with ``manage.py openapi_snapshot``.
A breaking change needs ``info.version`` bumped (pyproject.toml's ``[project] version``);
``openapi_snapshot`` refuses to write it otherwise. Not a general OpenAPI diff tool: it knows
the shapes drf-spectacular emits (``$ref``, ``allOf`` of one ``$ref``, ``oneOf`` with
``NullEnum``, ``nullable``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

SNAPSHOT = Path(settings.BASE_DIR) / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
REF_PREFIX = "#/components/schemas/"


def live_schema() -> tuple[dict[str, Any], list[str]]:
    """The schema as served, as plain JSON, and the generator's warnings and errors."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.renderers import OpenApiJsonRenderer
    from drf_spectacular.settings import spectacular_settings

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
        schema = generator.get_schema(request=None, public=True)
    problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={})), problems


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in str(version).split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def version_bumped(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return version_tuple(new.get("info", {}).get("version", "0")) > version_tuple(
        old.get("info", {}).get("version", "0")
    )


class _Schemas:
    """Resolves ``$ref`` in one document and flattens drf-spectacular's wrappers."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: Any) -> tuple[dict[str, Any], bool, str | None]:
        """(the schema, whether null is allowed, the component name it came from)."""
        if not isinstance(schema, dict):
            return {}, False, None
        nullable = bool(schema.get("nullable"))
        name = None
        for _ in range(20):
            if "$ref" in schema:
                name = schema["$ref"].removeprefix(REF_PREFIX)
                schema = self.components.get(name, {})
                nullable = nullable or bool(schema.get("nullable"))
                continue
            variants = schema.get("allOf") or schema.get("oneOf") or schema.get("anyOf")
            if variants and "properties" not in schema:
                real = [v for v in variants if not self._is_null(v)]
                nullable = nullable or len(real) < len(variants) or bool(schema.get("nullable"))
                if len(real) == 1:
                    schema = real[0]
                    continue
            break
        return schema, nullable, name

    def _is_null(self, schema: Any) -> bool:
        if isinstance(schema, dict) and "$ref" in schema:
            schema = self.components.get(schema["$ref"].removeprefix(REF_PREFIX), {})
        return isinstance(schema, dict) and schema.get("enum") == [None]


def _type(schema: dict[str, Any]) -> tuple[Any, Any]:
    kind = schema.get("type")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind is None and "enum" in schema:
        kind = "string"
    return kind, schema.get("format")


class _Diff:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = _Schemas(old), _Schemas(new)
        self.problems: list[str] = []
        self._seen: set[tuple[int, int, str]] = set()

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def schema(self, old: Any, new: Any, where: str, direction: str) -> None:
        """``direction``: "request" (the client sends it) or "response" (the client reads it)."""
        old_s, old_null, old_name = self.old.resolve(old)
        new_s, new_null, new_name = self.new.resolve(new)
        key = (id(old_s), id(new_s), direction)
        if key in self._seen:
            return
        self._seen.add(key)
        where = where + (f" ({old_name})" if old_name and old_name != new_name else "")
        if not old_s or not new_s:
            return
        old_type, new_type = _type(old_s), _type(new_s)
        if old_type[0] and new_type[0] and old_type != new_type:
            self.add(where, f"type {old_type} became {new_type}")
            return
        if direction == "response" and new_null and not old_null:
            self.add(where, "may now be null")
        if direction == "request" and old_null and not new_null:
            self.add(where, "no longer accepts null")
        if isinstance(old_s.get("enum"), list) and isinstance(new_s.get("enum"), list):
            removed = [v for v in old_s["enum"] if v not in new_s["enum"]]
            if removed:
                self.add(where, f"enum values removed: {removed}")
        if old_type[0] == "array":
            self.schema(old_s.get("items"), new_s.get("items"), where + "[]", direction)
        old_props, new_props = old_s.get("properties", {}), new_s.get("properties", {})
        old_req, new_req = set(old_s.get("required", [])), set(new_s.get("required", []))
        for prop, old_prop in old_props.items():
            here = f"{where}.{prop}"
            if direction == "response" and old_prop.get("writeOnly"):
                continue
            if direction == "request" and old_prop.get("readOnly"):
                continue
            if prop not in new_props:
                self.add(here, "property removed")
                continue
            if direction == "response" and prop in old_req and prop not in new_req:
                self.add(here, "no longer always present")
            self.schema(old_prop, new_props[prop], here, direction)
        if direction == "request":
            for prop in sorted(new_req - old_req):
                if not new_props.get(prop, {}).get("readOnly"):
                    self.add(f"{where}.{prop}", "newly required")
        old_extra, new_extra = old_s.get("additionalProperties"), new_s.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.schema(old_extra, new_extra, where + "{}", direction)

    def operation(self, where: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        if old.get("operationId") != new.get("operationId"):
            self.add(where, f"operationId {old.get('operationId')!r} → {new.get('operationId')!r}")
        old_params = {(p.get("in"), p.get("name")): p for p in old.get("parameters", [])}
        new_params = {(p.get("in"), p.get("name")): p for p in new.get("parameters", [])}
        for key, param in old_params.items():
            here = f"{where} {key[0]} parameter {key[1]!r}"
            if key not in new_params:
                self.add(here, "removed")
                continue
            if new_params[key].get("required") and not param.get("required"):
                self.add(here, "newly required")
            self.schema(param.get("schema"), new_params[key].get("schema"), here, "request")
        for key, param in new_params.items():
            if key not in old_params and param.get("required"):
                self.add(f"{where} {key[0]} parameter {key[1]!r}", "new and required")
        old_body, new_body = old.get("requestBody"), new.get("requestBody")
        if new_body and new_body.get("required") and not (old_body and old_body.get("required")):
            self.add(f"{where} request body", "newly required")
        if old_body and new_body:
            for media, content in old_body.get("content", {}).items():
                if media not in new_body.get("content", {}):
                    self.add(f"{where} request body", f"{media} no longer accepted")
                    continue
                self.schema(
                    content.get("schema"),
                    new_body["content"][media].get("schema"),
                    f"{where} request body",
                    "request",
                )
        old_resp, new_resp = old.get("responses", {}), new.get("responses", {})
        for code, response in old_resp.items():
            if not str(code).startswith("2"):
                continue
            here = f"{where} response {code}"
            if code not in new_resp:
                self.add(here, "removed")
                continue
            for media, content in response.get("content", {}).items():
                new_content = new_resp[code].get("content", {})
                if media not in new_content:
                    self.add(here, f"{media} no longer returned")
                    continue
                self.schema(
                    content.get("schema"), new_content[media].get("schema"), here, "response"
                )


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` breaks a client of ``old`` (module docstring); empty when nothing."""
    diff = _Diff(old, new)
    new_paths = new.get("paths", {})
    for path, item in old.get("paths", {}).items():
        if path not in new_paths:
            diff.add(path, "path removed")
            continue
        for method in METHODS:
            if method not in item:
                continue
            where = f"{method.upper()} {path}"
            if method not in new_paths[path]:
                diff.add(where, "operation removed")
                continue
            diff.operation(where, item[method], new_paths[path][method])
    new_components = new.get("components", {}).get("schemas", {})
    for name in old.get("components", {}).get("schemas", {}):
        if name not in new_components:
            diff.add(f"component {name}", "removed or renamed")
    return sorted(set(diff.problems), key=diff.problems.index)


def additive_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """A short account of what ``new`` adds (paths, operations, components), for messages."""
    found = []
    old_paths = old.get("paths", {})
    for path, item in new.get("paths", {}).items():
        for method in METHODS:
            if method in item and method not in old_paths.get(path, {}):
                found.append(f"{method.upper()} {path} added")
    old_components = old.get("components", {}).get("schemas", {})
    for name in new.get("components", {}).get("schemas", {}):
        if name not in old_components:
            found.append(f"component {name} added")
    return found
