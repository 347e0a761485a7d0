"""Prometheus metrics (issue 14, item 5), exported at ``/metrics`` (``cc_rules.api.metrics_view``).

prometheus-client in multiprocess mode: gunicorn's workers, Celery's worker pool and the beat
are separate processes, so each writes its samples to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds up the files of every process. ``serve`` sets
that directory (``var/metrics`` unless given) and empties it at start; a deployment that starts
processes otherwise must do the same (the directory must exist and start empty, shared by every
process of one machine). Without the variable each process counts for itself (``runserver``).

Every metric is created on first use, not at import: prometheus-client decides between
in-process and multiprocess values when it is first imported, and that must happen after the
environment is final (the test session sets the directory after Django is set up).

Only counters and histograms: they add up across processes (a dead process's counts stay in
its file, which is right for totals). Labels are bounded sets: route names (never raw paths),
status classes, reason codes, rule numbers and keys, causes, task names.
"""

from __future__ import annotations

import os
import threading
from typing import Any

# Seconds. Requests are milliseconds; timers and sweeps are judged against a 1 s sweep period.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
SWEEP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Metric:
    """A metric made on first use (see the module docstring); ``labels``/``inc``/``observe``."""

    _lock = threading.Lock()

    def __init__(self, kind: str, name: str, doc: str, labels: tuple[str, ...] = (), **kw: Any):
        self.kind, self.name, self.doc, self.label_names, self.kw = kind, name, doc, labels, kw
        self._metric: Any = None
        self._children: dict[tuple[str, ...], Any] = {}  # labels() without its lock and checks

    def get(self) -> Any:
        metric = self._metric
        if metric is None:
            with self._lock:
                if self._metric is None:
                    self._metric = self._make()
                metric = self._metric
        return metric

    def _make(self) -> Any:
        import prometheus_client

        path = multiprocess_dir()
        if path:
            os.makedirs(path, exist_ok=True)
        cls = getattr(prometheus_client, self.kind)
        return cls(self.name, self.doc, self.label_names, **self.kw)

    def labels(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.get().labels(*values)
        return child


REQUEST_LATENCY = _Metric(
    "Histogram",
    "cc_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name (never the raw path), method and status class.",
    ("route", "method", "status"),
    buckets=REQUEST_BUCKETS,
)
DECISIONS = _Metric(
    "Counter",
    "cc_decisions",
    "The engine's decisions that services acted on, by kind, code and rule (number:key).",
    ("kind", "code", "rule"),
)
STATUS_CHANGES = _Metric(
    "Counter",
    "cc_status_changes",
    "Ledger rows committed by the one writer (services/ledger.py), by event and cause.",
    ("event", "cause"),
)
WRAP_UP_LATENESS = _Metric(
    "Histogram",
    "cc_wrap_up_lateness_seconds",
    "Wrap-up timers: the time the timer fired minus its deadline, by what fired it.",
    ("source",),
    buckets=LATENESS_BUCKETS,
)
SWEEP_LAG = _Metric(
    "Histogram",
    "cc_sweep_lag_seconds",
    "How late a sweep started: the time since the previous sweep (by any process) beyond "
    "CC_SWEEP_INTERVAL.",
    buckets=SWEEP_BUCKETS,
)
SWEEP_DURATION = _Metric(
    "Histogram",
    "cc_sweep_duration_seconds",
    "How long a sweep ran.",
    buckets=SWEEP_BUCKETS,
)
IDEMPOTENT_REPLAYS = _Metric(
    "Counter",
    "cc_idempotent_replays",
    "Requests answered from a stored Idempotency-Key response (Idempotent-Replayed: true).",
)
THROTTLE_FAIL_OPEN = _Metric(
    "Counter",
    "cc_throttle_fail_open",
    "Requests let through unchecked because the throttle's Redis could not be reached.",
    ("scope",),
)
CELERY_TASKS = _Metric(
    "Counter",
    "cc_celery_tasks",
    "Celery task outcomes by task name: succeeded, failed, retried, revoked (expired included).",
    ("task", "outcome"),
)


def rule_label(rule: Any) -> str:
    """A rule's bounded label: ``R4:max_concurrent`` (no scope, row id or version), or ''."""
    if rule is None:
        return ""
    rnum, key = getattr(rule, "rnum", None), getattr(rule, "key", None)
    if rnum is not None and key is not None:
        return f"{rnum}:{key}"
    return str(rule).split("@", 1)[0]


def count_decision(kind: str, code: str, rule: Any) -> None:
    DECISIONS.labels(kind, code, rule_label(rule)).inc()


def on_commit(func: Any) -> None:
    """Run ``func`` when the current transaction commits (at once outside one); a rolled-back
    change is never counted."""
    from django.db import transaction

    transaction.on_commit(func)


def registry_text() -> tuple[bytes, str]:
    """The exposition of every process's metrics (multiprocess) or this process's; and its
    content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    path = multiprocess_dir()
    if not path:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    os.makedirs(path, exist_ok=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return generate_latest(registry), CONTENT_TYPE_LATEST
