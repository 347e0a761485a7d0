"""The Celery app. Workers run wake-up tasks; exactly one beat runs the sweeper.

Configuration is deliberate (issue 5):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task killed mid-run (SIGKILL, OOM) is
  redelivered instead of lost. Safe because every task re-checks a version under a row lock.
- ``worker_prefetch_multiplier = 1``: a worker does not hoard messages it cannot run yet.
- ``visibility_timeout``: Redis redelivers an unacked message after this long. ETA tasks sit
  unacked in worker memory until due, so ETA tasks are only wake-up hints; the beat sweeper over
  the database deadlines is what guarantees firing. We keep it at one hour (the default) and cap
  how far ahead an ETA may be scheduled (``CC_MAX_ETA_SECONDS``) so redelivery stays rare and
  harmless.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cc_rules.settings")

app = Celery("cc_rules")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_transport_options={"visibility_timeout": 3600},
    broker_connection_retry_on_startup=True,
    # The sweeper is the guarantee; a lost wake-up costs at most one sweep period.
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
            # A sweep that could not run in time is superseded by the next one.
            "options": {"expires": max(5.0, settings.CC_SWEEP_INTERVAL * 5)},
        }
    }
