"""Offers and routing: to a named agent or extension (R4 forwarding), or routed to the eligible
agent with the fewest open interactions on the channel, then the longest idle (R9; DECISIONS.md
"Routing spreads work"); accept, reject, and expiry of an offer nobody took. An agent who
rejects or misses an offer goes to the back of the idle order (``idle_since`` = then).

Lock order (DECISIONS.md): Agent rows first, ascending id (forwarding locks two); then channel
states and interactions. Admission is decided by the engine and recorded in the same
transaction under the agent's lock, so parallel offers can never exceed a cap.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules import metrics, selectors
from cc_rules.choices import Direction, InteractionState, Status
from cc_rules.engine import decide, forwarding, reasons
from cc_rules.models import Agent, Contact, Interaction

from . import ledger
from .errors import Invalid, NotFound, Refused
from .sessions import Session, lock_sessions, session_for
from .work import create, own_session, refused, transition

ROUTE_FIRST, ROUTE_MAX = 20, 200  # routing: candidates read first, and at most


def party(sess: Session) -> forwarding.Party:
    """The engine's view of a locked agent for an offer (R4)."""
    agent = sess.agent
    return forwarding.Party(agent.pk, agent.extension, agent.forward_to, sess.rules, sess.live)


def offer_inbound(
    *,
    channel: str,
    contact: Contact | None,
    agent: Agent | None,
    extension: str | None,
    actor: Any,
    request_id: str,
) -> Interaction:
    """Offer inbound work: to a named agent or extension, else to the longest-idle eligible one.

    Naming both ``agent`` and another agent's ``extension`` is 400 ``invalid``. A voice offer
    to an agent who forwards (R4) goes to the target if the engine allows
    (``forwarding.offer_to``), recorded with ``forwarded_from``; else 409
    ``forward_target_unavailable``.
    """
    if channel == "im":
        raise Invalid(
            "invalid", "IM is not routed work; use /im/.", None, fields={"channel": ["im"]}
        )
    if extension is not None:
        by_extension = selectors.agent_id_with_extension(extension)
        if by_extension is None:
            raise NotFound("not_found", f"No agent has extension {extension}.")
        if agent is not None and agent.pk != by_extension:
            raise Invalid(
                "invalid",
                f"Extension {extension} is not {agent}'s; name the agent or the extension.",
                None,
                fields={"extension": ["other_agent"]},
            )
        agent_id = by_extension
    else:
        agent_id = agent.pk if agent is not None else None
    if agent_id is not None:
        return _offer_to(agent_id, channel, contact, actor=actor, request_id=request_id)
    return _route(channel, contact, actor=actor, request_id=request_id)


def _offer_to(
    agent_id: int, channel: str, contact: Contact | None, *, actor: Any, request_id: str
) -> Interaction:
    """Lock the named agent and, for forwarded voice, the target, in id order; decide under
    the locks. The target is read again under the lock: if forwarding moved meanwhile, the
    locks are given up and taken again for the new target (at most three tries)."""
    target_id = None
    for _attempt in range(3):
        with transaction.atomic():
            sessions = lock_sessions(
                [agent_id] + ([target_id] if target_id else []),
                actor=actor,
                request_id=request_id,
            )
            named = sessions[agent_id]
            wanted = None
            if forwarding.forwards(party(named), channel):
                wanted = selectors.agent_id_with_extension(named.agent.forward_to)
            if wanted == target_id or wanted is None:
                target = sessions.get(target_id) if target_id else None
                outcome = forwarding.offer_to(
                    party(named), channel, party(target) if target else None
                )
                metrics.count_decision("offer", outcome.decision.code, outcome.decision.rule)
                if not outcome.decision.allowed:
                    if outcome.forwarded_to is not None:
                        who = sessions[target_id].agent if target_id else "no agent"
                        raise Refused(
                            reasons.FORWARD_TARGET_UNAVAILABLE,
                            f"{named.agent} forwards to {outcome.forwarded_to} ({who}), which "
                            f"cannot take the call: {outcome.target_code}.",
                            outcome.decision.rule,
                        )
                    raise refused(outcome.decision, str(named.agent), channel)
                forwarded_from = named.agent.extension if outcome.forwarded_to else None
                return _offered(sessions[outcome.agent_id], channel, contact, forwarded_from)
            # Forwarding moved since it was read: give up these locks (a savepoint rolled back
            # releases them too) before taking the new target's, never holding one while
            # waiting for another out of order.
            transaction.set_rollback(True)
        target_id = wanted
    raise Refused(reasons.REQUEST_IN_PROGRESS, "Forwarding kept changing; try again.", None)


def _offered(
    sess: Session, channel: str, contact: Contact | None, forwarded_from: str | None = None
) -> Interaction:
    """The new inbound offer to the locked ``sess.agent``."""
    return create(
        sess,
        channel=channel,
        contact=contact,
        direction=Direction.INBOUND,
        state=InteractionState.OFFERED,
        forwarded_from=forwarded_from,
    )


def _route(channel: str, contact: Contact | None, *, actor: Any, request_id: str) -> Interaction:
    """Routing spreads work (DECISIONS.md, "Combinations"; R9): candidates best first as
    ``selectors.routing_candidates`` orders them (fewest open interactions on the channel, then
    longest idle, then lower id), each locked and decided on its own.

    Locks (DECISIONS.md, "Engineering"; issue 12 item 6): at most one candidate's Agent row is
    held at a time, and none while waiting. Each try runs in its own ``atomic()``; a candidate
    not taken is given back at once by rolling that block back, which in PostgreSQL also
    releases a row lock taken inside it, so this holds when the block is only a savepoint of a
    request's transaction (``Idempotency-Key``, cc_rules/api/idempotency.py) too. The first pass
    never waits: an agent whose row another request holds right now is skipped (``SKIP
    LOCKED``) so one busy agent does not stall the offer while others are free; before
    answering ``no_eligible_agent`` a second pass waits for the skipped ones in turn (a busy
    agent may still be eligible: the lock is held for one short service call), holding no
    other agent's lock meanwhile, so two routed offers can never wait on each other.
    """
    busy: list[int] = []
    # Read lazily: the first few candidates almost always include an eligible one (with
    # 10,000 agents ready, reading 200 costs more than the offer itself).
    for batch in selectors.routing_candidates(channel, ROUTE_FIRST, ROUTE_MAX):
        for agent_id in batch:
            offered = _route_to(agent_id, channel, contact, actor, request_id, wait=False)
            if offered is _BUSY:
                busy.append(agent_id)
            elif offered is not None:
                return offered
    for agent_id in busy:
        offered = _route_to(agent_id, channel, contact, actor, request_id, wait=True)
        if isinstance(offered, Interaction):
            return offered
    raise Refused(reasons.NO_ELIGIBLE_AGENT, f"No agent may take {channel} work now.", None)


_BUSY = object()  # _route_to: the agent's row is locked by another request


def _route_to(
    agent_id: int, channel: str, contact: Contact | None, actor: Any, request_id: str, *, wait: bool
) -> Interaction | object | None:
    """Lock one candidate and offer if the engine allows: the Interaction, ``_BUSY`` or None.
    A candidate not taken is rolled back, so its row lock is released now (see ``_route``)."""
    with transaction.atomic():
        found = selectors.locked_agents([agent_id], skip_locked=not wait)
        locked = found[0] if found else None
        if locked is None:
            return None if wait else _BUSY
        sess = session_for(locked, actor=actor, request_id=request_id)
        decision = decide.may_take_work(sess.rules, sess.live, channel)
        metrics.count_decision("route", decision.code, decision.rule)
        if not decision.allowed:
            transaction.set_rollback(True)
            return None
        return _offered(sess, channel, contact)


# -- accept, reject, expiry ------------------------------------------------------------------
def interaction_accept(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Accept an offer. Past its deadline it is ``missed`` now (as the sweeper would have) and
    the answer is 409 ``offer_expired`` (DECISIONS.md, "Combinations"). The miss is committed
    (or, inside a request's transaction, kept) before the refusal is raised: a refusal that
    leaves a change behind, on purpose. The idempotency layer keeps a 4xx request's work for
    that reason (cc_rules/api/idempotency.py), so a keyed accept leaves the same miss."""
    expired = False
    with transaction.atomic():
        sess, interaction = own_session(agent, interaction_id, actor=actor, request_id=request_id)
        deadline = interaction.offer_deadline
        if (
            interaction.state == InteractionState.OFFERED
            and deadline is not None
            and deadline <= sess.now
        ):
            _miss(sess, interaction, by_rule=True)
            expired = True
        else:
            transition(interaction, "accept", sess.now)
    if expired:  # raised after commit: the miss stands
        raise Refused(
            reasons.OFFER_EXPIRED,
            f"Offer {interaction_id} expired at {deadline.isoformat()}; it is missed.",
            sess.rules.setting("offer_timeout_seconds").ref,
        )
    return interaction


def interaction_reject(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Reject an offer; its slot is free again at once."""
    with transaction.atomic():
        sess, interaction = own_session(agent, interaction_id, actor=actor, request_id=request_id)
        transition(interaction, "reject", sess.now)
        after_offer_withdrawn(sess, interaction)
        _to_the_back(sess, interaction)
        return interaction


def after_offer_withdrawn(sess: Session, interaction: Interaction) -> None:
    """R8/R1: a rejected or missed offer never became work; when it was the channel's last
    open work, a status held only for it applies now, or a channel the role no longer sees is
    logged off (``decide.offer_withdrawn``)."""
    live = sess.refresh_live()
    state = sess.states.get(interaction.channel_id)
    if state is None:
        return
    channel = live.channel(interaction.channel_id)
    target = decide.offer_withdrawn(sess.rules, channel, was_last=channel.open_work == 0)
    if target is not None:
        ledger.land(sess, state, target, interaction_id=interaction.pk)


def _miss(sess: Session, interaction: Interaction, *, by_rule: bool) -> None:
    """The offer is missed: slot freed, held status released, and the missed-offer rule."""
    transition(interaction, "miss", sess.now)
    after_offer_withdrawn(sess, interaction)
    state = sess.states.get(interaction.channel_id)
    if state is None:
        return
    target = decide.missed_offer(
        sess.rules, sess.live.channel(interaction.channel_id), by_rule=by_rule
    )
    if target is not None:
        ledger.land(sess, state, target, interaction_id=interaction.pk)
    _to_the_back(sess, interaction)


def _to_the_back(sess: Session, interaction: Interaction) -> None:
    """DECISIONS.md "Routing spreads work": an agent who rejects or misses an offer goes to the
    back of the idle order (``idle_since`` = the time of the reject or miss). Only a channel
    still ``ready`` needs it: one that left ``ready`` (missed-offer rule, a held status applied)
    gets a new ``idle_since`` when it is made ready again."""
    state = sess.states.get(interaction.channel_id)
    if state is not None and state.status == Status.READY and state.idle_since != sess.now:
        ledger.mark_idle(sess, state)


def offer_expire(interaction_id: int, version: int) -> bool:
    """An offer not accepted by its deadline is missed; its slot is freed (DECISIONS.md).

    Returns True when it fired. Stale (version moved, no longer offered, not yet due): no-op.
    An offer of a deactivated agent is missed without the missed-offer rule (deactivation
    normally does that itself; this is the sweeper never stalling on such a row).
    """
    agent_id = (
        Interaction.objects.filter(pk=interaction_id).values_list("agent_id", flat=True).first()
    )
    if agent_id is None:
        return False
    with transaction.atomic():
        agent = selectors.lock_agent_any(agent_id)
        if agent is None:
            return False
        sess = session_for(agent, actor=None, request_id="")
        interaction = Interaction.objects.select_for_update().filter(pk=interaction_id).first()
        if (
            interaction is None
            or interaction.state != InteractionState.OFFERED
            or interaction.offer_version != version
            or interaction.offer_deadline is None
            or interaction.offer_deadline > sess.now
        ):
            return False
        _miss(sess, interaction, by_rule=agent.is_active)
        return True
