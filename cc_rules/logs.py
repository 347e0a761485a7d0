"""Log lines (issue 14, item 6): JSON by default in production, plain text for developers.

``CC_LOG_FORMAT`` (settings) picks the formatter of the one console handler in ``LOGGING``:
``json`` (the default when DEBUG is off) writes one JSON object per line with python-json-logger;
``text`` (the default under DEBUG) writes ``time level logger [request id] message``. Web,
Celery worker and beat use the same ``LOGGING`` (``cc_rules/celery.py`` hands Celery's logging
set-up to it), so every process writes the same lines.

Context. Every line carries ``request_id``: the id ``RequestIdMiddleware`` settled on for the
request being served, or, in a Celery task, the id of the request that published the task
(``cc_rules.celery_signals`` passes it in the message headers and sets it here for the task's
run; ``task_name`` and ``task_id`` are added too). It lives in a ``ContextVar`` so it follows
the thread (or task) that serves the request and nothing else.

Never in a line: IM text, tokens, passwords. Nothing here logs a request body, and the
formatters (not the loggers: other handlers, such as the tests' capture, see records as they
are) scrub what could still carry one: SQL statements and their parameters
(``django.db.backends`` at DEBUG, where the token of an authenticated request is a parameter),
``Token``/``Bearer`` credentials and passwords in URLs anywhere in a message or traceback, and the
request object Django attaches to its own lines (only its method and path are kept).
"""

from __future__ import annotations

import copy
import logging
import re
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id: ContextVar[str] = ContextVar("cc_request_id", default="")
task: ContextVar[tuple[str, str] | None] = ContextVar("cc_task", default=None)

REDACTED = "[redacted]"
_CREDENTIAL = re.compile(r"(?i)\b(token|bearer)(\s+|=)[A-Za-z0-9._~+/=-]{6,}")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@")
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'")
_DROPPED = ("request",)  # objects Django attaches to its records; never serialised


def scrub(text: str) -> str:
    """``text`` without ``Token …``/``Bearer …`` credentials and URL passwords."""
    if not text:
        return text
    text = _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def _prepared(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of ``record`` with the context added and anything secret scrubbed (the original,
    which other handlers may also see, is left alone)."""
    rec = copy.copy(record)
    request = rec.__dict__.pop("request", None)
    rec.request_id = request_id.get() or getattr(request, "request_id", "") or ""
    if request is not None and isinstance(getattr(request, "path", None), str):
        rec.http_method, rec.path = request.method, request.path
    running = task.get()
    if running is not None:
        rec.task_name, rec.task_id = running
    if rec.name.startswith("django.db.backends"):
        _redact_sql(rec)
    try:
        message = rec.getMessage()
    except Exception:  # a broken format string: keep what was asked, unformatted
        message = str(rec.msg)
    rec.msg, rec.args = scrub(message), ()
    return rec


def _redact_sql(rec: logging.LogRecord) -> None:
    """SQL lines keep the statement's shape, never its values: string literals become ``'?'``
    and the parameters ``[redacted]`` (the token of a request is one)."""
    params = rec.__dict__.get("params", _redact_sql)
    sql = rec.__dict__.get("sql")
    if isinstance(rec.args, tuple):
        rec.args = tuple(
            REDACTED
            if params is not _redact_sql and arg is params
            else _SQL_LITERAL.sub("'?'", arg)
            if isinstance(arg, str)
            else arg
            for arg in rec.args
        )
    elif rec.args:
        rec.args = ()
        rec.msg = _SQL_LITERAL.sub("'?'", str(rec.msg))
    if params is not _redact_sql:
        rec.params = REDACTED
    if isinstance(sql, str):
        rec.sql = _SQL_LITERAL.sub("'?'", sql)


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id, then any extra."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return super().format(_prepared(record))

    def formatException(self, ei: Any) -> str:
        return scrub(super().formatException(ei))


class TextFormatter(logging.Formatter):
    """Plain lines for developers (``CC_LOG_FORMAT=text``), scrubbed like the JSON ones."""

    def __init__(self, fmt: str | None = None, *args: Any, **kwargs: Any) -> None:
        fmt = fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        super().__init__(fmt, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        rec = _prepared(record)
        rec.request_id = rec.request_id or "-"
        return super().format(rec)

    def formatException(self, ei: Any) -> str:
        return scrub(super().formatException(ei))


FORMATTERS = {"json": "cc_rules.logs.JsonFormatter", "text": "cc_rules.logs.TextFormatter"}


def gunicorn_config(fmt: str) -> dict[str, Any]:
    """gunicorn's own loggers (boot, worker start and exit) in the same format
    (``serve`` writes it to a file for ``--log-config-json``; a gunicorn config file can set
    ``logconfig_dict = gunicorn_config(...)``). Access lines come from the application
    (``cc_rules.access``, with the request id), so gunicorn's access log stays off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": FORMATTERS[fmt]}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
