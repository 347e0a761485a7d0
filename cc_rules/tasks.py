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
    """Fire every due deadline. Scheduled by **exactly one** Celery beat every
    ``CC_SWEEP_INTERVAL`` seconds (``cc_rules/celery.py``); concurrent sweeps are safe.
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
