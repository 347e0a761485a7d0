"""Frozen dataclasses the engine decides over: effective rules, live state, decisions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .rulebook import CHANNELS, RULES


@dataclass(frozen=True)
class RuleRef:
    """Names the rule behind a decision: which key, for which channel, from which scope.

    ``rule_id`` is the rule row's id and ``version`` its history version, so an auditor can
    look up the exact configuration that decided; both are None for a built-in default.
    """

    rnum: str
    key: str
    scope: str  # global | role | agent | default
    channel: str | None = None
    rule_id: int | None = None
    version: int | None = None

    def __str__(self) -> str:
        text = f"{self.rnum}:{self.key}"
        if self.channel:
            text += f"[{self.channel}]"
        text += f"@{self.scope}"
        if self.rule_id is not None:
            text += f"#{self.rule_id}"
        if self.version is not None:
            text += f".v{self.version}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": str(self),
            "rule": self.rnum,
            "key": self.key,
            "channel": self.channel,
            "scope": self.scope,
            "id": self.rule_id,
            "version": self.version,
        }


def builtin(rnum: str, key: str, channel: str | None = None) -> RuleRef:
    """A reference to behaviour fixed by DOMAIN.md itself rather than by a configured value."""
    return RuleRef(rnum=rnum, key=key, scope="default", channel=channel)


@dataclass(frozen=True)
class Setting:
    value: Any
    ref: RuleRef


@dataclass(frozen=True)
class EffectiveRules:
    """Every rule in force for one agent, each with the scope it came from."""

    agent_id: int
    role: str | None
    visible: frozenset[str]
    visible_ref: RuleRef
    reason_codes: frozenset[str]
    reason_codes_ref: RuleRef
    settings: Mapping[tuple[str, str | None], Setting] = field(default_factory=dict)

    def setting(self, key: str, channel: str | None = None) -> Setting:
        definition = RULES[key]
        lookup = channel if definition.per_channel else None
        found = self.settings.get((key, lookup))
        if found is None:
            found = Setting(definition.default, RuleRef(definition.rule, key, "default", lookup))
        return found

    def value(self, key: str, channel: str | None = None) -> Any:
        return self.setting(key, channel).value

    def in_force(self) -> Iterator[tuple[str, Any, str | None, Setting]]:
        """Every rule in force, as ``(key, definition, channel, setting)``: rulebook order, a
        per-channel rule once per visible channel (CHANNELS order), a global one with None."""
        for key, definition in RULES.items():
            channels = (
                [c for c in CHANNELS if c in self.visible] if definition.per_channel else [None]
            )
            for channel in channels:
                yield key, definition, channel, self.setting(key, channel)


@dataclass(frozen=True)
class ChannelLive:
    """One channel of one agent as the engine sees it."""

    channel: str
    status: str
    reason: str | None = None
    pending_status: str | None = None
    pending_reason: str | None = None
    open_count: int = 0  # open work that counts toward caps (R6: children may not)
    open_work: int = 0  # all open work (offered or active)
    pre_acw_reason: str | None = None
    pre_acw_status: str | None = None  # the status ACW came from (None: not in ACW)
    acw_interaction: int | None = None  # the interaction whose end started this ACW


@dataclass(frozen=True)
class AgentLive:
    dnd: bool
    channels: Mapping[str, ChannelLive]

    def channel(self, code: str) -> ChannelLive:
        return self.channels.get(code) or ChannelLive(code, "logged_off")


@dataclass(frozen=True)
class Decision:
    """The answer to "may this agent take new work on this channel now?"."""

    allowed: bool
    code: str
    rule: RuleRef | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": self.code,
            "rule": str(self.rule) if self.rule else None,
        }


@dataclass(frozen=True)
class StatusOutcome:
    """What a status request does: apply now, hold as pending, cancel pending, no-op, refuse."""

    action: str  # apply | hold | cancel_pending | noop | refuse
    code: str
    rule: RuleRef


@dataclass(frozen=True)
class Target:
    """A status to land in, with the cause and rule that put the channel there."""

    status: str
    reason: str | None
    cause: str
    rule: RuleRef
    from_pending: bool = False  # the held pending status is consumed by landing here


@dataclass(frozen=True)
class AcwExit:
    """What leaving (or not leaving) ACW on a trigger does."""

    target: Target | None  # None: stay in ACW
    cancel_deadline: bool
    rule: RuleRef


@dataclass(frozen=True)
class WorkEnded:
    """What ending an interaction does to its channel (R8, R14, R1)."""

    start_acw: bool
    acw_seconds: int | None
    release: Target | None  # land here now (a released pending status, or logged off)
    rule: RuleRef | None
    drop_pending: RuleRef | None = None  # the held status is dropped (``not_released``)


@dataclass(frozen=True)
class Refusal:
    """A refused request: the stable code and the rule that refused it; ``detail``: the human
    sentence the API and the admin show (empty: the caller words it)."""

    code: str
    rule: RuleRef
    detail: str = ""


@dataclass(frozen=True)
class OfferDecision:
    """The answer for an offer to a named agent, forwarding applied (R4, R9): who would get it
    (``agent_id``; the forward target's when forwarded) and the decision on that agent."""

    decision: Decision
    agent_id: int | None
    forwarded_to: str | None = None  # the target's extension when forwarding applied
    target_code: str | None = None  # why the forward target cannot take it (refused only)
