"""The Celery app. Workers run wake-up tasks; **exactly one** beat runs the periodic tasks;
every worker and the beat sweep the timers.

Deployment: any number of ``celery -A cc_rules worker`` processes, and exactly one
``celery -A cc_rules beat`` in the whole deployment. The timer sweep, which guarantees that
every due wrap-up timer and offer expiry fires, is not a task: each worker (the ``SweeperStep``
bootstep below) and the beat (``beat_init``) run a ``cc_rules.sweeper.Sweeper`` thread that
sweeps in-process, sharing one Redis lease so the sweep runs about once per
``CC_SWEEP_INTERVAL`` in total. So timers keep firing with no worker (the beat sweeps) or no
beat (the workers sweep); only with neither do they stop. The beat itself schedules only
housekeeping (``purge_idempotency``, ``checkpoint_history``); two beats are still correct,
they only double that.
``manage.py serve`` runs one beat with a pidfile.

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
  only after it. Hence: ETA tasks are wake-up hints only; the sweeper over the deadlines in
  the database is the guarantee; no wake-up is sent for a deadline more than
  ``MAX_ETA_SECONDS`` ahead (a tenth of the timeout), so a healthy worker never sees a
  redelivery; and the timeout stays long (one hour) so a task that merely runs long is never
  run twice at once.
- ``task_ignore_result``: nothing reads results; the database row is the outcome.
- logging and task metrics: ``cc_rules/celery_signals.py`` (JSON lines, the publishing
  request's id in each task's lines, ``cc_celery_tasks_total``, sweep lag and duration).
- ``task_routes``: audit jobs (``cc_rules.run_audit_job``: verify and CSV export over any
  size, minutes long) go to their own queue, ``CC_AUDIT_QUEUE`` (``audit``), consumed only by a
  worker started with ``-Q audit`` (``serve`` runs one). The timer workers never see them, so a
  running job never holds a pool slot a wake-up or sweep needs.
"""

import os

from celery import Celery
from celery.signals import beat_init
from kombu.utils.imports import symbol_by_name

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

# Logging through settings.LOGGING, the request id in task headers, task metrics.
from cc_rules import celery_signals  # noqa: E402, F401


@app.on_after_configure.connect
def _beat_schedule(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    sender.conf.beat_schedule = {
        # Expired keys are ignored at once; this only keeps the table small.
        "purge-idempotency-keys": {"task": "cc_rules.purge_idempotency", "schedule": 3600.0},
        # Signed heads outside the database: a rewind of the ledger shows against them.
        "checkpoint-history": {
            "task": "cc_rules.checkpoint_history",
            "schedule": settings.CC_CHECKPOINT_INTERVAL,
        },
        # Export files past retention, and audit jobs whose worker died (issue 14).
        "maintain-audit-jobs": {"task": "cc_rules.maintain_audit_jobs", "schedule": 300.0},
    }


# The sweeper lives beside the services it runs (``cc_rules/sweeper.py``); the app names it, as
# it names tasks, so this module imports nothing of the services (Celery resolves a step's
# ``module:Class`` when a worker starts).
app.steps["worker"].add("cc_rules.sweeper:SweeperStep")


@beat_init.connect  # also sent by a beat embedded in a worker (``worker --beat``)
def _beat_sweeps(sender: object = None, **kwargs: object) -> None:
    """The beat sweeps too, and writes the heartbeat ``/readyz`` checks."""
    symbol_by_name("cc_rules.sweeper:start_beat_sweeper")()
