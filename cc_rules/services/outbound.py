"""Outbound party action (R10), click-to-contact (R11), consultation and conference (R6).

Lock order (DECISIONS.md): Agent rows first, ascending id (a consultation locks both agents);
then channel states and interactions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules import metrics
from cc_rules.choices import Direction, InteractionState, Kind
from cc_rules.engine import contact_points, decide, reasons
from cc_rules.models import Agent, Contact, Interaction

from . import contact_points as points
from .errors import Forbidden, Invalid, NotFound, Refused
from .sessions import Session, lock_sessions
from .work import create, own, refused

OUTBOUND_CHANNELS = {"voice": "phone", "email": "email"}
ASSIST_CHANNELS = ("voice", "chat")  # consultation and conference (the seed names these two)


# -- outbound party action (R10) and click-to-contact (R11) ----------------------------------------
def start_outbound(
    agent: Agent,
    *,
    channel: str,
    contact: Contact | None,
    to: str | None,
    parent_id: int | None,
    actor: Any,
    request_id: str,
) -> Interaction:
    """Start a call or e-mail to a contact (R10), subject to the same decision as any work.

    Outbound needs visibility (else 404) and login on the channel, and obeys the caps and
    blocking pairs, but not ``ready``. A ``parent`` must be the agent's own and still
    ``active`` (else 409 ``parent_not_active``). ``to`` is one of the contact's phone numbers or
    e-mail addresses on file (default: the first), compared normalised (``030 98765432`` is
    ``+493098765432``), or one the contact wrote in the parent's transcript, which the engine's
    ``click_to_contact`` must allow (R11). Locks the agent's row.
    """
    kind = OUTBOUND_CHANNELS.get(channel)
    if kind is None:
        raise Invalid(
            "invalid",
            "Outbound work is a call (voice) or an e-mail.",
            None,
            fields={"channel": ["not_outbound"]},
        )
    with transaction.atomic():
        sess = lock_sessions([agent.pk], actor=actor, request_id=request_id)[agent.pk]
        if channel not in sess.rules.visible:
            raise NotFound("not_found", f"No channel {channel!r} for this agent.")
        parent = None
        if parent_id is not None:
            parent = Interaction.objects.filter(pk=parent_id, agent=sess.agent).first()
            if parent is None:
                raise NotFound("not_found", "No such parent interaction.")
            gate = contact_points.party_action_parent(parent.state)
            if not gate.allowed:
                raise Refused(
                    gate.code,
                    f"Interaction {parent.pk} is {parent.state}; a party action needs it active.",
                    gate.rule,
                )
            if contact is None:
                contact = parent.contact
            elif parent.contact_id not in (None, contact.pk):
                raise Invalid(
                    "invalid",
                    "The parent is another contact's.",
                    None,
                    fields={"parent": ["other_contact"]},
                )
        if contact is None:
            raise Invalid(
                "invalid", "Name the contact (or a parent).", None, fields={"contact": ["required"]}
            )
        to = _address(sess, contact, parent, kind, to)
        decision = decide.may_take_work(sess.rules, sess.live, channel, outbound=True)
        metrics.count_decision("outbound", decision.code, decision.rule)
        if not decision.allowed:
            raise refused(decision, str(sess.agent), channel)
        return create(
            sess,
            channel=channel,
            contact=contact,
            direction=Direction.OUTBOUND,
            state=InteractionState.ACTIVE,
            parent=parent,
            to_address=to,
        )


def _address(
    sess: Session, contact: Contact, parent: Interaction | None, kind: str, to: str | None
) -> str:
    """The address to call or write: on file (R10) or written by the contact (R11)."""
    on_file = points.on_file(contact, kind)
    if to is None:
        if not on_file:
            raise Invalid(
                "invalid",
                f"{contact} has no {kind} on file.",
                None,
                fields={"to": ["none_on_file"]},
            )
        return on_file[0][0]
    wanted = points.normalise(kind, to)
    exact = next((value for value, _ in on_file if value == to), None)
    found = exact or (contact_points.match(wanted, on_file) if wanted else None)
    if found is not None:
        return found
    if parent is None or wanted is None:
        raise Invalid(
            "invalid",
            f"{to!r} is not on file for this contact.",
            None,
            fields={"to": ["not_on_file"]},
        )
    if contact_points.match(wanted, points.written_by_contact(parent)) is None:
        raise Invalid(
            "invalid",
            f"{to!r} is neither on file nor in the contact's messages.",
            None,
            fields={"to": ["not_on_file"]},
        )
    decision = contact_points.click_to_contact(sess.rules, sess.live, wanted)
    if not decision.allowed:
        detail = f"{sess.agent} may not use {wanted.value}: {decision.code}."
        raise Refused(decision.code, detail, decision.rule)
    return wanted.value


# -- consultation and conference (R6) --------------------------------------------------------------
def start_assist(
    agent: Agent,
    interaction_id: int,
    *,
    kind: str,
    to: Agent,
    actor: Any,
    request_id: str,
) -> Interaction:
    """Open a consultation or conference child for a teammate on an active voice/chat parent.

    The teammate must see the channel, be logged in and not in DND; they need not be ready.
    By default the child takes a slot of the teammate's cap (``consult_takes_slot``).
    """
    if to.pk == agent.pk:
        raise Invalid(
            "invalid",
            "Consult or conference a teammate, not yourself.",
            None,
            fields={"to": ["self"]},
        )
    if not Interaction.objects.filter(pk=interaction_id, agent=agent).exists():
        raise NotFound("not_found", "No such interaction.")
    with transaction.atomic():
        sessions = lock_sessions([agent.pk, to.pk], actor=actor, request_id=request_id)
        sess, mate = sessions[agent.pk], sessions[to.pk]
        parent = own(sess, interaction_id)
        if parent.channel_id not in ASSIST_CHANNELS:
            raise Invalid(
                "invalid",
                "Consultation and conference are for voice and chat.",
                None,
                fields={"channel": ["not_assist"]},
            )
        if parent.state != InteractionState.ACTIVE or parent.kind != Kind.NORMAL:
            raise Refused(
                reasons.INVALID_TRANSITION, "Only an active interaction can be assisted.", None
            )
        takes_slot = mate.rules.setting("consult_takes_slot")
        decision = decide.may_take_work(
            mate.rules, mate.live, parent.channel_id, assist=True, counts=bool(takes_slot.value)
        )
        metrics.count_decision("assist", decision.code, decision.rule)
        if not decision.allowed:
            raise refused(decision, str(mate.agent), parent.channel_id)
        return create(
            mate,
            channel=parent.channel_id,
            contact=parent.contact,
            direction=parent.direction,
            state=InteractionState.OFFERED,
            kind=kind,
            parent=parent,
            counts=bool(takes_slot.value),
        )


def assert_agent(user_agent: Agent | None, named: Agent | None) -> None:
    """An agent may name only themself as ``agent`` of outbound work (DECISIONS.md)."""
    if named is not None and (user_agent is None or named.pk != user_agent.pk):
        raise Forbidden("forbidden", "An agent may start outbound work only for themself.")
