"""The API's JSON parser: DRF's, plus a 400 for JSON nested too deeply to parse.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) for input like ``[[[[…`` a hundred
thousand levels deep; DRF would let it escape as a 500. API.md: no input ever gets a 5xx.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
