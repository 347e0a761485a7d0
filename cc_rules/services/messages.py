"""Chat transcripts (R5) and the contact points found in them (R11)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules.choices import InteractionState, Kind
from cc_rules.engine import decide, reasons
from cc_rules.models import Agent, Interaction, Message

from .contact_points import contact_points_in
from .errors import Invalid, NotFound, Refused
from .sessions import lock_sessions

TEXT_CHANNELS = ("chat", "facebook", "twitter")


def post_message(
    interaction_id: int,
    *,
    text: str,
    agent: Agent | None,
    router: bool,
    actor: Any,
    request_id: str,
) -> tuple[Message, list[dict[str, Any]]]:
    """Keep a chat message in the transcript and say which contact points the agent may use.

    The handling agent writes on their own interaction; the router account writes the
    contact's side. A conference shares the parent's transcript; a consultation keeps its
    messages to itself, never in the contact's transcript.
    """
    query = Interaction.objects.filter(pk=interaction_id)
    if not router:
        query = query.filter(agent=agent)
    interaction = query.select_related("parent").first()
    if interaction is None:
        raise NotFound("not_found", "No such interaction.")
    if interaction.channel_id not in TEXT_CHANNELS:
        raise Invalid(
            "invalid",
            f"{interaction.channel_id} interactions have no chat transcript.",
            None,
            fields={"text": ["no_transcript"]},
        )
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
        transcript = interaction
        if interaction.kind == Kind.CONFERENCE and interaction.parent_id:
            transcript = interaction.parent
        message = Message.objects.create(
            interaction=transcript,
            author=actor if not router else None,
            text=text,
            created_at=sess.now,
        )
        points = []
        c2c = sess.rules.setting("click_to_contact")
        for point in contact_points_in(text):
            channel = "voice" if point["kind"] == "phone" else "email"
            if not c2c.value:
                allowed, code, rule = False, reasons.CLICK_TO_CONTACT_DISABLED, c2c.ref
            else:
                decision = decide.may_take_work(sess.rules, sess.live, channel, outbound=True)
                allowed, code, rule = decision.allowed, decision.code, decision.rule
            points.append(
                {**point, "allowed": allowed, "code": code, "rule": str(rule) if rule else None}
            )
        return message, points
