"""What a supervisor does to an agent's live session besides a forced status (issue 16, item 2;
DECISIONS.md "Supervisor force", "Logout", "After-call work"): log the whole agent out, turn
DND off, extend or end a channel's wrap-up. The forced status (one channel, ``logged_off``
included) is ``status.supervisor_force_status``.

Each function is one transaction under the agent's row lock (``sessions.open_session``: the
lock every writer for this agent takes first), asks the engine (``decide.supervisor_*``), and
has the one writer (``ledger``) apply the outcome with the cause ``supervisor``, the supervisor
as actor, the request id and the deciding rule on every row. A refusal raises before anything
is written, with the engine's code, rule and sentence. Who may act on which agent is the
caller's question (``cc_rules.scoping.may_act_on_agent``): the API and the admin both ask it
before they call in here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules.choices import Cause
from cc_rules.engine import decide, reasons

from . import ledger
from .errors import Invalid, Refused
from .sessions import AgentResult, open_session
from .status import log_off_everything
from .wrap_up import leave_wrap_up


def supervisor_logout(agent_id: int, *, actor: Any, request_id: str) -> AgentResult:
    """Log every channel of the agent off and turn DND off, each with its row; pending statuses
    are closed with a row and wrap-up deadlines cleared. Refused (409 ``active_interactions``)
    while any work is open (``decide.supervisor_logout``)."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        refusal = decide.supervisor_logout(sess.live)
        if refusal is not None:
            raise Refused(refusal.code, refusal.detail, refusal.rule)
        log_off_everything(sess, cause=Cause.SUPERVISOR, rule=decide.SUPERVISOR_RULE)
        return sess.result()


def supervisor_set_dnd(agent_id: int, *, enabled: bool, actor: Any, request_id: str) -> AgentResult:
    """Turn the agent's do-not-disturb off (R3), with a row; already off: a no-op without one.
    Turning it on is refused (400 ``dnd_on_not_allowed``, ``decide.supervisor_dnd``)."""
    refusal = decide.supervisor_dnd(enabled)
    if refusal is not None:
        raise Invalid(
            refusal.code, refusal.detail, refusal.rule, fields={"enabled": [refusal.code]}
        )
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        ledger.set_dnd(sess, False, cause=Cause.SUPERVISOR, rule=decide.SUPERVISOR_RULE)
        return sess.result()


def supervisor_wrap_up_extend(
    agent_id: int, channel: str, *, actor: Any, request_id: str
) -> AgentResult:
    """Extend the channel's wrap-up indefinitely (R15): the deadline is cleared and the agent
    leaves ACW by done or a status. Refused where the channel is not in ACW
    (``invalid_transition``) or the rule does not let ACW be extended
    (``wrap_up_not_extendable``), as for the agent. Extending writes no ledger row (the status
    does not change), as the agent's extend does; already extended: a no-op."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        state = sess.state(channel)  # 404 for a channel the role does not see
        refusal = decide.supervisor_wrap_up(sess.rules, sess.live.channel(channel), "extend")
        if refusal is not None:
            raise Refused(refusal.code, refusal.detail, refusal.rule)
        ledger.extend_wrap_up(sess, state)
        return sess.result(channel)


def supervisor_wrap_up_end(
    agent_id: int, channel: str, *, actor: Any, request_id: str
) -> AgentResult:
    """End the channel's wrap-up now: it lands where the timer would (``decide.acw_exit`` with
    the ``supervisor`` trigger: a held pending status first, else the pre-ACW ``not_ready``
    pair, else the after-timer status), the deadline cleared, with the cause ``supervisor``.
    Refused (409 ``invalid_transition``) when the channel is not in ACW."""
    with transaction.atomic():
        sess = open_session(agent_id, actor=actor, request_id=request_id)
        state = sess.state(channel)
        refusal = decide.supervisor_wrap_up(sess.rules, sess.live.channel(channel), "end")
        if refusal is not None:
            raise Refused(refusal.code, refusal.detail, refusal.rule)
        if not leave_wrap_up(
            sess, state, "supervisor", interaction_id=state.wrap_up_interaction_id
        ):
            # acw_exit never keeps a supervisor's end in ACW; a target of ACW itself is refused.
            raise Refused(
                reasons.INVALID_TRANSITION,
                f"The {channel} channel cannot leave after-call work now.",
                decide.SUPERVISOR_RULE,
            )
        return sess.result(channel)
