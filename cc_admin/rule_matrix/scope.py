"""What one scope of the rules holds now, and what it would inherit: the matrix's data.

``ScopeRules`` loads, fresh from the database (never the resolver's cache, which may lag one
request behind inside a transaction), the rule rows at one scope (global, one role or one agent)
and those of the scopes it inherits from: an agent inherits from its role, then global, then the
rulebook's default; a role from global, then the default; global from the default.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cc_rules.choices import Scope
from cc_rules.engine.rulebook import RULES, RuleValueError
from cc_rules.models import Agent, Channel, ReasonCode, Role, Rule

# Where an inherited value comes from, as the hint under a cell names it.
SOURCE_WORDS = {Scope.ROLE: "role", Scope.GLOBAL: "global", "default": "default"}


@dataclass(frozen=True)
class Target:
    """The scope a matrix edits: everyone (global), one role, or one agent's overrides."""

    scope: str
    role: Role | None = None
    agent: Agent | None = None

    @classmethod
    def everyone(cls) -> Target:
        return cls(Scope.GLOBAL)

    @classmethod
    def for_role(cls, role: Role) -> Target:
        return cls(Scope.ROLE, role=role)

    @classmethod
    def for_agent(cls, agent: Agent) -> Target:
        return cls(Scope.AGENT, agent=agent)

    @property
    def rule_target(self) -> dict[str, Any]:
        """The fields that put a Rule row at this scope."""
        return {"scope": self.scope, "role": self.role, "agent": self.agent}

    @property
    def effective_role(self) -> Role | None:
        """The role whose visibility and reason codes apply here."""
        if self.scope == Scope.AGENT and self.agent is not None:
            return self.agent.role
        return self.role

    def offers(self, key: str) -> bool:
        """Whether a rule may be set at this scope (agent pages: ``RuleDef.agent_scope``)."""
        return self.scope != Scope.AGENT or RULES[key].agent_scope


def _parsed(rule: Rule) -> Any:
    try:
        return RULES[rule.key].parse(rule.value)
    except (KeyError, RuleValueError):
        return RULES[rule.key].default if rule.key in RULES else None


def _rows(**where: Any) -> dict[tuple[str, str | None], Rule]:
    return {(r.key, r.channel_id): r for r in Rule.objects.filter(**where) if r.key in RULES}


class ScopeRules:
    """The rows at one scope, the values it inherits, visibility and reason codes."""

    def __init__(self, target: Target) -> None:
        self.target = target
        role = target.effective_role
        if target.scope == Scope.GLOBAL:
            self.own = _rows(scope=Scope.GLOBAL)
        elif target.scope == Scope.ROLE:
            self.own = _rows(scope=Scope.ROLE, role=target.role)
        else:
            self.own = _rows(scope=Scope.AGENT, agent=target.agent)
        self.parents: list[tuple[str, dict[tuple[str, str | None], Rule]]] = []
        if target.scope == Scope.AGENT and role is not None:
            self.parents.append((Scope.ROLE, _rows(scope=Scope.ROLE, role=role)))
        if target.scope != Scope.GLOBAL:
            self.parents.append((Scope.GLOBAL, _rows(scope=Scope.GLOBAL)))
        self.default_visible = frozenset(
            Channel.objects.filter(visible_by_default=True).values_list("code", flat=True)
        )
        self.role_visible: frozenset[str] = (
            frozenset(role.visible_channels.values_list("code", flat=True))
            if role is not None
            else frozenset()
        )
        codes = ReasonCode.objects.filter(role=role) if role is not None else None
        if codes is None or not codes.exists():
            codes = ReasonCode.objects.filter(role__isnull=True)
        self.reason_codes: list[tuple[str, str]] = list(
            codes.order_by("code").values_list("code", "label")
        )

    # -- values -----------------------------------------------------------------------------
    def has_own(self, key: str, channel: str | None = None) -> bool:
        return (key, channel) in self.own

    def own_value(self, key: str, channel: str | None = None) -> Any:
        return _parsed(self.own[(key, channel)])

    def parent(self, key: str, channel: str | None = None) -> tuple[Any, str]:
        """The value this scope inherits for ``key`` and where it comes from."""
        for source, rows in self.parents:
            row = rows.get((key, channel))
            if row is not None:
                return _parsed(row), source
        return RULES[key].default, "default"

    def at_scope(self, key: str, channel: str | None = None) -> Any:
        """The value in force at this scope: its own row, else the inherited value."""
        if self.has_own(key, channel):
            return self.own_value(key, channel)
        return self.parent(key, channel)[0]

    @property
    def visible(self) -> frozenset[str]:
        """The channels the role (or, globally, every role that chooses none) sees."""
        if self.target.scope == Scope.GLOBAL:
            return self.default_visible
        return self.role_visible or self.default_visible

    # -- wording ----------------------------------------------------------------------------
    def hint(self, text: str, sources: list[str]) -> str:
        """``inherit: 30 s (global)``; on an agent page ``role's value: 30 s (global)``."""
        unique = list(dict.fromkeys(sources))
        if self.target.scope == Scope.AGENT:
            shown = [SOURCE_WORDS.get(s, s) for s in unique if s != Scope.ROLE]
            return f"role's value: {text}" + (f" ({', '.join(shown)})" if shown else "")
        shown = [SOURCE_WORDS.get(s, s) for s in unique]
        return f"inherit: {text} ({', '.join(shown)})"

    # -- concurrency --------------------------------------------------------------------------
    def digest(self) -> str:
        """A fingerprint of everything this scope's page writes, to notice a concurrent edit."""
        state: dict[str, Any] = {
            "rows": sorted(
                [r.pk, r.key, r.channel_id or "", json.dumps(r.value, sort_keys=True)]
                for r in self.own.values()
            )
        }
        if self.target.scope == Scope.ROLE:
            state["visible"] = sorted(self.role_visible)
        elif self.target.scope == Scope.GLOBAL:
            state["visible"] = sorted(self.default_visible)
        text = json.dumps(state, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]
