"""Cursor pagination: stable under concurrent inserts, constant cost for deep pages.

A cursor is base64 of a query string (``o`` offset, ``r`` reverse, ``p`` position) that the
client sends back. DRF trusts ``p`` and filters the ordering field by it, so a crafted cursor
(``p=abc``, ``p=1e999``, a NUL, an id beyond 64 bits, a date in the year 99999) reached SQL and
answered 500 (issue 15). Here a cursor is decoded strictly and its position parsed by the
ordering field itself before any query: anything the server would not have handed out is a 400
``invalid_cursor``.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any
from urllib import parse

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from rest_framework.pagination import Cursor, CursorPagination

from cc_rules.services.errors import Invalid

_MAX_CURSOR_CHARS = 1000  # a real one is under 100
_INT_RANGE = (-(2**63), 2**63 - 1)  # bigint; every integer column fits in it


def invalid_cursor(param: str = "cursor") -> Invalid:
    return Invalid(
        "invalid_cursor",
        "The cursor is not one this list handed out; start again without it.",
        fields={param: ["Invalid cursor."]},
    )


def _field(model: type[models.Model] | None, path: str) -> models.Field | None:
    """The model field an ordering like ``at`` or ``user__username`` names, if it is one."""
    field = None
    for part in path.split("__"):
        if model is None:
            return None
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        model = field.related_model
    if field is not None and field.is_relation:
        field = field.target_field  # ordering by a foreign key orders by its id
    return field


def parse_position(field: models.Field | None, position: str) -> Any:
    """``position`` as ``field`` holds it; ``ValueError`` when it is not a value of it."""
    if "\x00" in position:
        raise ValueError("NUL")
    if field is None:
        return position
    try:
        value = field.to_python(position)
    except (ValidationError, TypeError, OverflowError) as exc:
        raise ValueError(position) from exc
    if value is None:
        raise ValueError(position)
    if isinstance(field, models.IntegerField | models.AutoField) and not (
        _INT_RANGE[0] <= value <= _INT_RANGE[1]
    ):
        raise ValueError(position)
    return value


class CursorPage(CursorPagination):
    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            return self._decode(encoded)
        except (TypeError, ValueError, binascii.Error):
            raise invalid_cursor(self.cursor_query_param) from None

    def _decode(self, encoded: str) -> Cursor:
        """The strict inverse of DRF's ``encode_cursor``."""
        if len(encoded) > _MAX_CURSOR_CHARS:
            raise ValueError("too long")
        raw = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
        pairs = parse.parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw))
        tokens = dict(pairs)
        if len(tokens) != len(pairs) or not set(tokens) <= {"o", "r", "p"}:
            raise ValueError("unknown or repeated token")
        offset = tokens.get("o", "0")
        if not offset.isdigit() or not 0 <= int(offset) <= self.offset_cutoff:
            raise ValueError("offset")
        if tokens.get("r", "0") not in ("0", "1"):
            raise ValueError("reverse")
        position = tokens.get("p")
        if position is not None:
            order = self.ordering[0] if isinstance(self.ordering, list | tuple) else self.ordering
            parse_position(_field(getattr(self, "_model", None), order.lstrip("-")), position)
        return Cursor(offset=int(offset), reverse=tokens.get("r") == "1", position=position)
