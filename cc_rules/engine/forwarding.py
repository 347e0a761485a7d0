"""R4 call forwarding: where an offer to an agent goes, and which forwarding may be set.

Pure functions; the services, ``/decisions/offer/`` and the admin simulator all call these, so a
decision and a real offer give the same answer (DECISIONS.md, "Decisions mirror offers").
"""

from __future__ import annotations

from dataclasses import dataclass

from . import reasons
from .decide import FORWARD_RULE, may_take_work
from .types import AgentLive, Decision, EffectiveRules, OfferDecision


@dataclass(frozen=True)
class Party:
    """One agent as an offer sees them: id, extension, forwarding, rules and live state."""

    agent_id: int
    extension: str | None
    forward_to: str | None
    rules: EffectiveRules
    live: AgentLive


def forwards(party: Party, channel: str) -> bool:
    """R4: only voice work follows forwarding."""
    return channel == "voice" and bool(party.forward_to)


def offer_to(named: Party, channel: str, target: Party | None) -> OfferDecision:
    """R4, R9: may work offered to ``named`` on ``channel`` be given, and to whom?

    Voice to an agent who forwards goes to the agent whose extension is ``named.forward_to``
    (``target``, None when no active agent has it): that agent must be able to take it, else
    ``forward_target_unavailable`` naming the target's refusal. Anything else is decided on
    ``named`` itself by ``may_take_work``.
    """
    if not forwards(named, channel):
        return OfferDecision(may_take_work(named.rules, named.live, channel), named.agent_id)
    if target is None or target.extension != named.forward_to:
        refused = Decision(False, reasons.FORWARD_TARGET_UNAVAILABLE, FORWARD_RULE)
        return OfferDecision(refused, None, named.forward_to, "no_agent_has_extension")
    decision = may_take_work(target.rules, target.live, channel)
    if not decision.allowed:
        refused = Decision(False, reasons.FORWARD_TARGET_UNAVAILABLE, decision.rule)
        return OfferDecision(refused, target.agent_id, named.forward_to, decision.code)
    return OfferDecision(
        Decision(True, reasons.ALLOWED, FORWARD_RULE), target.agent_id, named.forward_to
    )


def forwarding_refusal(
    *,
    own_extension: str | None,
    to_extension: str,
    target_exists: bool,
    target_forwards: bool,
    forwarded_to_me: bool,
) -> str | None:
    """R4: whether an agent may forward to ``to_extension``; the field code of a refusal.

    Refused: an extension no active agent has (``unknown_extension``), the agent's own
    (``own_extension``), and any chain longer than one hop: the target forwards, or someone
    forwards to this agent (``forwarding_chain``), which also rules out loops.
    """
    if not target_exists:
        return "unknown_extension"
    if own_extension is not None and to_extension == own_extension:
        return "own_extension"
    if target_forwards or forwarded_to_me:
        return "forwarding_chain"
    return None
