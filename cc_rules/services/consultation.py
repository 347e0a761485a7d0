"""A consultation belongs to its two agents (R6; DECISIONS.md, "Combinations": consultation chat).

The child interaction is the teammate's, but the initiator (the agent of its parent) reads it,
reads and posts its messages and may end it too. The contact side never sees it.

Lock order (DECISIONS.md): Agent rows first, ascending id; then interactions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules.choices import Kind
from cc_rules.models import Agent, Interaction

from .errors import NotFound
from .handling import after_work_ended, end_event, interaction_end
from .sessions import lock_sessions
from .work import transition


def started_by(agent: Agent) -> dict[str, Any]:
    """ORM filter: the consultations ``agent`` started (the agent of their parent)."""
    return {"kind": Kind.CONSULTATION, "parent__agent": agent}


def party_interaction(interaction_id: int, agent: Agent | None) -> Interaction | None:
    """The interaction if ``agent`` is a party to it: their own, or a consultation they started."""
    if agent is None:
        return None
    found = Interaction.objects.filter(pk=interaction_id).select_related("parent").first()
    if found is None:
        return None
    if found.agent_id == agent.pk:
        return found
    if found.kind == Kind.CONSULTATION and found.parent and found.parent.agent_id == agent.pk:
        return found
    return None


def interaction_end_as_party(
    agent: Agent,
    interaction_id: int,
    *,
    how: str,
    workbin: str | None,
    actor: Any,
    request_id: str,
) -> Interaction:
    """``POST /interactions/{id}/end/``: the agent's own interaction (``interaction_end``), or
    a consultation they started, which they may end as its teammate may."""
    # Not a query up front (ending is a hot path): interaction_end answers 404 before it takes
    # a lock or writes anything when the interaction is not the agent's own.
    try:
        return interaction_end(
            agent, interaction_id, how=how, workbin=workbin, actor=actor, request_id=request_id
        )
    except NotFound:
        return consultation_end(
            agent, interaction_id, how=how, workbin=workbin, actor=actor, request_id=request_id
        )


def consultation_end(
    agent: Agent,
    interaction_id: int,
    *,
    how: str,
    workbin: str | None,
    actor: Any,
    request_id: str,
) -> Interaction:
    """The initiator ends the consultation ``interaction_id`` they started (404 for anything
    else). Ends it as the teammate's own end would: the teammate's channel follows its
    after-work rules (``acw_after_assist``), under the teammate's lock.

    Locks the initiator's and the teammate's Agent rows, ascending id (as ending the parent
    does), then the child row; a consultation has no children of its own.
    """
    child = (
        Interaction.objects.filter(pk=interaction_id, **started_by(agent))
        .only("pk", "agent_id", "channel_id")
        .first()
    )
    if child is None:
        raise NotFound("not_found", "No such interaction.")
    end_event(child.channel_id, how, workbin)  # voice and chat: no workbin ever applies
    with transaction.atomic():
        sessions = lock_sessions([agent.pk, child.agent_id], actor=actor, request_id=request_id)
        mate = sessions[child.agent_id]
        # The teammate cannot change (a child is never reassigned); the state can.
        child = Interaction.objects.select_for_update().get(pk=interaction_id)
        child.agent = mate.agent
        transition(child, "end", how, None, mate.now)
        after_work_ended(mate, child, how)
        return child
