"""Interactions: offers and routing (R4, R9), accept/reject, end (R8, R14), done (R13), close
(R12), party action (R10), consultation and conference (R6), chat messages (R11).

Lock order (DECISIONS.md): Agent rows first, ascending id (forwarding and consultation lock
two); then channel states and interactions. Admission is decided by the engine and recorded in
the same transaction under the agent's lock, so parallel offers can never exceed a cap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django_fsm import TransitionNotAllowed

from cc_rules import rows
from cc_rules.choices import Cause, Direction, InteractionState, Kind, Status
from cc_rules.engine import decide, reasons
from cc_rules.engine.types import Decision, Target
from cc_rules.models import Agent, AgentChannelState, Contact, Interaction, Workbin
from cc_rules.selectors import locked_agents, open_children_locked, own_interaction

from . import timers
from .errors import Forbidden, Invalid, NotFound, Refused
from .sessions import Session, lock_agents, session_for
from .status import apply_status

OUTBOUND_CHANNELS = {"voice": "phone", "email": "email"}
OPEN_CHILD_STATES = (InteractionState.OFFERED, InteractionState.ACTIVE)  # end with the parent
ASSIST_CHANNELS = ("voice", "chat")  # consultation and conference (the seed names these two)
ROUTE_FIRST, ROUTE_MAX = 20, 200  # routing: candidates read first, and at most


def _refuse(decision: Decision, who: str, channel: str) -> Refused:
    return Refused(
        decision.code, f"{who} cannot take new {channel} work: {decision.code}.", decision.rule
    )


def _sessions(agent_ids: list[int], *, actor: Any, request_id: str) -> dict[int, Session]:
    """Lock the agents in id order and open one session each, sharing one ``now``."""
    locked = lock_agents(agent_ids)
    missing = set(agent_ids) - set(locked)
    if missing:
        raise NotFound("not_found", "No such agent.")
    sessions: dict[int, Session] = {}
    now = None
    for agent_id in sorted(locked):
        sess = session_for(locked[agent_id], actor=actor, request_id=request_id, now=now)
        now = sess.now
        sessions[agent_id] = sess
    return sessions


def _create(
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
        timers.schedule_offer_expiry(interaction)
    sess.work_changed()
    return interaction


# -- inbound offers and routing ------------------------------------------------------------------
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

    A voice offer to an extension that forwards (R4) goes to the target's agent if the target
    may take it, recorded with ``forwarded_from``; else 409 ``forward_target_unavailable``.
    """
    if channel == "im":
        raise Invalid(
            "invalid", "IM is not routed work; use /im/.", None, fields={"channel": ["im"]}
        )
    if extension is not None and agent is None:
        agent = Agent.objects.filter(extension=extension, is_active=True).first()
        if agent is None:
            raise NotFound("not_found", f"No agent has extension {extension}.")
    if agent is not None:
        return _offer_to(agent, channel, contact, actor=actor, request_id=request_id)
    return _route(channel, contact, actor=actor, request_id=request_id)


def _offer_to(
    agent: Agent, channel: str, contact: Contact | None, *, actor: Any, request_id: str
) -> Interaction:
    with transaction.atomic():
        target_id = None
        if channel == "voice" and agent.forward_to:
            target_id = (
                Agent.objects.filter(extension=agent.forward_to, is_active=True)
                .values_list("pk", flat=True)
                .first()
            )
            if target_id is None:
                raise Refused(
                    reasons.FORWARD_TARGET_UNAVAILABLE,
                    f"{agent} forwards to {agent.forward_to}, which no agent has.",
                    decide.FORWARD_RULE,
                )
        ids = [agent.pk] + ([target_id] if target_id else [])
        sessions = _sessions(ids, actor=actor, request_id=request_id)
        sess = sessions[agent.pk]
        forwarded_from = None
        if target_id is not None and sess.agent.forward_to:
            # Re-checked under the lock: forwarding may have changed since we looked.
            forwarded_from = sess.agent.extension
            sess = sessions[target_id]
            decision = decide.may_take_work(sess.rules, sess.live, channel)
            if not decision.allowed:
                raise Refused(
                    reasons.FORWARD_TARGET_UNAVAILABLE,
                    f"Forward target {sess.agent} cannot take the call: {decision.code}.",
                    decision.rule,
                )
        else:
            decision = decide.may_take_work(sess.rules, sess.live, channel)
            if not decision.allowed:
                raise _refuse(decision, str(sess.agent), channel)
        return _create(
            sess,
            channel=channel,
            contact=contact,
            direction=Direction.INBOUND,
            state=InteractionState.OFFERED,
            forwarded_from=forwarded_from,
        )


def _route(channel: str, contact: Contact | None, *, actor: Any, request_id: str) -> Interaction:
    """Longest-idle routing: ready agents on the channel ordered by ``idle_since``, then id.

    Each candidate is locked and decided in its own short transaction. A first pass skips an
    agent whose row another request holds right now (``SKIP LOCKED``), so one busy agent does
    not stall the offer while others are free; before answering ``no_eligible_agent`` a second
    pass waits for the skipped ones in turn, because a busy agent may still be eligible (the
    lock is held only for one short service call). Agents who forward calls are not picked
    for voice.
    """
    candidates = (
        AgentChannelState.objects.filter(
            channel_id=channel,
            status=Status.READY,
            agent__is_active=True,
            agent__dnd=False,
            pending_status__isnull=True,
        )
        .order_by("idle_since", "agent_id")
        .values_list("agent_id", flat=True)
    )
    if channel == "voice":
        candidates = candidates.filter(agent__forward_to__isnull=True)
    busy: list[int] = []
    # The first few candidates almost always include an eligible one: read 200 ids only if
    # they do not (with 10,000 agents ready, reading 200 costs more than the offer itself).
    for batch in (candidates[:ROUTE_FIRST], candidates[ROUTE_FIRST:ROUTE_MAX]):
        for agent_id in list(batch):
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
    """Lock one candidate and offer if the engine allows: the Interaction, ``_BUSY`` or None."""
    with transaction.atomic():
        found = locked_agents([agent_id], skip_locked=not wait)
        locked = found[0] if found else None
        if locked is None:
            return None if wait else _BUSY
        sess = session_for(locked, actor=actor, request_id=request_id)
        if not decide.may_take_work(sess.rules, sess.live, channel).allowed:
            return None
        return _create(
            sess,
            channel=channel,
            contact=contact,
            direction=Direction.INBOUND,
            state=InteractionState.OFFERED,
        )


# -- the agent's own interactions ----------------------------------------------------------------
def _own(sess: Session, interaction_id: int) -> Interaction:
    interaction, _ = own_interaction(interaction_id, sess.agent, lock=True)
    if interaction is None:
        raise NotFound("not_found", "No such interaction.")
    return interaction


def _transition(interaction: Interaction, name: str, *args: Any) -> None:
    try:
        getattr(interaction, name)(*args)
    except TransitionNotAllowed:
        raise Refused(
            reasons.INVALID_TRANSITION,
            f"Interaction {interaction.pk} is {interaction.state}; it cannot be {name}ed.",
            None,
        ) from None
    rows.update(interaction)  # interaction.save() without the ORM's SQL building


def _own_session(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> tuple[Session, Interaction]:
    """Lock the agent, then their interaction (404 if it is not theirs). Inside atomic()."""
    sess = _sessions([agent.pk], actor=actor, request_id=request_id)[agent.pk]
    return sess, _own(sess, interaction_id)


def _land(
    sess: Session, state: AgentChannelState, target: Target, *, interaction_id: int | None
) -> None:
    """Move a channel to the engine's target; a pending status the target consumes is cleared."""
    if target.from_pending:
        state.clear_pending()
    apply_status(
        sess,
        state,
        target.status,
        target.reason,
        cause=target.cause,
        rule=target.rule,
        interaction_id=interaction_id,
    )


def interaction_accept(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    with transaction.atomic():
        sess, interaction = _own_session(agent, interaction_id, actor=actor, request_id=request_id)
        _transition(interaction, "accept", sess.now)
        return interaction


def interaction_reject(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Reject an offer; its slot is free again at once."""
    with transaction.atomic():
        sess, interaction = _own_session(agent, interaction_id, actor=actor, request_id=request_id)
        _transition(interaction, "reject", sess.now)
        _after_offer_withdrawn(sess, interaction)
        return interaction


def _after_offer_withdrawn(sess: Session, interaction: Interaction) -> None:
    """R8: a status held only for an offer that was rejected or missed applies now."""
    live = sess.refresh_live()
    state = sess.states.get(interaction.channel_id)
    if state is None:
        return
    channel = live.channel(interaction.channel_id)
    target = decide.offer_withdrawn(sess.rules, channel, was_last=channel.open_work == 0)
    if target is not None:
        _land(sess, state, target, interaction_id=interaction.pk)
        sess.states_changed()


def interaction_end(
    agent: Agent,
    interaction_id: int,
    *,
    how: str,
    workbin: str | None,
    actor: Any,
    request_id: str,
) -> Interaction:
    """End an active interaction ``how`` it ended; open children end with it.

    When it was the channel's last open work: ACW starts if the rule says so (R14; a held
    pending status then waits for ACW to end), else a pending status released by ``how`` is
    applied (R8, cause ``pending_released``).
    """
    target, has_open_children = own_interaction(interaction_id, agent, children=OPEN_CHILD_STATES)
    if target is None:
        raise NotFound("not_found", "No such interaction.")
    if not decide.valid_end_event(target.channel_id, how):
        raise Invalid(
            "invalid",
            f"{how!r} does not end {target.channel_id} work.",
            None,
            fields={"how": ["invalid_for_channel"]},
        )
    bin_row = None
    if how == "workbin":
        if not workbin:
            raise Invalid("invalid", "Name the workbin.", None, fields={"workbin": ["required"]})
        bin_row = Workbin.objects.filter(name=workbin, channels=target.channel_id).first()
        if bin_row is None:
            raise Invalid(
                "invalid",
                f"No workbin {workbin!r} for {target.channel_id}.",
                None,
                fields={"workbin": ["unknown"]},
            )
    elif workbin:
        raise Invalid(
            "invalid",
            "A workbin only goes with how=workbin.",
            None,
            fields={"workbin": ["unexpected"]},
        )
    # Teammates' rows are locked with ours, in id order, so their agents are read first. A
    # child is only made under our own lock, which we do not hold yet: if one appears in
    # between, the under-lock read below sees it and we start over with its agent.
    child_agents = (
        set(
            Interaction.objects.filter(
                parent_id=target.pk, state__in=OPEN_CHILD_STATES
            ).values_list("agent_id", flat=True)
        )
        if has_open_children
        else set()
    )
    for _attempt in range(3):
        with transaction.atomic():
            sessions = _sessions([agent.pk, *child_agents], actor=actor, request_id=request_id)
            children = open_children_locked(interaction_id, OPEN_CHILD_STATES)
            if {c.agent_id for c in children} <= sessions.keys():
                return _end_locked(sessions, agent, interaction_id, children, how, bin_row)
        child_agents |= {c.agent_id for c in children}
    raise Refused(
        reasons.REQUEST_IN_PROGRESS,
        "Teammates kept joining this interaction; try again.",
        None,
    )


def _end_locked(
    sessions: dict[int, Session],
    agent: Agent,
    interaction_id: int,
    children: list[Interaction],
    how: str,
    bin_row: Workbin | None,
) -> Interaction:
    """``interaction_end`` under the locks of the agent and every teammate with open work in it."""
    sess = sessions[agent.pk]
    interaction = _own(sess, interaction_id)
    _transition(interaction, "end", how, bin_row, sess.now)
    for child in children:
        child_sess = sessions[child.agent_id]
        if child.state == InteractionState.OFFERED:
            # Never taken: like an expired offer, no wrap-up follows for the teammate.
            _transition(child, "miss", child_sess.now)
            _after_offer_withdrawn(child_sess, child)
        else:
            _transition(child, "end", how, None, child_sess.now)
            _after_work_ended(child_sess, child, how)
    _after_work_ended(sess, interaction, how)
    return interaction


def _after_work_ended(sess: Session, interaction: Interaction, how: str) -> None:
    """R8/R14: act on the channel when its last open interaction has ended."""
    live = sess.refresh_live()
    channel = interaction.channel_id
    state = sess.states.get(channel)
    if state is None:
        return
    was_last = live.channel(channel).open_work == 0
    outcome = decide.work_ended(sess.rules, live.channel(channel), how, was_last=was_last)
    if outcome.start_acw and state.status == Status.AFTER_CALL_WORK:
        # Work started during ACW (outbound) ended: wrap-up starts over for it, no new row.
        state.clear_wrap_up()
        state.wrap_up_interaction = interaction
        if outcome.acw_seconds:
            state.wrap_up_deadline = sess.now + timedelta(seconds=outcome.acw_seconds)
        state.save()
        if state.wrap_up_deadline is not None:
            timers.schedule_wrap_up(state)
    elif outcome.start_acw:
        apply_status(
            sess,
            state,
            Status.AFTER_CALL_WORK,
            None,
            cause=Cause.SYSTEM,
            rule=outcome.rule,
            interaction_id=interaction.pk,
        )
        state.wrap_up_interaction = interaction
        if outcome.acw_seconds:
            state.wrap_up_deadline = sess.now + timedelta(seconds=outcome.acw_seconds)
        state.save()
        if state.wrap_up_deadline is not None:
            timers.schedule_wrap_up(state)
    elif outcome.release is not None:
        _land(sess, state, outcome.release, interaction_id=interaction.pk)
    elif was_last and state.status == Status.READY:
        state.idle_since = sess.now
        rows.update(state)
    if was_last and channel not in sess.rules.visible and state.status != Status.LOGGED_OFF:
        # A channel the role no longer sees was kept for its open work only (DECISIONS.md).
        if state.pending_status:
            state.clear_pending()
        apply_status(
            sess,
            state,
            Status.LOGGED_OFF,
            None,
            cause=Cause.SYSTEM,
            rule=decide.VISIBILITY_LOST_RULE,
            interaction_id=interaction.pk,
        )
    sess.states_changed()


def interaction_done(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Mark done (R12). On a channel in ACW the status-after-done rule applies (R13)."""
    with transaction.atomic():
        sess, interaction = _own_session(agent, interaction_id, actor=actor, request_id=request_id)
        _transition(interaction, "mark_done", sess.now)
        state = sess.states.get(interaction.channel_id)
        if state is not None and state.status == Status.AFTER_CALL_WORK:
            leave_wrap_up(sess, state, "done", interaction_id=interaction.pk)
        return interaction


def leave_wrap_up(
    sess: Session, state: AgentChannelState, trigger: str, *, interaction_id=None
) -> bool:
    """Apply the engine's ACW exit for ``trigger`` ("timer" or "done"). True if the status moved."""
    exit_ = decide.acw_exit(sess.rules, sess.live.channel(state.channel_id), trigger)
    if exit_.target is None:
        if exit_.cancel_deadline and state.wrap_up_deadline is not None:
            state.clear_wrap_up()
            state.save()
        return False
    if exit_.target.status == Status.AFTER_CALL_WORK:  # a pending ACW cannot be asked for
        return False
    _land(sess, state, exit_.target, interaction_id=interaction_id)
    return True


def interaction_close(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Close; refused with ``mark_done_required`` before done where the rule says so (R12)."""
    with transaction.atomic():
        sess, interaction = _own_session(agent, interaction_id, actor=actor, request_id=request_id)
        if interaction.state == InteractionState.ENDED:
            ok, rule = decide.may_close(sess.rules, interaction.channel_id, done=False)
            if not ok:
                raise Refused(
                    reasons.MARK_DONE_REQUIRED,
                    f"Mark interaction {interaction.pk} done before closing it.",
                    rule,
                )
        _transition(interaction, "close", sess.now)
        return interaction


def wrap_up_extend(agent: Agent, interaction_id: int, *, actor: Any, request_id: str):
    """Extend ACW indefinitely where the rule allows (R15): the deadline is cleared."""
    with transaction.atomic():
        sess, interaction = _own_session(agent, interaction_id, actor=actor, request_id=request_id)
        state = sess.states.get(interaction.channel_id)
        if state is None or state.status != Status.AFTER_CALL_WORK:
            raise Refused(
                reasons.INVALID_TRANSITION,
                f"The {interaction.channel_id} channel is not in after-call work.",
                None,
            )
        allowed, rule = decide.may_extend_wrap_up(sess.rules, interaction.channel_id)
        if not allowed:
            raise Refused(reasons.WRAP_UP_NOT_EXTENDABLE, "Wrap-up cannot be extended here.", rule)
        if not state.wrap_up_extended:
            interaction_ref = state.wrap_up_interaction_id
            state.clear_wrap_up()
            state.wrap_up_interaction_id = interaction_ref
            state.wrap_up_extended = True
            state.save()
        return sess, state


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
    blocking pairs, but not ``ready``. ``to`` must be one of the contact's phone numbers or
    e-mail addresses on file (default: the first), or one found in the parent chat's
    transcript when click-to-contact is allowed (R11).
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
        sess = _sessions([agent.pk], actor=actor, request_id=request_id)[agent.pk]
        if channel not in sess.rules.visible:
            raise NotFound("not_found", f"No channel {channel!r} for this agent.")
        parent = None
        if parent_id is not None:
            parent = Interaction.objects.filter(pk=parent_id, agent=sess.agent).first()
            if parent is None:
                raise NotFound("not_found", "No such parent interaction.")
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
        points = list(contact.points.filter(kind=kind).values_list("value", flat=True))
        if to is None:
            if not points:
                raise Invalid(
                    "invalid",
                    f"{contact} has no {kind} on file.",
                    None,
                    fields={"to": ["none_on_file"]},
                )
            to = points[0]
        elif to not in points:
            _check_click_to_contact(sess, parent, kind, to)
        decision = decide.may_take_work(sess.rules, sess.live, channel, outbound=True)
        if not decision.allowed:
            raise _refuse(decision, str(sess.agent), channel)
        return _create(
            sess,
            channel=channel,
            contact=contact,
            direction=Direction.OUTBOUND,
            state=InteractionState.ACTIVE,
            parent=parent,
            to_address=to,
        )


def _check_click_to_contact(sess: Session, parent: Interaction | None, kind: str, to: str) -> None:
    from .messages import contact_points_in  # local: messages imports this module's helpers

    if parent is None:
        raise Invalid(
            "invalid",
            f"{to!r} is not on file for this contact.",
            None,
            fields={"to": ["not_on_file"]},
        )
    found = {
        (p["kind"], p["value"])
        for text in parent.messages.values_list("text", flat=True)
        for p in contact_points_in(text)
    }
    if (kind, to) not in found:
        raise Invalid(
            "invalid",
            f"{to!r} is neither on file nor in the chat.",
            None,
            fields={"to": ["not_on_file"]},
        )
    rule = sess.rules.setting("click_to_contact")
    if not rule.value:
        raise Refused(
            reasons.CLICK_TO_CONTACT_DISABLED, "Click-to-contact is off for this agent.", rule.ref
        )


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
        sessions = _sessions([agent.pk, to.pk], actor=actor, request_id=request_id)
        sess, mate = sessions[agent.pk], sessions[to.pk]
        parent = _own(sess, interaction_id)
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
        if not decision.allowed:
            raise _refuse(decision, str(mate.agent), parent.channel_id)
        return _create(
            mate,
            channel=parent.channel_id,
            contact=parent.contact,
            direction=parent.direction,
            state=InteractionState.OFFERED,
            kind=kind,
            parent=parent,
            counts=bool(takes_slot.value),
        )


# -- offer expiry (timers) ------------------------------------------------------------------------
def offer_expire(interaction_id: int, version: int) -> bool:
    """An offer not accepted by its deadline is missed; its slot is freed (DECISIONS.md).

    Returns True when it fired. Stale (version moved, no longer offered, not yet due): no-op.
    Where ``missed_offer_not_ready`` is on, a ready channel goes to not_ready/missed_offer.
    """
    agent_id = (
        Interaction.objects.filter(pk=interaction_id).values_list("agent_id", flat=True).first()
    )
    if agent_id is None:
        return False
    with transaction.atomic():
        sess = _sessions([agent_id], actor=None, request_id="")[agent_id]
        interaction = Interaction.objects.select_for_update().filter(pk=interaction_id).first()
        if (
            interaction is None
            or interaction.state != InteractionState.OFFERED
            or interaction.offer_version != version
            or interaction.offer_deadline is None
            or interaction.offer_deadline > sess.now
        ):
            return False
        interaction.miss(sess.now)
        interaction.save()
        _after_offer_withdrawn(sess, interaction)
        rule = sess.rules.setting("missed_offer_not_ready")
        state = sess.states.get(interaction.channel_id)
        if rule.value and state is not None and state.status == Status.READY:
            apply_status(
                sess,
                state,
                Status.NOT_READY,
                reasons.SYSTEM_MISSED_OFFER,
                cause=Cause.SYSTEM,
                rule=rule.ref,
                interaction_id=interaction.pk,
            )
        return True


def assert_agent(user_agent: Agent | None, named: Agent | None) -> None:
    """An agent may name only themself as ``agent`` of outbound work (DECISIONS.md)."""
    if named is not None and (user_agent is None or named.pk != user_agent.pk):
        raise Forbidden("forbidden", "An agent may start outbound work only for themself.")
