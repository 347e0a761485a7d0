"""Wake-ups for deadlines: an ETA task sent after commit, only ever a hint (``timers``).

A deadline lives on its row with a version; the sweeper is the guarantee that it fires. A
wake-up only makes it fire sooner, so a lost one (broker down, Redis flushed) costs at most one
sweep period. Tasks are sent by name (``Celery.send_task``), so this module (used by the writer)
imports no task module and no service, and needs none registered in the sending process.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cc_rules.celery import MAX_ETA_SECONDS, app
from cc_rules.models import AgentChannelState, Interaction

log = logging.getLogger(__name__)

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
    if eta - timezone.now() > timedelta(seconds=MAX_ETA_SECONDS):
        return

    def send() -> None:
        if not settings.CC_SEND_WAKEUPS:
            return  # tests that drive the timer services directly
        if slot is not None and not _claim_slot(slot):
            return  # a wake-up for this slot is on its way and will fire this timer too
        try:
            app.send_task(task_name, args=args, eta=eta, retry=False)
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
    _enqueue(
        "cc_rules.fire_wrap_up", [state.pk, state.wrap_up_version], eta, slot=("wrap_up", slot)
    )


def schedule_offer_expiry(interaction: Interaction) -> None:
    """After commit, ask for a wake-up at the end of the offer deadline's slot, shared like the
    wrap-up ones: the wake-up expires every offer then due (``offer_wake``). One message per
    slot instead of one per offer: at 80 offers/s that publish was ~5 % of a cycle's CPU."""
    if interaction.offer_deadline is None:
        return
    slot, eta = _slot(interaction.offer_deadline)
    args = [interaction.pk, interaction.offer_version]
    _enqueue("cc_rules.expire_offer", args, eta, slot=("offer", slot))


def _slot(deadline: datetime) -> tuple[int, datetime]:
    """The deadline's wake-up slot and the slot's end (never before the deadline)."""
    us = (deadline - _EPOCH) // timedelta(microseconds=1)
    slot = -(-us // WAKE_UP_SLOT_US)  # rounded up: exact integer arithmetic
    return slot, _EPOCH + timedelta(microseconds=slot * WAKE_UP_SLOT_US)
