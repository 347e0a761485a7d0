"""CSV for ``/api/v1/audit/status-changes/``: the renderer content negotiation picks, and the
response that exports the matching ledger rows (R16) within ``CC_AUDIT_CSV_MAX_ROWS``.

The columns are ``cc_rules.services.audit.LEDGER_COLUMNS``, the same as the JSON rows. The
rows are written by ``cc_rules.services.audit_jobs.stream_status_changes_csv``, the same
function the export job writes its file with, so both give the same bytes for the same filters.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from cc_rules.services.audit_jobs import CSV_COLUMNS, iso, stream_status_changes_csv

__all__ = ["CSV_COLUMNS", "CSVRenderer", "CsvAwareMixin", "csv_response", "iso"]
SPOOL_BYTES = 8 * 1024 * 1024  # a CSV larger than this is buffered in a temporary file


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


def csv_response(queryset: QuerySet, filename: str = "status-changes.csv") -> FileResponse:
    """The whole CSV of ``queryset``, written before the response starts.

    Every row is read (one snapshot) before the status line goes out, so a database error is
    a 503 rather than a 200 cut off half-way, and the response has a ``Content-Length``, so a
    client can tell a complete file from a cut one. The caller bounds the rows
    (``check_sync_export``); larger exports are jobs.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (the response closes it)
    try:
        for chunk in stream_status_changes_csv(queryset):
            spool.write(chunk.encode())
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    response = FileResponse(
        spool, as_attachment=True, filename=filename, content_type="text/csv; charset=utf-8"
    )
    response["Content-Length"] = str(size)
    return response


class CsvAwareMixin:
    """Errors are JSON even when CSV was negotiated (API.md: every 4xx has the error body)."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any):
        renderer = getattr(request, "accepted_renderer", None)
        failed = isinstance(response, Response) and response.status_code >= 400
        if failed and renderer is not None and renderer.format == "csv":
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
