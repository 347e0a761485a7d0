"""After-call work: leaving it by timer or done (R13, R14, R8), extending it (R15).

ACW belongs to the interaction whose end started it (DECISIONS.md, "Combinations"): done and
extend act on ACW only for that interaction (``decide.acts_on_acw``). The timer's own path is
``wrap_up_firing``, which calls ``leave_wrap_up`` here for every row it fires.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules.choices import Status
from cc_rules.engine import decide, reasons
from cc_rules.models import Agent, AgentChannelState
from cc_rules.selectors import channel_live

from . import ledger
from .errors import Refused
from .sessions import AgentResult, Session
from .work import own_session


def leave_wrap_up(
    sess: Session, state: AgentChannelState, trigger: str, *, interaction_id: int | None = None
) -> bool:
    """Apply the engine's ACW exit for ``trigger`` ("timer" or "done"). True if the status moved.

    The caller holds the agent's lock and has checked that this trigger may act on this ACW.
    """
    exit_ = decide.acw_exit(sess.rules, sess.live.channel(state.channel_id), trigger)
    if exit_.target is None:
        if exit_.cancel_deadline:
            ledger.cancel_wrap_up_deadline(sess, state)
        return False
    if exit_.target.status == Status.AFTER_CALL_WORK:  # a pending ACW cannot be asked for
        return False
    ledger.land(sess, state, exit_.target, interaction_id=interaction_id)
    return True


def wrap_up_extend(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> AgentResult:
    """Extend ACW indefinitely where the rule allows (R15): the deadline is cleared.

    Only the interaction whose end started the ACW may extend it; on any other the channel is
    "not in after-call work" for that interaction (409 ``invalid_transition``).
    """
    with transaction.atomic():
        sess, interaction = own_session(agent, interaction_id, actor=actor, request_id=request_id)
        channel = interaction.channel_id
        state = sess.states.get(channel)
        if state is None or not decide.acts_on_acw(channel_live(state), interaction.pk):
            raise Refused(
                reasons.INVALID_TRANSITION,
                f"The {channel} channel is not in after-call work for interaction "
                f"{interaction.pk}.",
                None,
            )
        allowed, rule = decide.may_extend_wrap_up(sess.rules, channel)
        if not allowed:
            raise Refused(reasons.WRAP_UP_NOT_EXTENDABLE, "Wrap-up cannot be extended here.", rule)
        ledger.extend_wrap_up(sess, state)
        return sess.result(channel)
