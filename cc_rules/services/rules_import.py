"""``import_rules``: make the database's configuration exactly a checked rules file's.

One transaction, in three steps: read and lock, check the whole file (``rules_file_check``;
any problem → nothing is written), compare it with the database row by row
(``plan``), then apply the plan. Only real changes are written, each through its model
(``full_clean`` + ``save``/``delete``), so django-simple-history records every one with the
change reason ``import_rules FILE`` and the rules version moves as for any admin save
(``cc_rules.signals``); re-importing the same file writes nothing. ``dry_run`` stops after the
plan. A database error while applying (a constraint, a lock timeout) rolls everything back.

Lock: the ``RulesVersion`` row, ``FOR UPDATE``, first: two imports run one after the other, and
every admin save of a rule waits for the import (its version bump needs that row).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from cc_rules.models import Agent, Channel, ReasonCode, Role, Rule, RulesVersion, Workbin

from .rule_history import reason_code_label, scope_label
from .rules_file import Config, RuleEntry, RuleSet, WorkbinConfig, current_config, rule_label
from .rules_file_check import check_document, known_now, parse_text

REASON_MAX = 100  # simple-history's history_change_reason


@dataclass(frozen=True)
class Change:
    """One row (or one setting) the import creates, changes or deletes."""

    action: str  # "create" | "change" | "delete"
    what: str  # "rule channel_cap[voice] @ role blended"
    detail: str  # "1 → 2"
    apply: Callable[[], None] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.action} {self.what}" + (f": {self.detail}" if self.detail else "")


@dataclass
class ImportResult:
    problems: list[str]
    changes: list[Change]
    applied: bool

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "change": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts


class ApplyError(Exception):
    """The database refused a change while applying; everything was rolled back."""


def change_reason(source: str) -> str:
    reason = f"import_rules {source}"
    if len(reason) > REASON_MAX:
        reason = "import_rules …" + source[-(REASON_MAX - len("import_rules …")) :]
    return reason


def import_rules(text: str, *, source: str, dry_run: bool = False) -> ImportResult:
    """Check ``text`` (a rules file) and, unless ``dry_run`` or a problem was found, apply it.

    ``FileSyntaxError`` when the text is not JSON; ``ApplyError`` when the database refused a
    change (nothing is then written).
    """
    document = parse_text(text)
    with transaction.atomic():
        list(RulesVersion.objects.select_for_update().filter(pk=1))
        desired, problems = check_document(document, known_now())
        if desired is None:
            return ImportResult(problems, [], applied=False)
        changes = plan(current_config(), desired, _Writer(change_reason(source)))
        if not dry_run:
            for change in changes:
                try:
                    change.apply()
                except (ValidationError, DatabaseError) as exc:
                    raise ApplyError(f"{change}: {_message(exc)}") from exc
    return ImportResult([], changes, applied=not dry_run and bool(changes))


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- the plan ------------------------------------------------------------------------------------
def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _channels(codes: tuple[str, ...] | None) -> str:
    if codes is None:
        return "the channels visible by default"
    return ", ".join(codes) if codes else "none"


def plan(current: Config, desired: Config, writer: _Writer) -> list[Change]:
    """Every change that turns ``current`` into ``desired``, in the order they are applied:
    settings, workbins, roles and every reason-code change first (so each rule written is
    checked against the file's codes, as the file check did), rule deletions before rule
    writes, then the roles and workbins the file no longer has."""
    first: list[Change] = []
    rule_deletes: list[Change] = []
    rule_writes: list[Change] = []
    role_deletes: list[Change] = []
    workbin_deletes: list[Change] = []

    if current.visible_by_default != desired.visible_by_default:
        was, now = _channels(current.visible_by_default), _channels(desired.visible_by_default)
        apply = partial(writer.set_visible_by_default, desired.visible_by_default)
        first.append(Change("change", "global visible channels", f"{was} → {now}", apply))

    for name, workbin in desired.workbins.items():
        first.extend(_workbin_changes(name, current.workbins.get(name), workbin, writer))
    for name in sorted(current.workbins.keys() - desired.workbins.keys()):
        apply = partial(writer.delete_workbin, name)
        workbin_deletes.append(Change("delete", f"workbin {name}", "", apply))

    for name, role in desired.roles.items():
        old = current.roles.get(name)
        if old is None:
            detail = f"label {_show(role.label)}, visible channels: {_channels(role.visible)}"
            first.append(
                Change("create", f"role {name}", detail, partial(writer.create_role, name, role))
            )
            continue
        if old.label != role.label:
            detail = f"label {_show(old.label)} → {_show(role.label)}"
            first.append(
                Change(
                    "change",
                    f"role {name}",
                    detail,
                    partial(writer.set_role_label, name, role.label),
                )
            )
        if old.visible != role.visible:
            detail = f"visible channels: {_channels(old.visible)} → {_channels(role.visible)}"
            first.append(
                Change(
                    "change",
                    f"role {name}",
                    detail,
                    partial(writer.set_role_visible, name, role.visible),
                )
            )

    # reason codes: global, then per role (a deleted role's codes go with it, row by row)
    code_scopes: list[tuple[str | None, dict[str, str], dict[str, str]]] = [
        (None, current.reason_codes, desired.reason_codes)
    ]
    for name in sorted(current.roles.keys() | desired.roles.keys()):
        old_role, new_role = current.roles.get(name), desired.roles.get(name)
        code_scopes.append(
            (
                name,
                old_role.reason_codes if old_role else {},
                new_role.reason_codes if new_role else {},
            )
        )
    for role, old_codes, new_codes in code_scopes:
        for code, label in new_codes.items():
            what = f"reason code {reason_code_label(code, role)}"
            if code not in old_codes:
                apply = partial(writer.save_reason_code, role, code, label)
                first.append(Change("create", what, f"label {_show(label)}", apply))
            elif old_codes[code] != label:
                apply = partial(writer.save_reason_code, role, code, label)
                detail = f"label {_show(old_codes[code])} → {_show(label)}"
                first.append(Change("change", what, detail, apply))
        for code in sorted(old_codes.keys() - new_codes.keys()):
            what = f"reason code {reason_code_label(code, role)}"
            apply = partial(writer.delete_reason_code, role, code)
            first.append(Change("delete", what, "", apply))

    rule_scopes: list[tuple[str, str | None, RuleSet, RuleSet]] = [
        ("global", None, current.rules, desired.rules)
    ]
    for name in sorted(current.roles.keys() | desired.roles.keys()):
        old_role, new_role = current.roles.get(name), desired.roles.get(name)
        rule_scopes.append(
            ("role", name, old_role.rules if old_role else {}, new_role.rules if new_role else {})
        )
    for username in sorted(current.agents.keys() | desired.agents.keys()):
        rule_scopes.append(
            ("agent", username, current.agents.get(username, {}), desired.agents.get(username, {}))
        )
    for scope, target, old_rules, new_rules in rule_scopes:
        where = scope_label(scope, role=target, agent=target)
        for (key, channel), entry in new_rules.items():
            what = f"rule {rule_label(key, channel)} @ {where}"
            apply = partial(writer.save_rule, scope, target, key, channel, entry)
            before = old_rules.get((key, channel))
            if before is None:
                detail = _show(entry.value) + (f", note {_show(entry.note)}" if entry.note else "")
                rule_writes.append(Change("create", what, detail, apply))
            elif before != entry:
                parts = []
                if before.value != entry.value:
                    parts.append(f"{_show(before.value)} → {_show(entry.value)}")
                if before.note != entry.note:
                    parts.append(f"note {_show(before.note)} → {_show(entry.note)}")
                rule_writes.append(Change("change", what, "; ".join(parts), apply))
        for key, channel in sorted(
            old_rules.keys() - new_rules.keys(), key=lambda r: (r[0], r[1] or "")
        ):
            what = f"rule {rule_label(key, channel)} @ {where}"
            detail = f"was {_show(old_rules[(key, channel)].value)}"
            apply = partial(writer.delete_rule, scope, target, key, channel)
            rule_deletes.append(Change("delete", what, detail, apply))
    for scope, target, key, channel in current.unknown_rules:
        what = f"rule {rule_label(key, channel)} @ {scope_label(scope, role=target, agent=target)}"
        apply = partial(writer.delete_rule, scope, target, key, channel)
        rule_deletes.append(Change("delete", what, "not in the rulebook", apply))

    for name in sorted(current.roles.keys() - desired.roles.keys()):
        role_deletes.append(Change("delete", f"role {name}", "", partial(writer.delete_role, name)))
    return first + rule_deletes + rule_writes + role_deletes + workbin_deletes


def _workbin_changes(
    name: str, old: WorkbinConfig | None, new: WorkbinConfig, writer: _Writer
) -> list[Change]:
    what = f"workbin {name}"
    if old is None:
        detail = f"label {_show(new.label)}, channels: {_channels(new.channels)}"
        return [Change("create", what, detail, partial(writer.save_workbin, name, new))]
    parts = []
    if old.label != new.label:
        parts.append(f"label {_show(old.label)} → {_show(new.label)}")
    if old.channels != new.channels:
        parts.append(f"channels: {_channels(old.channels)} → {_channels(new.channels)}")
    if not parts:
        return []
    return [Change("change", what, "; ".join(parts), partial(writer.save_workbin, name, new))]


# -- the writes ----------------------------------------------------------------------------------
class _Writer:
    """Each write through its model: ``full_clean`` (the same checks as the admin's), then
    ``save``/``delete`` with the history change reason set, so simple-history records it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._roles: dict[str, Role] = {}
        self._agents: dict[str, Agent] = {}

    def _stamped(self, row: Any) -> Any:
        row._change_reason = self.reason
        return row

    def role(self, name: str | None) -> Role | None:
        if name is None:
            return None
        if name not in self._roles:
            self._roles[name] = Role.objects.get(name=name)
        return self._roles[name]

    def agent(self, username: str) -> Agent:
        if username not in self._agents:
            self._agents[username] = Agent.objects.select_related("role").get(
                user__username=username
            )
        return self._agents[username]

    def set_visible_by_default(self, codes: tuple[str, ...]) -> None:
        for channel in Channel.objects.order_by("code"):
            wanted = channel.code in codes
            if channel.visible_by_default != wanted:
                channel.visible_by_default = wanted
                channel.save(update_fields=["visible_by_default"])

    def create_role(self, name: str, spec: Any) -> None:
        role = self._stamped(Role(name=name, label=spec.label))
        role.full_clean()
        role.save()
        self._roles[name] = role
        if spec.visible:
            role.visible_channels.set(spec.visible)

    def set_role_label(self, name: str, label: str) -> None:
        role = self._stamped(self.role(name))
        role.label = label
        role.full_clean()
        role.save(update_fields=["label"])

    def set_role_visible(self, name: str, visible: tuple[str, ...] | None) -> None:
        self._stamped(self.role(name)).visible_channels.set(visible or ())

    def delete_role(self, name: str) -> None:
        self._stamped(self.role(name)).delete()
        del self._roles[name]

    def save_reason_code(self, role_name: str | None, code: str, label: str) -> None:
        role = self.role(role_name)
        row = ReasonCode.objects.filter(role=role, code=code).first() or ReasonCode(
            role=role, code=code
        )
        row.label = label
        self._stamped(row).full_clean()
        row.save()

    def delete_reason_code(self, role_name: str | None, code: str) -> None:
        row = ReasonCode.objects.get(role=self.role(role_name), code=code)
        self._stamped(row).delete()

    def _target(self, scope: str, target: str | None) -> dict[str, Any]:
        if scope == "role":
            return {"role": self.role(target), "agent": None}
        if scope == "agent":
            return {"role": None, "agent": self.agent(target or "")}
        return {"role": None, "agent": None}

    def save_rule(
        self, scope: str, target: str | None, key: str, channel: str | None, entry: RuleEntry
    ) -> None:
        lookup = {"scope": scope, "key": key, "channel_id": channel, **self._target(scope, target)}
        row = Rule.objects.filter(**lookup).first() or Rule(**lookup)
        row.value = entry.value
        row.note = entry.note
        self._stamped(row).full_clean()
        row.save()

    def delete_rule(self, scope: str, target: str | None, key: str, channel: str | None) -> None:
        lookup = {"scope": scope, "key": key, "channel_id": channel, **self._target(scope, target)}
        self._stamped(Rule.objects.get(**lookup)).delete()

    def save_workbin(self, name: str, spec: WorkbinConfig) -> None:
        row = Workbin.objects.filter(name=name).first() or Workbin(name=name)
        row.label = spec.label
        row.full_clean()
        row.save()
        row.channels.set(spec.channels)

    def delete_workbin(self, name: str) -> None:
        Workbin.objects.get(name=name).delete()
