"""Status changes: login/logout (R2), per-channel status (R2, R7, R8), DND (R3), forwarding (R4),
supervisor overrides (deactivation: ``deactivation``). Every function runs in one transaction
under the agent's row lock, asks the engine, and has the one writer (``ledger``) apply the
outcome: one history row per change of status, DND or pending, in that same transaction. Each
returns a plain ``AgentResult`` the caller renders without another query.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules import metrics, selectors
from cc_rules.choices import Cause, Status
from cc_rules.engine import decide, forwarding, reasons

from . import ledger
from .errors import Invalid, Refused
from .sessions import AgentResult, Session, lock_agents, open_session, session_for

LOGIN_RULE = decide.STATUS_RULE


# -- login / logout (R2) ------------------------------------------------------------------------
def session_login(
    agent_id: int, *, channels: list[str] | None, actor: Any, request_id: str
) -> AgentResult:
    """Log into the given channels (default: all visible). Already logged in: a no-op.

    Login puts a channel in ``not_ready`` with the system reason ``login`` (DECISIONS.md).
    """
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        wanted = sorted(sess.rules.visible) if channels is None else list(dict.fromkeys(channels))
        states = [sess.state(code) for code in wanted]  # 404 for an invisible channel
        for state in states:
            if state.status == Status.LOGGED_OFF:
                ledger.set_status(
                    sess,
                    state,
                    Status.NOT_READY,
                    reasons.SYSTEM_LOGIN,
                    cause=Cause.AGENT,
                    rule=LOGIN_RULE,
                )
        return sess.result()


def log_off_everything(sess: Session, *, cause: str, rule: Any) -> None:
    """Every channel logged off, pending statuses cleared, DND off, each with its row (the
    agent's logout and deactivation; DECISIONS.md "Combinations": logout also ends DND)."""
    for state in sess.states.values():
        if state.pending_status is not None:
            ledger.clear_pending(sess, state, cause=cause, rule=rule)
        if state.status != Status.LOGGED_OFF:
            ledger.set_status(sess, state, Status.LOGGED_OFF, None, cause=cause, rule=rule)
    ledger.set_dnd(sess, False, cause=cause, rule=rule)


def session_logout(agent_id: int, *, actor: Any, request_id: str) -> AgentResult:
    """Log off every channel and end DND; refused with ``active_interactions`` while any work
    is open (``decide.logout``)."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        refusal = decide.logout(sess.live)
        if refusal is not None:
            open_work = sum(c.open_work for c in sess.live.channels.values())
            raise Refused(
                refusal.code,
                f"{open_work} interaction(s) still open; end them before logging out.",
                refusal.rule,
            )
        log_off_everything(sess, cause=Cause.AGENT, rule=decide.STATUS_RULE)
        return sess.result()


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
) -> AgentResult:
    """An agent asks for a status on one channel (``result.held``: held as pending, 202).

    The engine decides (``decide.status_request``): apply now, hold as pending, cancel the
    pending status, a no-op, or refuse. Applying during ACW cancels the wrap-up deadline.
    """
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        state = sess.state(channel)
        _check_reason(sess, status, reason)
        outcome = decide.status_request(sess.rules, sess.live.channel(channel), status, reason)
        metrics.count_decision("status", outcome.code, outcome.rule)
        if outcome.action == "refuse":
            raise Refused(outcome.code, _refusal_detail(outcome.code, channel), outcome.rule)
        if outcome.action == "hold":
            ledger.hold_pending(sess, state, status, reason, cause=Cause.AGENT, rule=outcome.rule)
        elif outcome.action in ("cancel_pending", "apply") and state.pending_status is not None:
            ledger.clear_pending(sess, state, cause=Cause.AGENT, rule=outcome.rule)
        if outcome.action == "apply":
            ledger.set_status(sess, state, status, reason, cause=Cause.AGENT, rule=outcome.rule)
        return sess.result(channel, held=outcome.action == "hold")


def supervisor_force_status(
    agent_id: int,
    channel: str,
    *,
    status: str,
    reason: str | None,
    actor: Any,
    request_id: str,
) -> AgentResult:
    """A supervisor's forced status applies at once, clearing any pending status and deadline
    (``decide.supervisor_force``: refused on a logged-off channel, and for logged_off with open
    work)."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        state = sess.state(channel)
        _check_reason(sess, status, reason)
        refusal = decide.supervisor_force(sess.live.channel(channel), status)
        if refusal is not None:
            raise Refused(refusal.code, _refusal_detail(refusal.code, channel), refusal.rule)
        rule = decide.SUPERVISOR_RULE
        if state.pending_status is not None:
            ledger.clear_pending(sess, state, cause=Cause.SUPERVISOR, rule=rule)
        if state.status != status or state.reason != reason:
            ledger.set_status(sess, state, status, reason, cause=Cause.SUPERVISOR, rule=rule)
        return sess.result(channel)


def _refusal_detail(code: str, channel: str) -> str:
    return {
        reasons.ACTIVE_INTERACTIONS: f"Work is still open on {channel}; it cannot be logged off.",
        reasons.AGENT_NOT_LOGGED_IN: f"The agent is not logged in on {channel}; only the agent "
        "logs in.",
    }.get(code, f"Refused on {channel}: {code}.")


# -- DND (R3) and forwarding (R4) ---------------------------------------------------------------
def agent_set_dnd(agent_id: int, *, enabled: bool, actor: Any, request_id: str) -> AgentResult:
    """Switch do-not-disturb over all channels; statuses underneath stay as they are (R3)."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        ledger.set_dnd(sess, enabled, cause=Cause.AGENT, rule=decide.DND_RULE)
        return sess.result()


def agent_set_forwarding(
    agent_id: int, *, to_extension: str | None, actor: Any, request_id: str
) -> AgentResult:
    """Forward this agent's voice work to another agent's extension, or stop (R4).

    The engine refuses (400) an unknown extension, the agent's own and any chain longer than
    one hop (``forwarding.forwarding_refusal``). Both agents are locked in id order, and the
    target is re-read under the lock, so two agents forwarding to each other at the same
    moment cannot both succeed.
    """
    with transaction.atomic():
        target_id = selectors.agent_id_with_extension(to_extension) if to_extension else None
        locked = lock_agents([agent_id] + ([target_id] if target_id else []))
        agent = locked.get(agent_id)
        if agent is None:
            return open_session(agent_id, actor=actor, request_id=request_id).result()
        sess = session_for(agent, actor=actor, request_id=request_id)
        if to_extension is not None:
            target = locked.get(target_id) if target_id else None
            code = forwarding.forwarding_refusal(
                own_extension=agent.extension,
                to_extension=to_extension,
                target_exists=target is not None and target.extension == to_extension,
                target_forwards=bool(target and target.forward_to),
                forwarded_to_me=selectors.forwarded_to(agent.extension),
            )
            if code is not None:
                raise Invalid(
                    "invalid",
                    _FORWARD_DETAIL[code].format(to_extension),
                    decide.FORWARD_RULE,
                    fields={"to_extension": [code]},
                )
        if agent.forward_to != to_extension:
            agent.forward_to = to_extension
            agent.save(update_fields=["forward_to"])
        return sess.result()


_FORWARD_DETAIL = {
    "unknown_extension": "No agent has extension {}.",
    "own_extension": "An agent cannot forward to their own extension.",
    "forwarding_chain": "Forwarding to {} would make a chain longer than one hop or a loop; "
    "forwarding chains are refused.",
}
