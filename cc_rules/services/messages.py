"""Chat transcripts (R5) and the contact points found in them (R11).

Who may read and write a transcript (DECISIONS.md, "Consultation and conference" and
"Combinations"): the handling agent on their own interaction; both agents of a consultation
(the teammate who handles it and the initiator, the agent of its parent); the router account,
writing the contact's side, on anything but a consultation (404: the contact never sees one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from cc_rules.choices import InteractionState, Kind
from cc_rules.engine import contact_points as engine
from cc_rules.engine import reasons
from cc_rules.models import Agent, Interaction, Message

from . import contact_points as points
from .consultation import party_interaction
from .errors import Invalid, NotFound, Refused
from .sessions import lock_sessions

TEXT_CHANNELS = ("chat", "facebook", "twitter")


@dataclass(frozen=True)
class Access:
    """How the caller reaches an interaction's transcript: as a party agent or the contact."""

    interaction: Interaction
    contact_side: bool


def _access(interaction_id: int, *, agent: Agent | None, router: bool) -> Access:
    """The interaction and the side the caller writes; 404 where they have no part in it.

    An agent who is a party writes as themself even with the router group; the router account
    writes the contact's side on any interaction but a consultation."""
    found = party_interaction(interaction_id, agent)
    if found is not None:
        return Access(found, contact_side=False)
    if router:
        found = Interaction.objects.filter(pk=interaction_id).first()
        if found is not None and found.kind != Kind.CONSULTATION:
            return Access(found, contact_side=True)
    raise NotFound("not_found", "No such interaction.")


def _text_channel(interaction: Interaction) -> None:
    if interaction.channel_id not in TEXT_CHANNELS:
        raise Invalid(
            "invalid",
            f"{interaction.channel_id} interactions have no chat transcript.",
            None,
            fields={"text": ["no_transcript"]},
        )


def transcript(interaction_id: int, *, agent: Agent | None, router: bool) -> QuerySet[Message]:
    """The messages the caller may read on ``interaction_id``, oldest first: a conference
    shows its parent's transcript; a consultation only its own (never the contact's, and the
    contact's never shows it)."""
    access = _access(interaction_id, agent=agent, router=router)
    _text_channel(access.interaction)
    return Message.objects.filter(
        interaction_id=points.transcript_of(access.interaction)
    ).select_related("author")


def post_message(
    interaction_id: int,
    *,
    text: str,
    agent: Agent | None,
    router: bool,
    actor: Any,
    request_id: str,
) -> tuple[Message, list[dict[str, Any]]]:
    """Keep a chat message in the transcript and list the contact points it offers.

    Only a message the contact wrote (the router's) offers points (R11: never the agent's
    own), each with ``allowed``/``code``/``rule`` from the engine's ``click_to_contact`` for the
    handling agent now. Locks the handling agent's row, then the interaction.
    """
    access = _access(interaction_id, agent=agent, router=router)
    interaction = access.interaction
    _text_channel(interaction)
    with transaction.atomic():
        sess = lock_sessions([interaction.agent_id], actor=actor, request_id=request_id)[
            interaction.agent_id
        ]
        interaction = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if interaction.state != InteractionState.ACTIVE:
            raise Refused(
                reasons.INVALID_TRANSITION,
                f"Interaction {interaction.pk} is {interaction.state}; messages need it active.",
                None,
            )
        message = Message.objects.create(
            interaction_id=points.transcript_of(interaction),
            author=None if access.contact_side else actor,
            text=text,
            created_at=sess.now,
        )
        offered = []
        if access.contact_side:
            for point in points.points_in(text):
                decision = engine.click_to_contact(sess.rules, sess.live, point)
                offered.append({"kind": point.kind, "value": point.value} | decision.as_dict())
        return message, offered
