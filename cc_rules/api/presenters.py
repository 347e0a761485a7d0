"""Response bodies built from engine types and rows (the shapes of API.md)."""

from __future__ import annotations

from typing import Any

from cc_rules.choices import Status
from cc_rules.engine.rulebook import CHANNELS
from cc_rules.engine.types import AgentLive, EffectiveRules, OfferDecision
from cc_rules.models import Agent, AgentChannelState
from cc_rules.selectors import agent_live, effective_rules


def channel_state(
    state: AgentChannelState | None, code: str, rules: EffectiveRules, live: AgentLive
) -> dict[str, Any]:
    now_live = live.channel(code)
    pending = None
    wrap_up = None
    if state is not None and state.pending_status:
        pending = {
            "status": state.pending_status,
            "reason": state.pending_reason,
            "requested_at": state.pending_requested_at,
        }
    if state is not None and state.status == Status.AFTER_CALL_WORK:
        wrap_up = {"interaction": state.wrap_up_interaction_id, "ends_at": state.wrap_up_deadline}
    return {
        "channel": code,
        "status": state.status if state else Status.LOGGED_OFF,
        "reason": state.reason if state else None,
        "since": state.since if state else None,
        "pending": pending,
        "active_interactions": now_live.open_work,
        "capacity": {"max": rules.value("channel_cap", code), "used": now_live.open_count},
        "wrap_up": wrap_up,
    }


def shown_channels(rules: EffectiveRules, live: AgentLive) -> list[str]:
    """Visible channels, plus an invisible one only while it still has open work (R1)."""
    return [c for c in CHANNELS if c in rules.visible or live.channel(c).open_work > 0]


def me(
    agent: Agent,
    rules: EffectiveRules | None = None,
    states: dict[str, AgentChannelState] | None = None,
    live: AgentLive | None = None,
) -> dict[str, Any]:
    if rules is None:
        rules = effective_rules(agent)
    if live is None or states is None:
        live, states = agent_live(agent)
    return {
        "username": agent.user.username,
        "role": agent.role.name,
        "extension": agent.extension,
        "dnd": agent.dnd,
        "forward_to": agent.forward_to,
        "channels": [
            channel_state(states.get(code), code, rules, live)
            for code in shown_channels(rules, live)
        ],
    }


def me_from_result(result) -> dict[str, Any]:
    """``me`` from a service's ``AgentResult`` (no query)."""
    return me(result.agent, result.rules, result.states, result.live)


def channel_from_result(result) -> dict[str, Any]:
    """``channel_state`` of the channel a service's ``AgentResult`` is about (no query)."""
    return channel_state(result.state, result.channel, result.rules, result.live)


def offer_decision(found: OfferDecision) -> dict[str, Any]:
    """``/decisions/offer/``: the decision, and the forward target's extension when R4 applied."""
    body = found.decision.as_dict()
    body["forwarded_to"] = found.forwarded_to
    return body


def effective(agent: Agent, rules: EffectiveRules) -> dict[str, Any]:
    """Every rule in force with the scope it came from (API.md ``/me/effective-rules/``)."""
    out: list[dict[str, Any]] = [
        {
            **rules.visible_ref.as_dict(),
            "value": sorted(rules.visible),
            "label": "Visible channels",
        },
        {
            **rules.reason_codes_ref.as_dict(),
            "value": sorted(rules.reason_codes),
            "label": "Not Ready reason codes",
        },
    ]
    for _key, definition, _channel, setting in rules.in_force():
        out.append(
            {
                **setting.ref.as_dict(),
                "value": definition.encode(setting.value),
                "label": definition.label,
            }
        )
    return {"agent": agent.user.username, "role": rules.role, "rules": out}
