"""Reading a rules file and checking all of it before anything is written (``import_rules``).

Every problem is collected, not only the first, each with its place in the file
(``roles[blended].rules.channel_cap.voice: A cap cannot be negative.``), so one run shows an
admin everything to fix. Rule values go through the same checks as every other writer: the
rulebook's parser and ``Rule.clean`` (``full_clean``), with the reason codes the *file* defines
standing in for the database's (``Rule.reason_codes_in_scope``); labels, names and codes through
their models' ``full_clean``. What needs the database is read once into ``Known``: the agents
(they must exist; their role is not rules-as-code) and the workbins interactions were moved to.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Count, Model

from cc_rules.engine.rulebook import RULES
from cc_rules.models import Agent, Channel, Interaction, ReasonCode, Role, Rule, Workbin

from .rules_file import (
    FORMAT,
    VERSION,
    Config,
    RoleConfig,
    RuleEntry,
    RuleId,
    RuleSet,
    WorkbinConfig,
    note_key,
)

TOP = ("format", "version", "global", "roles", "agents", "workbins")
GLOBAL = ("visible_channels", "reason_codes", "rules")
ROLE = ("label", "visible_channels", "reason_codes", "rules")
AGENT = ("rules",)
WORKBIN = ("label", "channels")


class FileSyntaxError(ValueError):
    """The text is not JSON; the message says where."""


class _Object(dict):
    """A JSON object that remembers the keys it saw more than once (``json`` would silently
    keep the last one, and a duplicated role or rule would go unnoticed)."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    twice = []
    for key, value in pairs:
        if key in obj:
            twice.append(key)
        obj[key] = value
    obj.duplicates = tuple(dict.fromkeys(twice))
    return obj


def _no_constant(name: str) -> Any:
    raise FileSyntaxError(f"{name} is not a JSON value")


def parse_text(text: str) -> Any:
    """The JSON value of ``text``; ``FileSyntaxError`` names the line and column."""
    try:
        return json.loads(text, object_pairs_hook=_object_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FileSyntaxError(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


@dataclass(frozen=True)
class Known:
    """What the check reads from the database (in the import's transaction)."""

    channels: frozenset[str]
    agent_roles: dict[str, str]  # username -> role name, every agent (active or not)
    workbin_use: dict[str, int]  # workbin name -> interactions moved to it


def known_now() -> Known:
    used = (
        Interaction.objects.filter(workbin__isnull=False)
        .values("workbin__name")
        .annotate(n=Count("id"))
        .values_list("workbin__name", "n")
    )
    return Known(
        channels=frozenset(Channel.objects.values_list("code", flat=True)),
        agent_roles=dict(Agent.objects.values_list("user__username", "role__name")),
        workbin_use=dict(used),
    )


def check_document(document: Any, known: Known) -> tuple[Config | None, list[str]]:
    """The configuration the document describes, or ``None`` and every problem found."""
    checker = _Checker(known)
    config = checker.document(document)
    return (None, checker.problems) if checker.problems else (config, [])


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _at(where: str, name: str) -> str:
    return f"{where}[{name}]"


class _Checker:
    def __init__(self, known: Known) -> None:
        self.known = known
        self.problems: list[str] = []
        self.workbin_channels = frozenset(
            Workbin._meta.get_field("channels").remote_field.limit_choices_to["code__in"]  # type: ignore[index]
        )

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where or 'the file'}: {message}")

    # -- shapes ------------------------------------------------------------------------------------
    def obj(
        self,
        value: Any,
        where: str,
        *,
        fields: tuple[str, ...] | None = None,
        optional: tuple[str, ...] = (),
        what: str = "an object",
        dotted: bool = False,
    ) -> dict[str, Any] | None:
        """``value`` as an object: with exactly ``fields`` (+ ``optional``) when given, else
        any names (roles, channels, …). Duplicated names are problems, placed as
        ``where.name`` (fields, rules, channels: ``dotted``) or ``where[name]``."""
        if not isinstance(value, dict):
            self.problem(where, f"expected {what}, found {_kind(value)}")
            return None
        for key in getattr(value, "duplicates", ()):
            name = f"{where}.{key}" if fields is not None or dotted else _at(where, key)
            self.problem(name.lstrip("."), "appears more than once")
        if fields is not None:
            for key in value:
                if key not in fields and key not in optional:
                    expected = ", ".join(fields + optional)
                    self.problem(f"{where}.{key}".lstrip("."), f"unknown key (expected {expected})")
            for key in fields:
                if key not in value:
                    self.problem(where, f"{key!r} is missing")
        return value

    def text(self, value: Any, where: str) -> str | None:
        if not isinstance(value, str):
            self.problem(where, f"expected a text, found {_kind(value)}")
            return None
        if "\x00" in value:
            self.problem(where, "contains a NUL character, which the database cannot store")
            return None
        return value

    def channels(self, value: Any, where: str, allowed: frozenset[str]) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, f"expected a list of channel codes, found {_kind(value)}")
            return None
        ok = True
        unknown = [v for v in value if v not in allowed]
        if unknown:
            self.problem(
                where,
                f"not channel(s) here: {', '.join(unknown)} (one of {', '.join(sorted(allowed))})",
            )
            ok = False
        twice = sorted({v for v in value if value.count(v) > 1})
        if twice:
            self.problem(where, f"listed more than once: {', '.join(twice)}")
            ok = False
        return tuple(sorted(value)) if ok else None

    def model(self, row: Model, where: str, fields: dict[str, str], **options: Any) -> bool:
        """``row.full_clean`` (no uniqueness: the file's names are unique by construction);
        each message goes to the place ``fields`` maps its field to (default ``where``)."""
        try:
            row.full_clean(validate_unique=False, validate_constraints=False, **options)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    at = fields.get(field, where)
                    if field in fields or field in ("value", NON_FIELD_ERRORS):
                        self.problem(at, message)
                    else:
                        self.problem(at, f"{field}: {message}")
            return False
        return True

    # -- the document ------------------------------------------------------------------------------
    def document(self, document: Any) -> Config:
        config = Config()
        top = self.obj(document, "", fields=TOP, optional=("about",))
        if top is None:
            return config
        if "format" in top and top["format"] != FORMAT:
            self.problem("format", f"expected {FORMAT!r}: is this a cc-rules configuration file?")
            return config
        version = top.get("version", VERSION)
        if isinstance(version, bool) or version != VERSION:
            self.problem("version", f"this cc-rules reads version {VERSION}, not {version!r}")
            return config
        if "about" in top:
            self.text(top["about"], "about")

        part = self.obj(top.get("global"), "global", fields=GLOBAL, optional=("notes",))
        if part is not None:
            visible = part.get("visible_channels", [])
            at = "global.visible_channels"
            config.visible_by_default = self.channels(visible, at, self.known.channels) or ()
            config.reason_codes = self.reason_codes(part.get("reason_codes"), "global.reason_codes")
            config.rules = self.rules(part, "global", scope="global", codes=config.reason_codes)

        roles = self.obj(top.get("roles"), "roles", what="an object {role name: role}")
        for name, spec in sorted((roles or {}).items()):
            role = self.role(name, spec, config.reason_codes)
            if role is not None:
                config.roles[name] = role

        agents = self.obj(top.get("agents"), "agents", what="an object {username: overrides}")
        for username, spec in sorted((agents or {}).items()):
            rules = self.agent(username, spec, config)
            if rules is not None:
                config.agents[username] = rules

        workbins = self.obj(top.get("workbins"), "workbins", what="an object {name: workbin}")
        for name, spec in sorted((workbins or {}).items()):
            workbin = self.workbin(name, spec)
            if workbin is not None:
                config.workbins[name] = workbin

        self.deletions(roles, workbins)
        return config

    def reason_codes(self, value: Any, where: str) -> dict[str, str]:
        found = self.obj(value, where, what="an object {code: label}")
        codes = {}
        for code, label in sorted((found or {}).items()):
            at = _at(where, code)
            label = self.text(label, at)
            if label is None:
                continue
            row = ReasonCode(code=code, label=label)
            if self.model(row, at, {}, exclude=["role"]):
                codes[code] = label
        return codes

    def role(self, name: str, spec: Any, global_codes: dict[str, str]) -> RoleConfig | None:
        where = _at("roles", name)
        part = self.obj(spec, where, fields=ROLE, optional=("notes",))
        if part is None:
            return None
        ok = True
        label = self.text(part.get("label", ""), f"{where}.label")
        if label is None or not self.model(
            Role(name=name, label=label), where, {"label": f"{where}.label"}
        ):
            ok = False
        visible = part.get("visible_channels")
        if visible is not None:
            if visible == []:
                self.problem(
                    f"{where}.visible_channels",
                    "an empty list: write null for the channels visible by default (a role "
                    "that chooses none inherits them; it cannot see no channel)",
                )
                ok = False
            else:
                visible = self.channels(visible, f"{where}.visible_channels", self.known.channels)
                ok = ok and visible is not None
        codes = self.reason_codes(part.get("reason_codes"), f"{where}.reason_codes")
        before = len(self.problems)
        rules = self.rules(part, where, scope="role", codes=codes or global_codes)
        if not ok or len(self.problems) > before:
            return None
        return RoleConfig(label=label or "", visible=visible, reason_codes=codes, rules=rules)

    def agent(self, username: str, spec: Any, config: Config) -> RuleSet | None:
        where = _at("agents", username)
        part = self.obj(spec, where, fields=AGENT, optional=("notes",))
        role = self.known.agent_roles.get(username)
        if role is None:
            self.problem(
                where,
                "no agent has this username (agents are created in the admin, with their role, "
                "before an import names them)",
            )
        if part is None:
            return None
        in_file = config.roles.get(role) if role else None
        codes = (in_file.reason_codes if in_file else {}) or config.reason_codes
        rules = self.rules(part, where, scope="agent", codes=codes)
        return rules if role is not None else None

    def workbin(self, name: str, spec: Any) -> WorkbinConfig | None:
        where = _at("workbins", name)
        part = self.obj(spec, where, fields=WORKBIN)
        if part is None:
            return None
        label = self.text(part.get("label", ""), f"{where}.label")
        ok = label is not None and self.model(
            Workbin(name=name, label=label), where, {"label": f"{where}.label"}
        )
        channels = self.channels(
            part.get("channels", []), f"{where}.channels", self.workbin_channels
        )
        if not ok or channels is None:
            return None
        return WorkbinConfig(label=label or "", channels=channels)

    def deletions(self, roles: dict[str, Any] | None, workbins: dict[str, Any] | None) -> None:
        """Rows the import would delete that something still needs: refused, by name."""
        if roles is not None:
            users: dict[str, list[str]] = {}
            for username, role in self.known.agent_roles.items():
                users.setdefault(role, []).append(username)
            for role, names in sorted(users.items()):
                if role not in roles:
                    self.problem(
                        _at("roles", role),
                        f"not in the file, but agents have this role: {', '.join(sorted(names))}"
                        " (keep the role, or give them another one in the admin first)",
                    )
        if workbins is not None:
            for name, count in sorted(self.known.workbin_use.items()):
                if name not in workbins:
                    self.problem(
                        _at("workbins", name),
                        f"not in the file, but {count} interaction(s) were moved to it "
                        "(keep the workbin)",
                    )

    # -- rules -------------------------------------------------------------------------------------
    def rules(
        self, part: dict[str, Any], where: str, *, scope: str, codes: dict[str, str]
    ) -> RuleSet:
        """The rules (and their notes) of one scope; ``codes``: the reason codes rules of this
        scope may name (the role's own, else the global ones), as the file defines them."""
        notes = self.notes(part["notes"], f"{where}.notes") if "notes" in part else {}
        found = self.obj(
            part.get("rules"), f"{where}.rules", what="an object {rule: value}", dotted=True
        )
        rules: RuleSet = {}
        named: set[RuleId] = set()
        in_scope = frozenset(codes)
        for key, value in sorted((found or {}).items()):
            at = f"{where}.rules.{key}"
            definition = RULES.get(key)
            if definition is None:
                close = difflib.get_close_matches(key, list(RULES), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(
                    at, f"unknown rule{hint}; the rules are in cc_rules/engine/rulebook.py"
                )
                continue
            if not definition.per_channel:
                named.add((key, None))
                entry = self.rule(scope, key, None, value, notes.get((key, None)), at, in_scope)
                if entry is not None:
                    rules[(key, None)] = entry
                continue
            per_channel = self.obj(
                value,
                at,
                what="an object {channel: value} (this rule is set per channel)",
                dotted=True,
            )
            for channel, channel_value in sorted((per_channel or {}).items()):
                if channel not in self.known.channels:
                    self.problem(
                        f"{at}.{channel}",
                        f"unknown channel (one of {', '.join(sorted(self.known.channels))})",
                    )
                    continue
                named.add((key, channel))
                entry = self.rule(
                    scope,
                    key,
                    channel,
                    channel_value,
                    notes.get((key, channel)),
                    f"{at}.{channel}",
                    in_scope,
                )
                if entry is not None:
                    rules[(key, channel)] = entry
        for rule_id in sorted(set(notes) - named, key=lambda r: (r[0], r[1] or "")):
            self.problem(
                _at(f"{where}.notes", note_key(*rule_id)),
                "a note for a rule this part of the file does not set",
            )
        return rules

    def notes(self, value: Any, where: str) -> dict[RuleId, str]:
        found = self.obj(value, where, what="an object {rule: note}")
        notes: dict[RuleId, str] = {}
        for name, note in sorted((found or {}).items()):
            at = _at(where, name)
            key, _, channel = name.partition(".")
            definition = RULES.get(key)
            note = self.text(note, at)
            if definition is None:
                self.problem(at, "names no rule of the rulebook")
            elif definition.per_channel and not channel:
                self.problem(at, f"{key} is set per channel: name the note {key}.CHANNEL")
            elif not definition.per_channel and channel:
                self.problem(at, f"{key} is not set per channel: name the note {key}")
            elif note is not None:
                notes[(key, channel or None)] = note
        return notes

    def rule(
        self,
        scope: str,
        key: str,
        channel: str | None,
        value: Any,
        note: str | None,
        where: str,
        codes: frozenset[str],
    ) -> RuleEntry | None:
        """One value through ``Rule.full_clean``: the rulebook's parser, the scope and channel
        checks, the reason-code check against the file's codes, the note's length."""
        row = Rule(scope=scope, key=key, channel_id=channel, value=value, note=note or "")
        row.reason_codes_in_scope = codes
        if not self.model(row, where, {}, exclude=["role", "agent", "channel"]):
            return None
        return RuleEntry(row.value, row.note)
