"""Handling work: end (R8, R14, R1), mark done (R12, R13), close (R12).

Lock order (DECISIONS.md): Agent rows first, ascending id (ending an interaction locks every
teammate with open work in it); then channel states and interactions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cc_rules.choices import InteractionState, Kind, Status
from cc_rules.engine import decide, reasons
from cc_rules.models import Agent, Interaction, Workbin
from cc_rules.selectors import channel_live, open_children_locked, own_interaction

from . import ledger
from .errors import Invalid, NotFound, Refused
from .offers import after_offer_withdrawn
from .sessions import Session, lock_sessions
from .work import own, own_session, transition
from .wrap_up import leave_wrap_up

OPEN_CHILD_STATES = (InteractionState.OFFERED, InteractionState.ACTIVE)  # end with the parent


def end_event(channel: str, how: str, workbin: str | None) -> Workbin | None:
    """Check that ``how`` ends ``channel`` work (DECISIONS.md, "Words"); the workbin an e-mail
    or workitem is moved to (``how=workbin``), validated, else None."""
    if not decide.valid_end_event(channel, how):
        raise Invalid(
            "invalid",
            f"{how!r} does not end {channel} work.",
            None,
            fields={"how": ["invalid_for_channel"]},
        )
    if how != "workbin":
        if workbin:
            raise Invalid(
                "invalid",
                "A workbin only goes with how=workbin.",
                None,
                fields={"workbin": ["unexpected"]},
            )
        return None
    if not workbin:
        raise Invalid("invalid", "Name the workbin.", None, fields={"workbin": ["required"]})
    found = Workbin.objects.filter(name=workbin, channels=channel).first()
    if found is None:
        raise Invalid(
            "invalid",
            f"No workbin {workbin!r} for {channel}.",
            None,
            fields={"workbin": ["unknown"]},
        )
    return found


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

    When it was the channel's last open work the engine decides (``decide.work_ended``): ACW,
    a pending status released or dropped, or a channel the role no longer sees logged off.
    """
    target, has_open_children = own_interaction(interaction_id, agent, children=OPEN_CHILD_STATES)
    if target is None:
        raise NotFound("not_found", "No such interaction.")
    bin_row = end_event(target.channel_id, how, workbin)
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
            # A deactivated agent's active work can still be ended (DECISIONS.md: deactivation
            # "leaves active work to be ended"); its channels are logged off, so no ACW follows.
            sessions = lock_sessions(
                [agent.pk, *child_agents], actor=actor, request_id=request_id, active_only=False
            )
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
    interaction = own(sess, interaction_id)
    transition(interaction, "end", how, bin_row, sess.now)
    for child in children:
        child_sess = sessions[child.agent_id]
        if child.state == InteractionState.OFFERED:
            # Never taken: like an expired offer, no wrap-up follows for the teammate.
            transition(child, "miss", child_sess.now)
            after_offer_withdrawn(child_sess, child)
        else:
            transition(child, "end", how, None, child_sess.now)
            after_work_ended(child_sess, child, how)
    after_work_ended(sess, interaction, how)
    return interaction


def after_work_ended(sess: Session, interaction: Interaction, how: str) -> None:
    """R8/R14/R1: act on the channel as the engine decides when its last open work has ended."""
    live = sess.refresh_live()
    channel = interaction.channel_id
    state = sess.states.get(channel)
    if state is None:
        return
    was_last = live.channel(channel).open_work == 0
    outcome = decide.work_ended(
        sess.rules,
        live.channel(channel),
        how,
        was_last=was_last,
        assist=interaction.kind != Kind.NORMAL,
    )
    if outcome.drop_pending is not None and state.pending_status is not None:
        ledger.clear_pending(
            sess,
            state,
            cause="not_released",
            rule=outcome.drop_pending,
            interaction_id=interaction.pk,
        )
    if outcome.start_acw:
        ledger.start_wrap_up(
            sess,
            state,
            interaction_id=interaction.pk,
            seconds=outcome.acw_seconds,
            rule=outcome.rule,
        )
    elif outcome.release is not None:
        ledger.land(sess, state, outcome.release, interaction_id=interaction.pk)
    elif was_last and state.status == Status.READY:
        ledger.mark_idle(sess, state)


def interaction_done(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Mark done (R12). On the ACW this interaction started, the status-after-done rule
    applies (R13); done on any other interaction changes no status."""
    with transaction.atomic():
        sess, interaction = own_session(agent, interaction_id, actor=actor, request_id=request_id)
        transition(interaction, "mark_done", sess.now)
        state = sess.states.get(interaction.channel_id)
        # The state row alone answers whether this ACW is the interaction's: no open-work count.
        if state is not None and decide.acts_on_acw(channel_live(state), interaction.pk):
            leave_wrap_up(sess, state, "done", interaction_id=interaction.pk)
        return interaction


def interaction_close(
    agent: Agent, interaction_id: int, *, actor: Any, request_id: str
) -> Interaction:
    """Close; refused with ``mark_done_required`` before done where the rule says so (R12)."""
    with transaction.atomic():
        sess, interaction = own_session(agent, interaction_id, actor=actor, request_id=request_id)
        if interaction.state == InteractionState.ENDED:
            ok, rule = decide.may_close(sess.rules, interaction.channel_id, done=False)
            if not ok:
                raise Refused(
                    reasons.MARK_DONE_REQUIRED,
                    f"Mark interaction {interaction.pk} done before closing it.",
                    rule,
                )
        transition(interaction, "close", sess.now)
        return interaction
