"""Interaction rows under their agent's lock: create, find the agent's own, run a transition.

The building blocks the interaction services share (``offers``, ``handling``, ``outbound``,
``wrap_up``). The caller holds the agent's row lock (``sessions.lock_sessions``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_fsm import TransitionNotAllowed

from cc_rules import rows
from cc_rules.choices import InteractionState, Kind
from cc_rules.engine import reasons
from cc_rules.engine.types import Decision
from cc_rules.models import Agent, Contact, Interaction
from cc_rules.selectors import own_interaction

from . import wakeups
from .errors import NotFound, Refused
from .sessions import Session, lock_sessions


def refused(decision: Decision, who: str, channel: str) -> Refused:
    """The 409 for an engine refusal of new work."""
    return Refused(
        decision.code, f"{who} cannot take new {channel} work: {decision.code}.", decision.rule
    )


def create(
    sess: Session,
    *,
    channel: str,
    contact: Contact | None,
    direction: str,
    state: str,
    kind: str = Kind.NORMAL,
    parent: Interaction | None = None,
    counts: bool = True,
    forwarded_from: str | None = None,
    to_address: str | None = None,
) -> Interaction:
    """A new interaction of ``sess.agent``; an offer gets its deadline and a wake-up."""
    now = sess.now
    timeout = (
        sess.rules.value("offer_timeout_seconds") if state == InteractionState.OFFERED else None
    )
    interaction = Interaction(
        channel_id=channel,
        contact=contact,
        agent=sess.agent,
        direction=direction,
        kind=kind,
        parent=parent,
        state=state,
        counts_toward_cap=counts,
        forwarded_from=forwarded_from,
        to_address=to_address,
        created_at=now,
        accepted_at=now if state == InteractionState.ACTIVE else None,
        offer_deadline=now + timedelta(seconds=timeout) if timeout else None,
        created_by=sess.ctx.actor if getattr(sess.ctx.actor, "is_authenticated", False) else None,
    )
    rows.insert(interaction)  # save() without the ORM's SQL building (cc_rules/rows.py)
    if interaction.offer_deadline is not None:
        wakeups.schedule_offer_expiry(interaction)
    sess.work_changed()
    return interaction


def own(sess: Session, interaction_id: int) -> Interaction:
    """The locked agent's interaction, locked too; 404 if it is not theirs."""
    interaction, _ = own_interaction(interaction_id, sess.agent, lock=True)
    if interaction is None:
        raise NotFound("not_found", "No such interaction.")
    return interaction


def transition(interaction: Interaction, name: str, *args: Any) -> None:
    """Run the interaction's FSM transition ``name`` and save it; 409 where it is not allowed."""
    try:
        getattr(interaction, name)(*args)
    except TransitionNotAllowed:
        raise Refused(
            reasons.INVALID_TRANSITION,
            f"Interaction {interaction.pk} is {interaction.state}; it cannot be {name}ed.",
            None,
        ) from None
    rows.update(interaction)  # interaction.save() without the ORM's SQL building


def own_session(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> tuple[Session, Interaction]:
    """Lock the agent, then their interaction (404 if it is not theirs). Inside atomic()."""
    sess = lock_sessions([agent.pk], actor=actor, request_id=request_id)[agent.pk]
    return sess, own(sess, interaction_id)
