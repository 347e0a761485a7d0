"""The resolver's pure half: rule rows in, one agent's effective rules out.

Most specific scope wins, per field (DECISIONS.md, "Rules"): agent, then role, then global, then
the rulebook's default. Visibility and reason codes are set globally or per role only, and are
replaced whole by the role's set when the role has one. ``cc_rules.selectors`` loads the rows
(cached per rules version) and calls ``RuleIndex.resolve``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .rulebook import CHANNELS, RULES
from .types import EffectiveRules, RuleRef, Setting


@dataclass(frozen=True)
class RuleRow:
    id: int
    key: str
    scope: str
    target: int | None  # role id, agent id, or None for global
    channel: str | None
    value: object
    version: int | None = None


@dataclass(frozen=True)
class RoleSets:
    """A role's (or the global) visible channels and reason codes."""

    id: int | None
    name: str | None
    visible: frozenset[str] | None  # None: inherit the global set
    reason_codes: frozenset[str] | None


class RuleIndex:
    """All rule rows of one rules version, indexed for per-agent resolution."""

    def __init__(
        self,
        rows: Iterable[RuleRow],
        roles: Mapping[int, RoleSets],
        global_visible: frozenset[str],
        global_reason_codes: frozenset[str],
    ) -> None:
        self._rows = {(r.scope, r.target, r.key, r.channel): r for r in rows}
        self._roles = roles
        self._global_visible = global_visible
        self._global_codes = global_reason_codes

    def resolve(self, agent_id: int, role_id: int | None) -> EffectiveRules:
        settings: dict[tuple[str, str | None], Setting] = {}
        for definition in RULES.values():
            channels: Iterable[str | None] = CHANNELS if definition.per_channel else (None,)
            for channel in channels:
                for scope, target in (("agent", agent_id), ("role", role_id), ("global", None)):
                    if scope == "role" and role_id is None:
                        continue
                    row = self._rows.get((scope, target, definition.key, channel))
                    if row is not None:
                        ref = RuleRef(
                            definition.rule, definition.key, scope, channel, row.id, row.version
                        )
                        settings[(definition.key, channel)] = Setting(row.value, ref)
                        break
        role = self._roles.get(role_id) if role_id is not None else None
        if role is not None and role.visible is not None:
            visible = role.visible
            visible_ref = RuleRef("R1", "visible_channels", "role", None, role.id)
        else:
            visible = self._global_visible
            visible_ref = RuleRef("R1", "visible_channels", "global")
        if role is not None and role.reason_codes is not None:
            codes = role.reason_codes
            codes_ref = RuleRef("R2", "reason_codes", "role", None, role.id)
        else:
            codes = self._global_codes
            codes_ref = RuleRef("R2", "reason_codes", "global")
        return EffectiveRules(
            agent_id=agent_id,
            role=role.name if role else None,
            visible=visible,
            visible_ref=visible_ref,
            reason_codes=codes,
            reason_codes_ref=codes_ref,
            settings=settings,
        )
