"""The API's JSON parser: DRF's, refusing with 400 what DRF would turn into a 500 or let through.

- JSON nested too deeply: ``json.loads`` raises ``RecursionError`` (not ``ValueError``) for
  ``[[[[…`` a hundred thousand levels deep; DRF would let it escape as a 500.
- Lone surrogates (``"\\ud800"``): valid JSON escapes but not Unicode text; the first error
  message that echoes one (an unknown field's name) cannot be encoded as UTF-8 → a 500, and no
  database column can store one anyway.
- Bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: DRF reads the stream itself, around Django's
  limit; a JSON API has no business with megabytes beyond that.
API.md: no input ever gets a 5xx.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and length and str(length).isdigit() and int(length) > limit:
            raise ParseError(f"The request body is larger than {limit} bytes.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate (not Unicode).")
        return data
