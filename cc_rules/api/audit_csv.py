"""CSV for ``/api/v1/audit/status-changes/``: the renderer content negotiation picks, and the
stream that exports every matching ledger row in constant memory (R16).

The columns are ``cc_rules.services.audit.LEDGER_COLUMNS``, the same as the JSON rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from cc_rules.services.audit import LEDGER_COLUMNS

CSV_CHUNK = 2000  # rows per fetch from the server-side cursor and per chunk sent
CSV_COLUMNS = list(LEDGER_COLUMNS)


def iso(value: datetime) -> str:
    """The same text DRF's DateTimeField gives, so CSV and JSON rows read alike."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class CSVRenderer(BaseRenderer):
    """``text/csv``: lets content negotiation pick CSV; the list view then streams it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        rows = data if isinstance(data, list) else [data]
        return "".join(_csv_lines([list(r.values()) for r in rows if isinstance(r, dict)]))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[Any]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def stream_status_changes_csv(queryset: QuerySet) -> Iterator[str]:
    """The CSV of ``queryset`` in (at, id) order, in constant memory.

    A server-side cursor (``.iterator()``) inside one read-only transaction: PostgreSQL sends
    rows in chunks and one snapshot covers the whole export. Closing the response (client
    gone) closes this generator, which ends the transaction.
    """
    yield from _csv_lines([CSV_COLUMNS])
    values = queryset.order_by("at", "id").values_list(*LEDGER_COLUMNS.values())
    channel, at = CSV_COLUMNS.index("channel"), CSV_COLUMNS.index("at")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with transaction.atomic():
        for n, values_row in enumerate(values.iterator(chunk_size=CSV_CHUNK), 1):
            row = list(values_row)
            row[channel] = row[channel] or ""  # the agent-wide DND rows have no channel
            row[at] = iso(row[at])
            writer.writerow(row)
            if n % CSV_CHUNK == 0:  # one write to the client per chunk, not per row
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


class CsvAwareMixin:
    """Errors are JSON even when CSV was negotiated (API.md: every 4xx has the error body)."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any):
        renderer = getattr(request, "accepted_renderer", None)
        failed = isinstance(response, Response) and response.status_code >= 400
        if failed and renderer is not None and renderer.format == "csv":
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
