"""The configuration as one text file: what ``export_rules`` writes and ``import_rules`` reads.

The format is described in docs/rules-as-code.md. It is JSON with a fixed layout so that the
same configuration always gives the same bytes: keys in a fixed order, roles, agents, workbins,
reason codes and rules sorted, per-channel values in channel-code order, rule values in the
rulebook's encoded form (``RuleDef.encode``: sets as sorted lists), two-space indent, lists and
per-channel rules on one line, a trailing newline. A diff of two exports shows real changes only.

``Config`` is the configuration itself, read from the database (``current_config``) or from a
checked file (``cc_rules.services.rules_file_check``); ``import_rules`` compares the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from cc_rules.engine.rulebook import RULES, RuleValueError
from cc_rules.models import Channel, ReasonCode, Role, Rule, RulesVersion, Workbin

FORMAT = "cc-rules-config"
VERSION = 1
ABOUT = (
    "cc-rules configuration as code: global rules, reason codes, roles, agent overrides and "
    "workbins. Format: docs/rules-as-code.md. Check a change with "
    "`manage.py import_rules FILE --dry-run`."
)

# (rule key, channel code or None for a rule that is not per channel)
RuleId = tuple[str, str | None]


@dataclass(frozen=True)
class RuleEntry:
    """One rule value (encoded, as stored) and its note."""

    value: Any
    note: str = ""


RuleSet = dict[RuleId, RuleEntry]


@dataclass(frozen=True)
class RoleConfig:
    label: str
    visible: tuple[str, ...] | None  # None: the channels visible by default (R1)
    reason_codes: dict[str, str]  # code -> label; empty: the global codes apply
    rules: RuleSet


@dataclass(frozen=True)
class WorkbinConfig:
    label: str
    channels: tuple[str, ...]


@dataclass
class Config:
    """Everything rules-as-code covers. Tuples are sorted; names are natural keys."""

    visible_by_default: tuple[str, ...] = ()
    reason_codes: dict[str, str] = field(default_factory=dict)
    rules: RuleSet = field(default_factory=dict)
    roles: dict[str, RoleConfig] = field(default_factory=dict)
    agents: dict[str, RuleSet] = field(default_factory=dict)  # username -> overrides
    workbins: dict[str, WorkbinConfig] = field(default_factory=dict)
    # Rule rows whose key the rulebook no longer knows (read from the database only): the
    # resolver ignores them, the file cannot hold them, an import deletes them.
    unknown_rules: list[tuple[str, str | None, str, str | None]] = field(default_factory=list)


class ExportError(Exception):
    """The database holds a rule value the rulebook cannot read; the message names the row."""


def rule_label(key: str, channel: str | None) -> str:
    return f"{key}[{channel}]" if channel else key


def note_key(key: str, channel: str | None) -> str:
    """How a note names its rule in the file: ``total_cap`` or ``channel_cap.voice``."""
    return f"{key}.{channel}" if channel else key


# -- the database -> Config ----------------------------------------------------------------------
def current_config() -> Config:
    """The configuration in the database now (a handful of queries, no per-row ones)."""
    config = Config(
        visible_by_default=_sorted(
            Channel.objects.filter(visible_by_default=True).values_list("code", flat=True)
        )
    )
    visible: dict[int, list[str]] = {}
    for role_id, code in Role.visible_channels.through.objects.values_list("role_id", "channel_id"):
        visible.setdefault(role_id, []).append(code)
    codes: dict[int | None, dict[str, str]] = {}
    for role_id, code, label in ReasonCode.objects.values_list("role_id", "code", "label"):
        codes.setdefault(role_id, {})[code] = label
    rules: dict[tuple[str, Any], RuleSet] = {}
    roles = list(Role.objects.all())
    role_names = {role.pk: role.name for role in roles}
    rows = Rule.objects.values_list(
        "scope", "role_id", "agent__user__username", "key", "channel_id", "value", "note"
    )
    for scope, role_id, username, key, channel, value, note in rows:
        target = role_names.get(role_id) if scope == "role" else username
        definition = RULES.get(key)
        if definition is None:
            config.unknown_rules.append((scope, target, key, channel))
            continue
        try:
            encoded = definition.encode(definition.parse(value))
        except RuleValueError as exc:
            where = {"role": f"role {target}", "agent": f"agent {target}"}.get(scope, scope)
            raise ExportError(
                f"The rule {rule_label(key, channel)} @ {where} holds {value!r}, which the "
                f"rulebook refuses ({exc}); fix it in the admin first."
            ) from None
        rules.setdefault((scope, target), {})[(key, channel)] = RuleEntry(encoded, note)
    config.reason_codes = _sorted_dict(codes.get(None, {}))
    config.rules = _sorted_rules(rules.get(("global", None), {}))
    for role in roles:
        config.roles[role.name] = RoleConfig(
            label=role.label,
            visible=_sorted(visible[role.pk]) if role.pk in visible else None,
            reason_codes=_sorted_dict(codes.get(role.pk, {})),
            rules=_sorted_rules(rules.get(("role", role.name), {})),
        )
    config.roles = _sorted_dict(config.roles)
    config.agents = _sorted_dict(
        {
            target: _sorted_rules(ruleset)
            for (scope, target), ruleset in rules.items()
            if scope == "agent"
        }
    )
    bins: dict[str, list[str]] = {}
    for name, code in Workbin.channels.through.objects.values_list("workbin__name", "channel_id"):
        bins.setdefault(name, []).append(code)
    config.workbins = _sorted_dict(
        {
            w.name: WorkbinConfig(label=w.label, channels=_sorted(bins.get(w.name, [])))
            for w in Workbin.objects.all()
        }
    )
    return config


def _sorted(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(values))


def _sorted_dict(values: dict[str, Any]) -> dict[str, Any]:
    # Python's order, never the database collation's (PostgreSQL's en_US ignores "-" and "_").
    return dict(sorted(values.items()))


def _sorted_rules(rules: RuleSet) -> RuleSet:
    return dict(sorted(rules.items(), key=lambda item: (item[0][0], item[0][1] or "")))


# -- Config -> the document -> text --------------------------------------------------------------
def to_document(config: Config) -> dict[str, Any]:
    """The file's content as plain JSON values, every key in the format's fixed order."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "about": ABOUT,
        "global": {
            "visible_channels": list(config.visible_by_default),
            "reason_codes": dict(config.reason_codes),
            **_rules_part(config.rules),
        },
        "roles": {
            name: {
                "label": role.label,
                "visible_channels": None if role.visible is None else list(role.visible),
                "reason_codes": dict(role.reason_codes),
                **_rules_part(role.rules),
            }
            for name, role in config.roles.items()
        },
        "agents": {
            username: _rules_part(rules) for username, rules in config.agents.items() if rules
        },
        "workbins": {
            name: {"label": workbin.label, "channels": list(workbin.channels)}
            for name, workbin in config.workbins.items()
        },
    }


def _rules_part(rules: RuleSet) -> dict[str, Any]:
    """``{"rules": {...}}`` plus ``"notes"`` when any rule has one. A per-channel rule is
    ``{channel: value}``."""
    values: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for (key, channel), entry in _sorted_rules(rules).items():
        if channel is None:
            values[key] = entry.value
        else:
            values.setdefault(key, OneLine())[channel] = entry.value
        if entry.note:
            notes[note_key(key, channel)] = entry.note
    return {"rules": values, "notes": notes} if notes else {"rules": values}


class OneLine(dict):
    """A per-channel rule's ``{channel: value}``: written on one line, like a list."""


def dumps(document: dict[str, Any]) -> str:
    """JSON, two-space indent, every list and per-channel rule on one line, a trailing
    newline; the order of the document's keys is kept (``to_document`` fixed it)."""
    return _emit(document, 0) + "\n"


def _emit(value: Any, level: int) -> str:
    if isinstance(value, OneLine):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "  " * (level + 1)
        items = [f"{pad}{_scalar(str(k))}: {_emit(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        # Lists in the format are leaves (channel codes, end events, [A, B] pairs): one line.
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return _scalar(value)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_snapshot() -> Config:
    """``current_config`` as one consistent view, even while an admin saves.

    Every configuration write bumps the ``RulesVersion`` row in its transaction
    (``cc_rules.signals``). Holding that row ``FOR SHARE`` (PostgreSQL) waits for a writer in
    flight to commit and keeps the next one from committing until the read is done, so an export
    never holds half of an admin's save or of an import. SQLite's transaction is one snapshot.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = RulesVersion._meta.db_table
                cursor.execute(f"SELECT 1 FROM {table} WHERE id = 1 FOR SHARE")
        return current_config()


def export_text() -> str:
    """The current configuration as the file's text."""
    return dumps(to_document(config_snapshot()))
