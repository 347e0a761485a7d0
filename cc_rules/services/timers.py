"""Deadlines: wrap-up timers (R14) and offer expiry. The database row is the truth.

A deadline lives on its row (``AgentChannelState.wrap_up_deadline`` / ``Interaction.
offer_deadline``) with a version every change bumps (extend, done, manual status, timer).
Two paths fire it, both re-checking each row under its agent's row lock:
- an ETA task enqueued after commit: only a wake-up hint, so it may be lost (Redis flushed,
  worker killed) or delivered twice (visibility-timeout redelivery) without harm. Wrap-up
  wake-ups are shared per ``WAKE_UP_SLOT_US``, and each fires every timer then due, in batches;
- the sweeper, run about every ``CC_SWEEP_INTERVAL`` seconds by the beat, or by the workers
  while the beat is down (``cc_rules/sweeper.py``), which claims due rows with ``FOR UPDATE OF
  agent SKIP LOCKED`` in batches and fires them.
A row fires only if it is still in ACW at the same version and its deadline has passed by the
database clock read after the lock. So a timer fires at most once and never early, and at least
once (the sweeper sees every due row until it has fired), whatever the broker does. The firing
itself is in ``wrap_up_firing``; sending wake-ups in ``wakeups``.
"""

from __future__ import annotations

import logging

from cc_rules.models import Interaction
from cc_rules.selectors import db_now

from . import wrap_up_firing as firing
from .offers import offer_expire
from .visibility import log_off_invisible

log = logging.getLogger(__name__)

# Rows claimed per transaction. The batch's agent locks are held until it commits, so a batch
# is kept short (its writes go out as three statements; well under a second): an agent's own
# request waits at most that long behind it.
SWEEP_BATCH = 50
# Offers expired per sweep (each in its own transaction); the rest wait for the next sweep.
SWEEP_OFFERS = 1000


def offer_wake(interaction_id: int, version: int) -> bool:
    """The ETA wake-up for a slot of offer deadlines: expire every offer due by now, then this
    one if that did not (it may still be locked by a request); True if this one expired."""
    fired = expire_due_offers()
    return interaction_id in fired or offer_expire(interaction_id, version)


def expire_due_offers(limit: int = SWEEP_OFFERS) -> set[int]:
    """Expire up to ``limit`` offers past their deadline, oldest first; the ids that expired. A
    failing offer is logged and left for the next sweep, never stopping the others."""
    due = (
        Interaction.objects.filter(state="offered", offer_deadline__lte=db_now())
        .order_by("offer_deadline")
        .values_list("pk", "offer_version")[:limit]
    )
    fired = set()
    for pk, version in list(due):
        try:
            if offer_expire(pk, version):
                fired.add(pk)
        except Exception:
            log.exception(
                "offer %s (version %s) could not be expired; retried next sweep", pk, version
            )
    return fired


def wrap_up_fire(state_id: int, version: int) -> bool:
    """The ETA wake-up: fire every wrap-up timer due by now, in batches; True if this one fired.

    Wake-ups are shared (``schedule_wrap_up``), so a wake-up fires all that is due, not only
    the timer that sent it; and under load wake-ups arrive late and together, when one
    transaction per batch costs a fraction of one per timer. Each row is re-checked under its
    agent's lock (status, version, deadline by the database clock), so a late, duplicate or
    stale delivery fires nothing that is not due. If the batches did not fire this row (not
    due, or its agent was locked by a request or another sweep), the wake-up waits for that
    agent's lock and re-checks the row itself, unless one indexed read shows it is gone.
    """
    fired = firing.fire_all_due(SWEEP_BATCH, source="timer")
    return (state_id, version) in fired or firing.fire_one(state_id, version, source="timer")


def sweep(batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Fire every due wrap-up timer and offer expiry; returns counts. Safe to run concurrently.

    Run in-process by the sweeper threads of the beat and the workers (``cc_rules/sweeper.py``),
    about once per ``CC_SWEEP_INTERVAL`` in total; also the ``cc_rules.sweep`` task, for manual
    use. A concurrent or duplicate sweep cannot fire a timer twice; it only adds work.

    Each batch is one transaction that locks the due rows' agents with ``SKIP LOCKED``: an
    agent busy in another request (or another sweeper) is left for the next batch or sweep, and
    a row is re-checked under the lock, so no timer fires twice. A failing row never stops the
    others (its batch is redone row by row, and the row is logged and left for the next sweep).
    """
    return {
        "wrap_up": len(firing.fire_all_due(batch, source="sweep")),
        "offers": len(expire_due_offers()),
        "invisible": log_off_invisible(),
    }
