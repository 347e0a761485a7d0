"""Status changes: login/logout (R2), per-channel status (R2, R7, R8), DND (R3), forwarding (R4),
supervisor overrides. Every function runs in one transaction under the agent's row lock and
writes one history row per change of status, DND or pending in that same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_fsm import TransitionNotAllowed

from cc_rules import rows
from cc_rules.choices import Cause, Event, Status
from cc_rules.engine import decide, reasons
from cc_rules.engine.types import RuleRef
from cc_rules.models import Agent, AgentChannelState

from .errors import Invalid, Refused
from .history import record
from .sessions import Session, lock_agents, open_session, session_for

LOGIN_RULE = decide.STATUS_RULE


# -- the two writers every status path goes through ---------------------------------------------
def apply_status(
    sess: Session,
    state: AgentChannelState,
    status: str,
    reason: str | None,
    *,
    cause: str,
    rule: RuleRef | str | None,
    interaction_id: int | None = None,
) -> None:
    """Move one channel to ``status`` through its FSM transition and record the row.

    Leaving ACW clears the wrap-up deadline and bumps its version (stale timers do nothing).
    """
    sess.before_change()
    old_status = state.status
    try:
        if status == Status.LOGGED_OFF and old_status != Status.LOGGED_OFF:
            state.log_off(sess.now)
        elif (
            status == Status.NOT_READY
            and old_status == Status.LOGGED_OFF
            and reason == reasons.SYSTEM_LOGIN
        ):
            # Only session_login names the system reason (clients cannot, check_reason): a
            # PUT of not_ready without a reason stays reasonless, so repeating it is a no-op.
            state.log_in(sess.now)
        elif status == Status.READY:
            state.make_ready(sess.now)
        elif status == Status.NOT_READY:
            state.make_not_ready(reason, sess.now)
        elif status == Status.AFTER_CALL_WORK:
            state.start_wrap_up(sess.now)
        else:
            raise TransitionNotAllowed(f"{old_status} → {status}")
    except TransitionNotAllowed:
        raise Refused(
            reasons.INVALID_TRANSITION,
            f"The {state.channel_id} channel cannot go from {old_status} to {status}.",
            rule,
        ) from None
    rows.update(state)  # state.save() without the ORM's SQL building (cc_rules/rows.py)
    record(
        sess.agent,
        sess.ctx,
        event=Event.STATUS,
        channel=state.channel_id,
        from_status=old_status,
        to_status=status,
        reason=reason,
        cause=cause,
        rule=rule,
        interaction_id=interaction_id,
    )


def set_pending(
    sess: Session,
    state: AgentChannelState,
    status: str | None,
    reason: str | None,
    *,
    cause: str,
    rule: RuleRef | str | None,
) -> None:
    """Hold (``status``) or clear (``None``) a pending status on one channel (R8), recorded."""
    sess.before_change()
    before = state.pending_status or ""
    if status is None:
        state.clear_pending()
    else:
        state.pending_status = status
        state.pending_reason = reason
        state.pending_requested_at = sess.now
    state.save(update_fields=["pending_status", "pending_reason", "pending_requested_at"])
    record(
        sess.agent,
        sess.ctx,
        event=Event.PENDING,
        channel=state.channel_id,
        from_status=before,
        to_status=status or "",
        reason=reason,
        cause=cause,
        rule=rule,
    )


# -- login / logout (R2) ------------------------------------------------------------------------
def session_login(
    agent_id: int, *, channels: list[str] | None, actor: Any, request_id: str
) -> Session:
    """Log into the given channels (default: all visible). Already logged in: a no-op.

    Login puts a channel in ``not_ready`` with the system reason ``login`` (DECISIONS.md).
    """
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        wanted = sorted(sess.rules.visible) if channels is None else list(dict.fromkeys(channels))
        states = [sess.state(code) for code in wanted]  # 404 for an invisible channel
        for state in states:
            if state.status == Status.LOGGED_OFF:
                apply_status(
                    sess,
                    state,
                    Status.NOT_READY,
                    reasons.SYSTEM_LOGIN,
                    cause=Cause.AGENT,
                    rule=LOGIN_RULE,
                )
        sess.states_changed()
        return sess


def session_logout(agent_id: int, *, actor: Any, request_id: str) -> Session:
    """Log off every channel; refused with ``active_interactions`` while any work is open."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        open_work = sum(c.open_work for c in sess.live.channels.values())
        if open_work:
            raise Refused(
                reasons.ACTIVE_INTERACTIONS,
                f"{open_work} interaction(s) still open; end them before logging out.",
                decide.STATUS_RULE,
            )
        for state in sess.states.values():
            if state.pending_status is not None:
                set_pending(sess, state, None, None, cause=Cause.AGENT, rule=decide.STATUS_RULE)
            if state.status != Status.LOGGED_OFF:
                apply_status(
                    sess, state, Status.LOGGED_OFF, None, cause=Cause.AGENT, rule=decide.STATUS_RULE
                )
        sess.states_changed()
        return sess


# -- per-channel status (R2, R7, R8) ------------------------------------------------------------
def _check_reason(sess: Session, status: str, reason: str | None) -> None:
    refusal = decide.check_reason(sess.rules, status, reason)
    if refusal is not None:
        code, rule = refusal
        detail = {
            reasons.REASON_REQUIRED: "A reason code is required for not_ready.",
            reasons.UNKNOWN_REASON: f"{reason!r} is not a reason code of this role"
            + (" (only not_ready takes a reason)." if status != Status.NOT_READY else "."),
        }[code]
        raise Invalid("invalid", detail, rule, fields={"reason": [code]})


def channel_set_status(
    agent_id: int,
    channel: str,
    *,
    status: str,
    reason: str | None,
    actor: Any,
    request_id: str,
) -> tuple[Session, AgentChannelState, bool]:
    """An agent asks for a status on one channel. Returns (session, state, held_as_pending).

    The engine decides (``decide.status_request``): apply now, hold as pending (202), cancel
    the pending status, a no-op, or refuse. Applying during ACW cancels the wrap-up deadline.
    """
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        state = sess.state(channel)
        _check_reason(sess, status, reason)
        live = sess.live.channel(channel)
        outcome = decide.status_request(sess.rules, live, status, reason)
        if outcome.action == "refuse":
            raise Refused(outcome.code, _refusal_detail(outcome.code, channel), outcome.rule)
        if outcome.action == "hold":
            set_pending(sess, state, status, reason, cause=Cause.AGENT, rule=outcome.rule)
        elif outcome.action == "cancel_pending":
            set_pending(sess, state, None, None, cause=Cause.AGENT, rule=outcome.rule)
        elif outcome.action == "apply":
            if state.pending_status is not None:
                set_pending(sess, state, None, None, cause=Cause.AGENT, rule=outcome.rule)
            apply_status(sess, state, status, reason, cause=Cause.AGENT, rule=outcome.rule)
        sess.states_changed()
        return sess, state, outcome.action == "hold"


def supervisor_force_status(
    agent_id: int,
    channel: str,
    *,
    status: str,
    reason: str | None,
    actor: Any,
    request_id: str,
) -> tuple[Session, AgentChannelState]:
    """A supervisor's forced status applies at once, clearing any pending status and deadline.

    A forced ``logged_off`` with open work is refused with ``active_interactions``.
    """
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        state = sess.state(channel)
        _check_reason(sess, status, reason)
        live = sess.live.channel(channel)
        if status == Status.LOGGED_OFF and live.open_work:
            raise Refused(
                reasons.ACTIVE_INTERACTIONS,
                _refusal_detail(reasons.ACTIVE_INTERACTIONS, channel),
                decide.SUPERVISOR_RULE,
            )
        if state.pending_status is not None:
            set_pending(
                sess, state, None, None, cause=Cause.SUPERVISOR, rule=decide.SUPERVISOR_RULE
            )
        if state.status != status or state.reason != reason:
            apply_status(
                sess, state, status, reason, cause=Cause.SUPERVISOR, rule=decide.SUPERVISOR_RULE
            )
        sess.states_changed()
        return sess, state


def _refusal_detail(code: str, channel: str) -> str:
    return {
        reasons.ACTIVE_INTERACTIONS: f"Work is still open on {channel}; it cannot be logged off.",
    }.get(code, f"Refused on {channel}: {code}.")


# -- DND (R3) and forwarding (R4) ---------------------------------------------------------------
def agent_set_dnd(agent_id: int, *, enabled: bool, actor: Any, request_id: str) -> Session:
    """Switch do-not-disturb over all channels; statuses underneath stay as they are (R3)."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        agent = sess.agent
        if agent.dnd != enabled:
            agent.dnd = enabled
            agent.dnd_since = sess.now if enabled else None
            agent.save(update_fields=["dnd", "dnd_since"])
            record(
                agent,
                sess.ctx,
                event=Event.DND,
                channel=None,
                from_status="off" if enabled else "on",
                to_status="on" if enabled else "off",
                reason=None,
                cause=Cause.AGENT,
                rule=decide.DND_RULE,
            )
            sess.states_changed()
        return sess


def agent_set_forwarding(
    agent_id: int, *, to_extension: str | None, actor: Any, request_id: str
) -> Session:
    """Forward this agent's voice work to another agent's extension, or stop (R4).

    Refused (400): the agent's own extension, an extension no agent has, and any chain longer
    than one hop (the target forwards, or someone forwards to this agent): that also rules
    out loops. Locks both agents in id order so two agents forwarding to each other at the
    same moment cannot both succeed.
    """
    with transaction.atomic():
        target_id = None
        if to_extension is not None:
            target_id = (
                Agent.objects.filter(extension=to_extension, is_active=True)
                .values_list("pk", flat=True)
                .first()
            )
            if target_id is None:
                raise Invalid(
                    "invalid",
                    f"No agent has extension {to_extension}.",
                    decide.FORWARD_RULE,
                    fields={"to_extension": ["unknown_extension"]},
                )
        locked = lock_agents([agent_id] + ([target_id] if target_id else []))
        agent = locked.get(agent_id)
        sess = session_for(agent, actor=actor, request_id=request_id) if agent else None
        if sess is None:
            return open_session(agent_id, actor=actor, request_id=request_id)
        if to_extension is not None:
            target = locked[target_id]
            if target.pk == agent.pk:
                raise Invalid(
                    "invalid",
                    "An agent cannot forward to their own extension.",
                    decide.FORWARD_RULE,
                    fields={"to_extension": ["own_extension"]},
                )
            if target.forward_to:
                raise Invalid(
                    "invalid",
                    f"Extension {to_extension} forwards to {target.forward_to}; forwarding "
                    "chains longer than one hop are refused.",
                    decide.FORWARD_RULE,
                    fields={"to_extension": ["forwarding_chain"]},
                )
            if agent.extension and Agent.objects.filter(forward_to=agent.extension).exists():
                raise Invalid(
                    "invalid",
                    f"Calls are forwarded to {agent.extension}; forwarding it on would make a "
                    "chain or a loop.",
                    decide.FORWARD_RULE,
                    fields={"to_extension": ["forwarding_chain"]},
                )
        if agent.forward_to != to_extension:
            agent.forward_to = to_extension
            agent.save(update_fields=["forward_to"])
        return sess
