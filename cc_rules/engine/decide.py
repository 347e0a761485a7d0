"""The decisions. Pure functions of (effective rules, live state); no clock, no database.

Every function returns the stable reason code and the ``RuleRef`` that decided, and names the
DOMAIN.md rule it implements in its docstring.
"""

from __future__ import annotations

from . import reasons
from .rulebook import CHANNEL_END_EVENTS
from .types import (
    AcwExit,
    AgentLive,
    ChannelLive,
    Decision,
    EffectiveRules,
    Refusal,
    RuleRef,
    StatusOutcome,
    Target,
    WorkEnded,
    builtin,
)

STATUS_RULE = builtin("R2", "per_channel_status")
DND_RULE = builtin("R3", "do_not_disturb")
SUPERVISOR_RULE = builtin("R2", "supervisor_override")
VISIBILITY_LOST_RULE = builtin("R1", "visibility_lost")
FORWARD_RULE = builtin("R4", "call_forwarding")
DEACTIVATED_RULE = builtin("R2", "agent_deactivated")


def may_take_work(
    rules: EffectiveRules,
    live: AgentLive,
    channel: str,
    *,
    outbound: bool = False,
    assist: bool = False,
    counts: bool = True,
) -> Decision:
    """May this agent take new work on ``channel`` now? (R1, R3, R8, R9; R2 for status.)

    Checks run in the order of DECISIONS.md so the first refusal's code is stable:
    visible → logged in → DND → pending → ACW → ready → channel cap → total cap → blocking pairs.
    Outbound work (R10 party action) skips DND, ACW and ready. A teammate asked to consult or
    join a conference (``assist``, R6) must not be in DND but need not be ready; when the
    child does not take a slot (``counts`` False) the caps are not checked, the pairs are.
    """
    if channel not in rules.visible:
        return Decision(False, reasons.CHANNEL_NOT_VISIBLE, rules.visible_ref)
    state = live.channel(channel)
    if state.status == "logged_off":
        return Decision(False, reasons.LOGGED_OFF, STATUS_RULE)
    if live.dnd and (assist or not outbound):
        return Decision(False, reasons.DND_ACTIVE, DND_RULE)
    if state.pending_status is not None:
        return Decision(False, reasons.PENDING_HELD, rules.setting("pending_enabled").ref)
    if not outbound and not assist:
        if state.status == "after_call_work":
            return Decision(
                False, reasons.AFTER_CALL_WORK, rules.setting("acw_enabled", channel).ref
            )
        if state.status != "ready":
            return Decision(False, reasons.NOT_READY, STATUS_RULE)
    cap = rules.setting("channel_cap", channel)
    if counts:
        if cap.value is not None and state.open_count >= cap.value:
            return Decision(False, reasons.CHANNEL_CAP_REACHED, cap.ref)
        total = rules.setting("total_cap")
        if total.value is not None:
            used = sum(c.open_count for code, c in live.channels.items() if code != "im")
            if used >= total.value:
                return Decision(False, reasons.TOTAL_CAP_REACHED, total.ref)
    # Blocking pairs are not a cap: they hold even for work that takes no slot.
    pairs = rules.setting("blocking_pairs")
    for active, blocked in sorted(pairs.value):
        if blocked == channel and live.channel(active).open_work > 0:
            return Decision(False, reasons.BLOCKED_BY_CHANNEL, pairs.ref)
    if not counts:
        return Decision(True, reasons.ALLOWED, rules.setting("consult_takes_slot").ref)
    return Decision(True, reasons.ALLOWED, cap.ref)


def check_reason(
    rules: EffectiveRules, status: str, reason: str | None
) -> tuple[str, RuleRef] | None:
    """A reason code must be one of the role's codes; required where the rule says (R2).

    Returns (code, rule) for a refusal, or None when the reason is acceptable. System reasons
    are not accepted from clients; the system writes them itself.
    """
    if status != "not_ready":
        if reason is not None:
            return reasons.UNKNOWN_REASON, rules.reason_codes_ref
        return None
    if reason is None:
        required = rules.setting("reason_required")
        if required.value:
            return reasons.REASON_REQUIRED, required.ref
        return None
    if reason in reasons.SYSTEM_REASONS or reason not in rules.reason_codes:
        return reasons.UNKNOWN_REASON, rules.reason_codes_ref
    return None


def status_request(
    rules: EffectiveRules, state: ChannelLive, status: str, reason: str | None
) -> StatusOutcome:
    """What an agent's status request on one channel does (R2, R7, R8).

    - Same status, reason and no pending: a no-op (PUT is idempotent).
    - ``ready`` is never held: it applies at once and cancels a pending status.
    - During ACW a manual status applies at once, even while work opened during ACW (outbound)
      is open (DECISIONS.md, "Combinations"); only ``logged_off`` with open work is held or
      refused as below.
    - With open work and the pending rule on, any other request is held as pending (202); a
      new request replaces the pending one; asking again for the pending status is a no-op.
    - With open work and the rule off, the status applies at once (R7), except ``logged_off``,
      which is refused with ``active_interactions``.
    """
    if state.status == status and state.reason == reason:
        if state.pending_status is None:
            return StatusOutcome("noop", "unchanged", STATUS_RULE)
        # Asking for the status the channel already has: the agent wants to stay, so the
        # pending request is cancelled (as `ready` while ready does), not held again.
        return StatusOutcome("cancel_pending", "pending_cancelled", STATUS_RULE)
    if status == "ready":
        return StatusOutcome("apply", "applied", STATUS_RULE)
    in_acw = state.status == "after_call_work"
    if state.open_work > 0 and (status == "logged_off" or not in_acw):
        pending = rules.setting("pending_enabled")
        if pending.value:
            if state.pending_status == status and state.pending_reason == reason:
                return StatusOutcome("noop", "unchanged", pending.ref)
            return StatusOutcome("hold", reasons.PENDING_HELD, pending.ref)
        if status == "logged_off":
            return StatusOutcome("refuse", reasons.ACTIVE_INTERACTIONS, pending.ref)
        return StatusOutcome("apply", "applied", builtin("R7", "time_accounting"))
    return StatusOutcome("apply", "applied", STATUS_RULE)


def supervisor_force(state: ChannelLive, status: str) -> Refusal | None:
    """A supervisor's forced status (R2; DECISIONS.md "Statuses", "Combinations").

    It applies at once, clearing any pending status and deadline, except: a channel the agent
    has not logged into cannot be brought to another status (``agent_not_logged_in``; only the
    agent logs in), and a forced ``logged_off`` with open work is ``active_interactions``.
    """
    if state.status == "logged_off" and status != "logged_off":
        return Refusal(reasons.AGENT_NOT_LOGGED_IN, SUPERVISOR_RULE)
    if status == "logged_off" and state.open_work:
        return Refusal(reasons.ACTIVE_INTERACTIONS, SUPERVISOR_RULE)
    return None


def logout(live: AgentLive) -> Refusal | None:
    """Logging off every channel at once (R2): refused with ``active_interactions`` while any
    work is open; it also turns DND off (DECISIONS.md, "Combinations")."""
    if any(c.open_work for c in live.channels.values()):
        return Refusal(reasons.ACTIVE_INTERACTIONS, STATUS_RULE)
    return None


def supervisor_logout(live: AgentLive) -> Refusal | None:
    """A supervisor logs the whole agent out (R2; DECISIONS.md "Supervisor force", "Logout").

    As the agent's own logout: refused with ``active_interactions`` while any work is open (the
    detail says how much and where), and it turns DND off too. Pending statuses and wrap-up
    deadlines go with the channels.
    """
    busy = {code: c.open_work for code, c in sorted(live.channels.items()) if c.open_work}
    if not busy:
        return None
    where = ", ".join(f"{n} on {code}" for code, n in busy.items())
    return Refusal(
        reasons.ACTIVE_INTERACTIONS,
        SUPERVISOR_RULE,
        f"{sum(busy.values())} interaction(s) still open ({where}); they must end before the "
        "agent can be logged out.",
    )


def supervisor_dnd(enabled: bool) -> Refusal | None:
    """R3: a supervisor may turn an agent's do-not-disturb off, never on (only the agent
    decides to stop taking work; a supervisor who wants that forces ``not_ready``)."""
    if not enabled:
        return None
    return Refusal(
        reasons.DND_ON_NOT_ALLOWED,
        SUPERVISOR_RULE,
        "A supervisor can only turn do-not-disturb off; only the agent turns it on "
        "(to stop an agent's work, force Not ready).",
    )


def supervisor_wrap_up(rules: EffectiveRules, state: ChannelLive, action: str) -> Refusal | None:
    """A supervisor extends (``extend``, R15) or ends (``end``, R14) a channel's wrap-up.

    ACW belongs to a channel here, not to an interaction: the supervisor acts on whatever ACW
    the channel is in. A channel not in ACW → ``invalid_transition``. Extending is the agent's
    R15 decision (``may_extend_wrap_up``): where the rule forbids it, a supervisor cannot either.
    Ending lands where the timer would (``acw_exit`` with the ``supervisor`` trigger).
    """
    if state.status != "after_call_work":
        return Refusal(
            reasons.INVALID_TRANSITION,
            SUPERVISOR_RULE,
            f"The {state.channel} channel is not in after-call work.",
        )
    if action == "extend":
        allowed, rule = may_extend_wrap_up(rules, state.channel)
        if not allowed:
            return Refusal(
                reasons.WRAP_UP_NOT_EXTENDABLE,
                rule,
                f"Wrap-up on {state.channel} cannot be extended: the role's rule says no (R15).",
            )
    return None


def visibility_lost(rules: EffectiveRules, state: ChannelLive) -> Target | None:
    """R1 (DECISIONS.md "Rules"): a channel the role no longer sees stays for its open work
    only; with none left it is logged off (cause ``system``), ACW included."""
    if state.channel in rules.visible or state.open_work or state.status == "logged_off":
        return None
    return Target("logged_off", None, "system", VISIBILITY_LOST_RULE)


def missed_offer(
    rules: EffectiveRules, state: ChannelLive, *, by_rule: bool = True
) -> Target | None:
    """An offer missed by its deadline: where ``missed_offer_not_ready`` is on, a ``ready``
    channel goes ``not_ready`` with the system reason ``missed_offer`` (DECISIONS.md "Offers
    and routing"). An offer missed because its agent was deactivated (``by_rule`` False)
    changes no status by this rule."""
    rule = rules.setting("missed_offer_not_ready")
    if not by_rule or not rule.value or state.status != "ready":
        return None
    return Target("not_ready", reasons.SYSTEM_MISSED_OFFER, "system", rule.ref)


def acts_on_acw(state: ChannelLive, interaction_id: int) -> bool:
    """ACW belongs to the interaction whose end started it (DECISIONS.md, "Combinations"):
    done or extend on that interaction acts on ACW; on any other it changes no status (R13,
    R15)."""
    return state.status == "after_call_work" and state.acw_interaction == interaction_id


def work_ended(
    rules: EffectiveRules,
    state: ChannelLive,
    how: str,
    *,
    was_last: bool,
    assist: bool = False,
) -> WorkEnded:
    """What ending one interaction does to its channel (R8, R14, R1; DECISIONS.md "After-call
    work" and "Combinations").

    Only the channel's *last* open interaction matters. Then:
    - a channel the role no longer sees is logged off (R1, ``visibility_lost``);
    - a held pending status whose release events include ``how`` is applied now, or after ACW
      where ACW follows (R8); ended by any other event it is dropped (cause ``not_released``):
      a held status never outlives the work it waits for;
    - ACW starts if the rule says so (R14), except for a consultation or conference child
      (``assist``) unless ``acw_after_assist`` is on (R6).
    """
    if not was_last or state.status == "logged_off":
        return WorkEnded(False, None, None, None)
    drop = None
    released = False
    if state.pending_status is not None:
        release = rules.setting("pending_release_on")
        released = how in release.value
        drop = None if released else release.ref
    gone = visibility_lost(rules, ChannelLive(state.channel, state.status, open_work=0))
    if gone is not None:
        return WorkEnded(False, None, gone, gone.rule, drop_pending=drop)
    acw = rules.setting("acw_enabled", state.channel)
    if assist and acw.value:
        assist_acw = rules.setting("acw_after_assist")
        if not assist_acw.value:
            acw = assist_acw
    if acw.value:
        seconds = rules.setting("acw_seconds", state.channel)
        rule = seconds.ref if seconds.value else acw.ref
        return WorkEnded(True, seconds.value, None, rule, drop_pending=drop)
    if released:
        release = rules.setting("pending_release_on")
        target = Target(
            state.pending_status,
            state.pending_reason,
            "pending_released",
            release.ref,
            from_pending=True,
        )
        return WorkEnded(False, None, target, release.ref)
    return WorkEnded(False, None, None, drop, drop_pending=drop)


def offer_withdrawn(rules: EffectiveRules, state: ChannelLive, *, was_last: bool) -> Target | None:
    """A rejected or missed offer never became work (R8).

    An offer is open work, so a status asked for while it waited was held as pending; no end
    event will ever come for it. When it was the channel's last open work, the held status
    applies now (cause ``pending_released``) rather than leave the channel closed to work
    with nothing to wait for. During ACW the pending status keeps waiting for ACW's end.
    """
    if not was_last:
        return None
    gone = visibility_lost(rules, ChannelLive(state.channel, state.status, open_work=0))
    if gone is not None:
        return gone
    if state.pending_status is None or state.status == "after_call_work":
        return None
    return Target(
        state.pending_status,
        state.pending_reason,
        "pending_released",
        rules.setting("pending_enabled").ref,
        from_pending=True,
    )


ACW_EXIT_CAUSES = {"timer": "wrap_up_timer", "done": "after_done", "supervisor": "supervisor"}


def acw_exit(rules: EffectiveRules, state: ChannelLive, trigger: str) -> AcwExit:
    """Where a channel in ACW goes when its wrap-up timer ends, the agent marks done, or a
    supervisor ends the wrap-up now (``trigger``: ``timer``, ``done``, ``supervisor``).

    R13 (done), R14 (timer), R8 (pending), R1 (visibility). DECISIONS.md: a channel the role no
    longer sees leaves ACW as ``logged_off``; else it lands first in the pending status if one
    is held; else in the (``not_ready``, reason) pair it had before ACW; else in the rule's
    after-timer or after-done status. ``keep_acw``: done is not an exit and the timer runs on.
    ``manual``: done cancels the timer and the agent sets the status by hand. A supervisor's end
    lands exactly where the timer would (even when the wrap-up was extended or has no timer),
    recorded with the cause ``supervisor``.
    """
    channel = state.channel
    cause = ACW_EXIT_CAUSES[trigger]
    if trigger in ("timer", "supervisor"):
        rule = rules.setting("acw_after_timer", channel)
        status = rule.value
        reason = reasons.SYSTEM_ACW_TIMEOUT if status == "not_ready" else None
    else:
        rule = rules.setting("after_done", channel)
        if rule.value == "keep_acw":
            return AcwExit(None, False, rule.ref)
        if rule.value == "manual":
            return AcwExit(None, True, rule.ref)
        status = rule.value
        reason = rules.value("after_done_reason", channel) if status == "not_ready" else None
    gone = visibility_lost(rules, ChannelLive(channel, "after_call_work", open_work=0))
    if gone is not None and state.open_work == 0:
        if trigger == "supervisor":  # the supervisor's act, though visibility chose where
            gone = Target(gone.status, gone.reason, cause, gone.rule)
        return AcwExit(gone, True, gone.rule)
    if state.pending_status is not None and (
        state.open_work == 0 or state.pending_status != "logged_off"
    ):
        # The held status is where ACW lands (R8). Only logged_off keeps waiting while work
        # opened during ACW (outbound) is open: that work cannot be logged off.
        target = Target(
            state.pending_status,
            state.pending_reason,
            cause,
            rules.setting("pending_enabled").ref,
            from_pending=True,
        )
    elif state.pre_acw_status == "not_ready" or state.pre_acw_reason is not None:
        # The whole (status, reason) pair comes back: not_ready without a reason included.
        target = Target("not_ready", state.pre_acw_reason, cause, rule.ref)
    else:
        target = Target(status, reason, cause, rule.ref)
    return AcwExit(target, True, rule.ref)


def valid_end_event(channel: str, how: str) -> bool:
    """Which ``how`` may end an interaction on ``channel`` (DECISIONS.md, "Words")."""
    return how in CHANNEL_END_EVENTS.get(channel, frozenset())


def may_extend_wrap_up(rules: EffectiveRules, channel: str) -> tuple[bool, RuleRef]:
    """R15: whether the agent may extend ACW indefinitely on this channel."""
    rule = rules.setting("acw_extendable", channel)
    return bool(rule.value), rule.ref


def may_close(rules: EffectiveRules, channel: str, done: bool) -> tuple[bool, RuleRef]:
    """R12: close requires mark done where the rule says so."""
    rule = rules.setting("mark_done_required", channel)
    return (done or not rule.value), rule.ref
