"""The Celery app. Workers run wake-up tasks; **exactly one** beat runs the sweeper.

Deployment: any number of ``celery -A cc_rules worker`` processes, and exactly one
``celery -A cc_rules beat`` in the whole deployment. The beat only schedules ``cc_rules.sweep``
every ``CC_SWEEP_INTERVAL`` seconds; the sweep is what guarantees that every due wrap-up timer
and offer expiry fires. No beat: timers whose wake-up message was lost never fire. Two beats:
still correct (sweeps claim rows with ``SKIP LOCKED`` and re-check each row's version under the
agent's lock), just twice the sweeping work. ``manage.py serve`` runs one beat with a pidfile.

Configuration is deliberate (issue 5):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after its
  task ran, so a task killed mid-run (SIGKILL, OOM) is delivered again instead of lost. Safe
  because every task is idempotent: it re-checks a version under the agent's row lock.
- ``worker_prefetch_multiplier = 1``: a worker reserves one runnable message per pool process,
  so a busy worker does not sit on sweeps another worker could run. (ETA messages are reserved
  regardless; Celery raises the prefetch limit for each one it holds.)
- ``visibility_timeout``: Redis hands an unacknowledged message to another consumer after this
  long. A worker holds an ETA message unacknowledged in memory until its ETA, so an ETA further
  out than the timeout would be delivered again, and a killed worker's ETA messages come back
  only after it. Hence: ETA tasks are wake-up hints only; the beat sweeper over the deadlines in
  the database is the guarantee; no wake-up is sent for a deadline more than
  ``MAX_ETA_SECONDS`` ahead (a tenth of the timeout), so a healthy worker never sees a
  redelivery; and the timeout stays long (one hour) so a task that merely runs long is never
  run twice at once.
- ``task_ignore_result``: nothing reads results; the database row is the outcome.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")

VISIBILITY_TIMEOUT = 3600
MAX_ETA_SECONDS = VISIBILITY_TIMEOUT // 10

app = Celery("cc_rules")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    # max_retries 0: a web process publishing a wake-up while Redis is down gives up at once
    # (the wake-up is only a hint; the sweeper fires the timer). Workers reconnect through
    # broker_connection_retry / broker_connection_max_retries, which this does not change.
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT, "max_retries": 0},
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks(["cc_rules"])


@app.on_after_configure.connect
def _beat_schedule(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    sender.conf.beat_schedule = {
        "sweep-deadlines": {
            "task": "cc_rules.sweep",
            "schedule": settings.CC_SWEEP_INTERVAL,
            # A sweep that could not start in time (no worker free) is superseded by the next
            # one: expired copies are dropped instead of piling up while workers are down.
            "options": {"expires": max(5.0, settings.CC_SWEEP_INTERVAL * 5)},
        },
        # Expired keys are ignored at once; this only keeps the table small.
        "purge-idempotency-keys": {"task": "cc_rules.purge_idempotency", "schedule": 3600.0},
        # Signed heads outside the database: a rewind of the ledger shows against them.
        "checkpoint-history": {
            "task": "cc_rules.checkpoint_history",
            "schedule": settings.CC_CHECKPOINT_INTERVAL,
        },
    }
