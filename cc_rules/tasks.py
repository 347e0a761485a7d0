"""Celery tasks: thin wrappers, ids and versions in, a service call out.

Every task is idempotent by construction: the service re-checks the row's version and
deadline under the agent's row lock, so a late, duplicate or stale delivery does nothing.
"""

from __future__ import annotations

from celery import shared_task

from cc_rules.services import timers


@shared_task(name="cc_rules.fire_wrap_up", ignore_result=True)
def fire_wrap_up(state_id: int, version: int) -> bool:
    """Wake-up for one wrap-up deadline (R14); a hint only, the sweeper is the guarantee."""
    return timers.wrap_up_fire(state_id, version)


@shared_task(name="cc_rules.expire_offer", ignore_result=True)
def expire_offer(interaction_id: int, version: int) -> bool:
    """Wake-up for a slot of offer deadlines (this one's and any due with it); a hint only, the
    sweeper is the guarantee."""
    return timers.offer_wake(interaction_id, version)


@shared_task(name="cc_rules.sweep", ignore_result=True, expires=30)
def sweep() -> dict[str, int]:
    """Fire every due deadline, on demand. The periodic sweep is no task: the beat and the
    workers run it in-process (``cc_rules/sweeper.py``); concurrent sweeps are safe. Kept so
    that messages sent by an older beat during an upgrade still run.
    """
    return timers.sweep()


@shared_task(name="cc_rules.purge_idempotency", ignore_result=True, expires=3600)
def purge_idempotency() -> int:
    """Delete Idempotency-Key records past CC_IDEMPOTENCY_TTL_HOURS (hourly, from the beat)."""
    from cc_rules.api.idempotency import purge_expired

    return purge_expired()


@shared_task(name="cc_rules.checkpoint_history", ignore_result=True, expires=600)
def checkpoint_history() -> str:
    """Write a signed checkpoint of every agent's chain head (every CC_CHECKPOINT_INTERVAL
    seconds, from the beat; docs/audit.md). Returns the file's name."""
    from cc_rules.services.checkpoints import write_checkpoint

    return write_checkpoint().name


@shared_task(name="cc_rules.run_audit_job", bind=True, ignore_result=True, max_retries=None)
def run_audit_job(self, job_id: int) -> str:
    """Run one audit job (verify or CSV export) on the ``audit`` queue (``CC_AUDIT_QUEUE``),
    which only the audit worker consumes. A second delivery of a job that is still running
    (its heartbeat is fresh) tries again later, and takes over once the first run is dead."""
    from cc_rules.services import audit_jobs

    outcome = audit_jobs.run(job_id)
    if outcome == "busy":
        raise self.retry(countdown=audit_jobs.STALE_SECONDS)
    return outcome


@shared_task(name="cc_rules.maintain_audit_jobs", ignore_result=True, expires=300)
def maintain_audit_jobs() -> dict[str, int]:
    """Delete export files past CC_AUDIT_EXPORT_RETENTION_HOURS and re-send abandoned jobs
    (every five minutes, from the beat)."""
    from cc_rules.services import audit_jobs

    return audit_jobs.maintain()
