"""Deadlines: wrap-up timers (R14) and offer expiry. The database row is the truth.

A deadline lives on its row (``AgentChannelState.wrap_up_deadline`` / ``Interaction.
offer_deadline``) with a version every change bumps. Two paths fire it, both through the
same service, both re-checking under the agent's row lock:
- an ETA task enqueued after commit: only a wake-up hint, so it may be lost (Redis flushed,
  worker killed) or delivered twice (visibility-timeout redelivery) without harm;
- the sweeper, run by exactly one Celery beat every ``CC_SWEEP_INTERVAL`` seconds, which claims
  due rows with ``FOR UPDATE OF agent SKIP LOCKED`` in batches and fires them.
A delivery whose version no longer matches, or whose deadline is not yet due, does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction

from cc_rules.choices import Status
from cc_rules.models import Agent, AgentChannelState, Interaction
from cc_rules.selectors import db_now

log = logging.getLogger(__name__)

SWEEP_BATCH = 200


def _enqueue(task_name: str, args: list, eta: datetime) -> None:
    """Send a wake-up after commit; a broker that is down only loses the hint, never the timer."""
    from cc_rules import tasks

    def send() -> None:
        if not settings.CC_SEND_WAKEUPS:
            return  # tests that drive the timer services directly
        try:
            getattr(tasks, task_name).apply_async(args=args, eta=eta, retry=False)
        except Exception as exc:  # broker unreachable: the sweeper will fire it
            log.warning(
                "wake-up for %s%s not sent (%s); the sweeper will fire it", task_name, args, exc
            )

    transaction.on_commit(send)


def schedule_wrap_up(state: AgentChannelState) -> None:
    if state.wrap_up_deadline is not None:
        _enqueue("fire_wrap_up", [state.pk, state.wrap_up_version], state.wrap_up_deadline)


def schedule_offer_expiry(interaction: Interaction) -> None:
    if interaction.offer_deadline is not None:
        _enqueue(
            "expire_offer", [interaction.pk, interaction.offer_version], interaction.offer_deadline
        )


def wrap_up_fire(state_id: int, version: int) -> bool:
    """Fire one wrap-up timer if it is still due at ``version``. True when it moved the status."""
    from .sessions import session_for

    agent_id = (
        AgentChannelState.objects.filter(pk=state_id).values_list("agent_id", flat=True).first()
    )
    if agent_id is None:
        return False
    with transaction.atomic():
        agent = (
            Agent.objects.select_for_update(of=("self",))
            .select_related("user", "role")
            .filter(pk=agent_id)
            .first()
        )
        if agent is None:
            return False
        sess = session_for(agent, actor=None, request_id=f"timer:{state_id}:{version}")
        return _fire_if_due(sess, state_id, version)


def _fire_if_due(sess, state_id: int, version: int) -> bool:
    from .interactions import leave_wrap_up

    state = next((s for s in sess.states.values() if s.pk == state_id), None)
    if (
        state is None
        or state.status != Status.AFTER_CALL_WORK
        or state.wrap_up_version != version
        or state.wrap_up_deadline is None
        or state.wrap_up_deadline > sess.now
    ):
        return False
    return leave_wrap_up(sess, state, "timer", interaction_id=state.wrap_up_interaction_id)


def sweep(batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Fire every due wrap-up timer and offer expiry; returns counts. Safe to run concurrently.

    Each batch is one transaction that locks the due rows' agents with ``SKIP LOCKED``: an
    agent busy in another request (or another sweeper) is left for the next sweep, and a row
    is re-checked under the lock, so no timer fires twice.
    """
    from .interactions import offer_expire

    fired = {"wrap_up": 0, "offers": 0}
    while True:
        claimed, n = _sweep_wrap_up_batch(batch)
        fired["wrap_up"] += n
        if claimed < batch or n == 0:
            break
    now = db_now()
    due_offers = Interaction.objects.filter(state="offered", offer_deadline__lte=now).values_list(
        "pk", "offer_version"
    )[: batch * 10]
    for pk, version in due_offers:
        fired["offers"] += int(offer_expire(pk, version))
    return fired


def _sweep_wrap_up_batch(batch: int) -> tuple[int, int]:
    """Claim up to ``batch`` due rows and fire them; returns (claimed, fired)."""
    from .sessions import session_for

    with transaction.atomic():
        now = db_now()
        due = list(
            AgentChannelState.objects.select_related("agent__user", "agent__role")
            .select_for_update(skip_locked=True, of=("agent",))
            .filter(wrap_up_deadline__lte=now, status=Status.AFTER_CALL_WORK)
            .order_by("wrap_up_deadline")[:batch]
        )
        fired = 0
        for row in due:
            with transaction.atomic():  # a savepoint: one bad row does not undo the batch
                sess = session_for(
                    row.agent, actor=None, request_id=f"sweep:{row.pk}:{row.wrap_up_version}"
                )
                fired += int(_fire_if_due(sess, row.pk, row.wrap_up_version))
        return len(due), fired
