"""Deadlines: wrap-up timers (R14) and offer expiry. The database row is the truth.

A deadline lives on its row (``AgentChannelState.wrap_up_deadline`` / ``Interaction.
offer_deadline``) with a version every change bumps (extend, done, manual status, timer).
Two paths fire it, both re-checking each row under its agent's row lock:
- an ETA task enqueued after commit: only a wake-up hint, so it may be lost (Redis flushed,
  worker killed) or delivered twice (visibility-timeout redelivery) without harm. Wrap-up
  wake-ups are shared per ``WAKE_UP_SLOT_US``, and each fires every timer then due, in batches;
- the sweeper, run by **exactly one** Celery beat every ``CC_SWEEP_INTERVAL`` seconds, which
  claims due rows with ``FOR UPDATE OF agent SKIP LOCKED`` in batches and fires them.
A row fires only if it is still in ACW at the same version and its deadline has passed by the
database clock read after the lock. So a timer fires at most once and never early, and at least
once (the sweeper sees every due row until it has fired), whatever the broker does. The firing
itself is in ``wrap_up_firing``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cc_rules.celery import MAX_ETA_SECONDS
from cc_rules.models import AgentChannelState, Interaction
from cc_rules.selectors import db_now

from . import wrap_up_firing as firing

log = logging.getLogger(__name__)

# Rows claimed per transaction. The batch's agent locks are held until it commits, so a batch
# is kept short (its writes go out as three statements; well under a second): an agent's own
# request waits at most that long behind it.
SWEEP_BATCH = 50
# Offers expired per sweep (each in its own transaction); the rest wait for the next sweep.
SWEEP_OFFERS = 1000


# Wake-ups for wrap-up deadlines are coalesced per slot of this many microseconds: the first
# timer due in a slot sends one wake-up for the slot's end, and that wake-up fires every timer
# then due. 10,000 deadlines within a minute cost at most 600 messages instead of 10,000, and a
# timer is at most one slot (0.1 s) later than its own ETA would have been.
WAKE_UP_SLOT_US = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# (kind, slot number) -> monotonic time its wake-up was sent by this process
_slots_sent: dict[tuple[str, int], float] = {}
_slots_lock = threading.Lock()


def _enqueue(
    task_name: str, args: list, eta: datetime, *, slot: tuple[str, int] | None = None
) -> None:
    """Send a wake-up after commit; a broker that is down only loses the hint, never the timer.

    A deadline further away than ``MAX_ETA_SECONDS`` gets no wake-up at all: the worker would
    hold the message unacknowledged until then, and past Redis's visibility timeout it would be
    delivered again (harmless, but pointless). The sweeper fires it within one sweep period.
    With a ``slot``, the wake-up is sent only if this process has not sent one for that slot.
    """
    from cc_rules import tasks

    if eta - timezone.now() > timedelta(seconds=MAX_ETA_SECONDS):
        return

    def send() -> None:
        if not settings.CC_SEND_WAKEUPS:
            return  # tests that drive the timer services directly
        if slot is not None and not _claim_slot(slot):
            return  # a wake-up for this slot is on its way and will fire this timer too
        try:
            getattr(tasks, task_name).apply_async(args=args, eta=eta, retry=False)
        except Exception as exc:  # broker unreachable: the sweeper will fire it
            if slot is not None:
                _release_slot(slot)
            log.warning(
                "wake-up for %s%s not sent (%s); the sweeper will fire it", task_name, args, exc
            )

    transaction.on_commit(send)


def _claim_slot(slot: tuple[str, int]) -> bool:
    """True for the first caller in this process for ``slot``; forgets slots long past."""
    now = time.monotonic()
    with _slots_lock:
        if slot in _slots_sent:
            return False
        if len(_slots_sent) > 10_000:
            horizon = now - 2 * MAX_ETA_SECONDS
            for old in [k for k, at in _slots_sent.items() if at < horizon]:
                del _slots_sent[old]
        _slots_sent[slot] = now
        return True


def _release_slot(slot: tuple[str, int]) -> None:
    with _slots_lock:
        _slots_sent.pop(slot, None)


def schedule_wrap_up(state: AgentChannelState) -> None:
    """After commit, ask for a wake-up at the state's wrap-up deadline (R14).

    The wake-up is for the end of the deadline's slot (``WAKE_UP_SLOT_US``; never before the
    deadline) and is shared by every timer this process schedules in the same slot.
    """
    if state.wrap_up_deadline is None:
        return
    slot, eta = _slot(state.wrap_up_deadline)
    _enqueue("fire_wrap_up", [state.pk, state.wrap_up_version], eta, slot=("wrap_up", slot))


def schedule_offer_expiry(interaction: Interaction) -> None:
    """After commit, ask for a wake-up at the end of the offer deadline's slot, shared like the
    wrap-up ones: the wake-up expires every offer then due (``offer_wake``). One message per
    slot instead of one per offer: at 80 offers/s that publish was ~5 % of a cycle's CPU."""
    if interaction.offer_deadline is None:
        return
    slot, eta = _slot(interaction.offer_deadline)
    args = [interaction.pk, interaction.offer_version]
    _enqueue("expire_offer", args, eta, slot=("offer", slot))


def _slot(deadline: datetime) -> tuple[int, datetime]:
    """The deadline's wake-up slot and the slot's end (never before the deadline)."""
    us = (deadline - _EPOCH) // timedelta(microseconds=1)
    slot = -(-us // WAKE_UP_SLOT_US)  # rounded up: exact integer arithmetic
    return slot, _EPOCH + timedelta(microseconds=slot * WAKE_UP_SLOT_US)


def offer_wake(interaction_id: int, version: int) -> bool:
    """The ETA wake-up for a slot of offer deadlines: expire every offer due by now, then this
    one if that did not (it may still be locked by a request); True if this one expired."""
    from .interactions import offer_expire

    fired = expire_due_offers()
    return interaction_id in fired or offer_expire(interaction_id, version)


def expire_due_offers(limit: int = SWEEP_OFFERS) -> set[int]:
    """Expire up to ``limit`` offers past their deadline, oldest first; the ids that expired. A
    failing offer is logged and left for the next sweep, never stopping the others."""
    from .interactions import offer_expire

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

    Run by the ``cc_rules.sweep`` task, which **exactly one** Celery beat in the deployment
    schedules every ``CC_SWEEP_INTERVAL`` seconds. A second beat (or a manual call) cannot fire a
    timer twice; it only doubles the sweeping work.

    Each batch is one transaction that locks the due rows' agents with ``SKIP LOCKED``: an
    agent busy in another request (or another sweeper) is left for the next batch or sweep, and
    a row is re-checked under the lock, so no timer fires twice. A failing row never stops the
    others (its batch is redone row by row, and the row is logged and left for the next sweep).
    """
    return {
        "wrap_up": len(firing.fire_all_due(batch, source="sweep")),
        "offers": len(expire_due_offers()),
    }
