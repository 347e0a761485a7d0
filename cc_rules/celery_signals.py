"""Celery signal handlers: logging set-up, the request id across the broker, task metrics.

Connected by ``cc_rules/celery.py`` in every process that loads the app (web, worker, beat):

- ``setup_logging``: Celery leaves logging alone and the process uses ``settings.LOGGING``
  (cc_rules/logs.py), so worker and beat write the same lines as web;
- ``before_task_publish`` (the publishing process: a request's on-commit wake-up, the beat):
  the message headers get ``cc_request_id`` (the request being served, if any);
- ``task_prerun``/``task_postrun`` (the worker's pool process): the request id, task name and
  id are the log context while the task runs (the sweep's own metrics are observed where it
  runs, ``cc_rules/sweeper.py``);
- ``task_success``/``task_failure``/``task_retry``/``task_revoked``: ``cc_celery_tasks_total``.
"""

from __future__ import annotations

import logging.config
from typing import Any

from celery import signals

from cc_rules import logs, metrics

REQUEST_ID_HEADER = "cc_request_id"


@signals.setup_logging.connect
def _use_django_logging(**kwargs: Any) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)  # as Django does for web: warnings become log lines too


@signals.before_task_publish.connect
def _stamp_headers(headers: dict | None = None, **kwargs: Any) -> None:
    if headers is None:
        return
    rid = logs.request_id.get()
    if rid:
        headers.setdefault(REQUEST_ID_HEADER, rid)


@signals.task_prerun.connect
def _task_started(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    request = task.request
    logs.request_id.set(str(request.get(REQUEST_ID_HEADER) or ""))
    logs.task.set((task.name, task_id))


@signals.task_postrun.connect
def _task_finished(**kwargs: Any) -> None:
    logs.request_id.set("")
    logs.task.set(None)


def _outcome(task: Any, outcome: str) -> None:
    name = getattr(task, "name", None) or str(task)
    metrics.CELERY_TASKS.labels(name, outcome).inc()


@signals.task_success.connect
def _succeeded(sender: Any = None, **kwargs: Any) -> None:
    _outcome(sender, "succeeded")


@signals.task_failure.connect
def _failed(sender: Any = None, **kwargs: Any) -> None:
    _outcome(sender, "failed")


@signals.task_retry.connect
def _retried(sender: Any = None, **kwargs: Any) -> None:
    _outcome(sender, "retried")


@signals.task_revoked.connect
def _revoked(sender: Any = None, expired: bool = False, **kwargs: Any) -> None:
    _outcome(sender, "expired" if expired else "revoked")
