"""Reading who changed which rule, role or reason code, when (R16), and how a rule's scope reads.

The history itself is kept by django-simple-history; nothing here writes. ``scope_label`` is
the one wording of a scope ("role blended", "agent alice", "global") for the audit API and
the admin pages.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet, Value

from cc_rules.choices import Scope
from cc_rules.models import Agent, ReasonCode, Role, Rule

RULE_HISTORIES = {"rule": Rule, "role": Role, "reason_code": ReasonCode}
ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def scope_label(
    scope: str,
    *,
    role: Any = None,
    agent: Any = None,
    everyone: str = "global",
    default: str = "default (built in)",
) -> str:
    """Whom a rule of ``scope`` applies to: ``role <role>``, ``agent <agent>`` or ``everyone``.

    ``role``/``agent`` name the target (left out when ``None``); a scope that no rule row has
    (the engine's built-in default) reads as ``default``.
    """
    if scope == Scope.ROLE:
        return f"role {role}" if role is not None else "role"
    if scope == Scope.AGENT:
        return f"agent {agent}" if agent is not None else "agent"
    if scope == Scope.GLOBAL:
        return everyone
    return default


def reason_code_label(code: str, role: Any = None) -> str:
    """``away (blended)`` for a role's reason code, ``away (global)`` for everyone's."""
    return f"{code} ({role if role is not None else 'global'})"


def rule_change_keys(
    model: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> QuerySet:
    """``(history date, history id, model)`` of every change in ``[since, until)``, newest
    first, over one model or all three: one UNION query, so a page of it is cheap."""
    parts = []
    for name, history_model in RULE_HISTORIES.items():
        if model not in (None, name):
            continue
        qs = history_model.history.all()  # type: ignore[attr-defined]
        if since is not None:
            qs = qs.filter(history_date__gte=since)
        if until is not None:
            qs = qs.filter(history_date__lt=until)
        parts.append(
            qs.order_by()
            .annotate(model=Value(name))
            .values_list("history_date", "history_id", "model")
        )
    first, *rest = parts
    return first.union(*rest, all=True).order_by("-history_date", "-history_id")


def rule_changes(keys: list[tuple[datetime, int, str]]) -> list[dict[str, Any]]:
    """Expand ``(date, history id, model)`` keys into changes with old and new values."""
    records: dict[tuple[str, int], Any] = {}
    previous: dict[tuple[str, int], Any] = {}
    for name, model in RULE_HISTORIES.items():
        ids = [hid for _, hid, m in keys if m == name]
        if not ids:
            continue
        history = model.history  # type: ignore[attr-defined]
        page = {h.history_id: h for h in history.filter(history_id__in=ids)}
        records.update({(name, hid): h for hid, h in page.items()})
        object_ids = {h.id for h in page.values()}
        chain: dict[int, list[Any]] = {}
        for h in history.filter(id__in=object_ids).order_by("history_date", "history_id"):
            chain.setdefault(h.id, []).append(h)
        for versions in chain.values():
            for before, after in itertools.pairwise(versions):
                previous[(name, after.history_id)] = before
    users = _usernames(h.history_user_id for h in records.values())
    labels = _Labels()
    out = []
    for _date, hid, name in keys:
        record = records.get((name, hid))
        if record is None:
            continue
        new = _values(record)
        before = previous.get((name, hid))
        old = _values(before) if before is not None else {}
        if record.history_type == "-":
            changes = [{"field": f, "old": v, "new": None} for f, v in sorted(new.items())]
        else:
            changes = [
                {"field": f, "old": old.get(f), "new": v}
                for f, v in sorted(new.items())
                if before is None or old.get(f) != v
            ]
        out.append(
            {
                "id": f"{name}:{hid}",
                "model": name,
                "object_id": record.id,
                "object": labels.label(name, record),
                "action": ACTIONS[record.history_type],
                "who": users.get(record.history_user_id),
                "when": record.history_date,
                "reason": record.history_change_reason,
                "changes": changes,
            }
        )
    return out


def _values(record: Any) -> dict[str, Any]:
    values = {}
    for field in record.tracked_fields:
        if field.primary_key or not field.editable:
            continue
        values[field.name] = _plain(getattr(record, field.attname))
    for field in getattr(record, "_history_m2m_fields", ()):
        rows = getattr(record, field.name).all()
        target = field.m2m_reverse_field_name()
        values[field.name] = sorted(_plain(getattr(r, f"{target}_id")) for r in rows)
    return values


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _usernames(ids: Any) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    User = get_user_model()
    return dict(User.objects.filter(pk__in=wanted).values_list("pk", User.USERNAME_FIELD))


class _Labels:
    """Human names for historical rows, tolerant of roles and agents deleted since."""

    def __init__(self) -> None:
        self.roles = dict(Role.objects.values_list("id", "name"))
        self.agents = dict(Agent.objects.values_list("id", "user__username"))

    def label(self, model: str, record: Any) -> str:
        if model == "role":
            return record.name
        if model == "reason_code":
            role = self.roles.get(record.role_id, f"role #{record.role_id}")
            return reason_code_label(record.code, role if record.role_id else None)
        where = f"[{record.channel_id}]" if record.channel_id else ""
        target = scope_label(
            record.scope,
            role=self.roles.get(record.role_id, f"#{record.role_id}"),
            agent=self.agents.get(record.agent_id, f"#{record.agent_id}"),
        )
        return f"{record.key}{where} @ {target}"
