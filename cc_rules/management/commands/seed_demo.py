"""Load the demo configuration (fixtures/demo.json) and the demo users. Idempotent.

Passwords come from ``DEMO_PASSWORD`` (default ``demo``) and are printed on the first run.
Refused when ``DEBUG`` is off: demo users with a known password never reach production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cc_rules.engine.rulebook import RULES
from cc_rules.models import (
    Agent,
    Channel,
    Contact,
    ContactPoint,
    ReasonCode,
    Role,
    Rule,
    Team,
    Workbin,
)
from cc_rules.permissions_setup import AGENT, ensure_groups

# fixtures/demo.json, through the package's demo_data link in a checkout and as the copy that the
# wheel carries once installed (pyproject.toml, package-data).
FIXTURE = Path(__file__).resolve().parents[2] / "demo_data" / "demo.json"


class Command(BaseCommand):
    help = "Load the demo roles, rules, users and contacts (idempotent; DEBUG only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, quiet: bool = False, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo is refused when DEBUG is off (demo passwords).")
        data = json.loads(FIXTURE.read_text())
        with transaction.atomic():
            created = seed(data, settings.DEMO_PASSWORD)
        if created and not quiet:
            names = ", ".join(created)
            self.stdout.write(f"Demo users created: {names} (password: {settings.DEMO_PASSWORD!r})")
        elif not quiet:
            self.stdout.write("Demo data already present; configuration refreshed.")


def _set_rule(scope: str, key: str, value: Any, *, role=None, agent=None, channel=None) -> None:
    definition = RULES[key]
    encoded = definition.encode(definition.parse(value))
    rule, _ = Rule.objects.get_or_create(
        scope=scope,
        role=role,
        agent=agent,
        key=key,
        channel_id=channel,
        defaults={"value": encoded},
    )
    if rule.value != encoded:
        rule.value = encoded
        rule.full_clean()
        rule.save()


def _set_rules(scope: str, rules: dict[str, Any], **target: Any) -> None:
    for key, value in rules.items():
        if RULES[key].per_channel:
            for channel, per_channel in value.items():
                _set_rule(scope, key, per_channel, channel=channel, **target)
        else:
            _set_rule(scope, key, value, **target)


def _upsert(model, lookup: dict[str, Any], values: dict[str, Any]):
    """get_or_create, saving only on a real change: a re-run writes no history rows and
    leaves the rules version alone (compliance reads rule-change history)."""
    row, created = model.objects.get_or_create(**lookup, defaults=values)
    changed = [k for k, v in values.items() if getattr(row, k) != v]
    if not created and changed:
        for key in changed:
            setattr(row, key, values[key])
        row.save(update_fields=changed)
    return row


def seed(data: dict[str, Any], password: str) -> list[str]:
    groups = ensure_groups()
    for code in data["reason_codes"]:
        _upsert(ReasonCode, {"role": None, "code": code["code"]}, {"label": code["label"]})
    _set_rules("global", data["global_rules"])
    for wb in data["workbins"]:
        workbin = _upsert(Workbin, {"name": wb["name"]}, {"label": wb["label"]})
        workbin.channels.set(Channel.objects.filter(code__in=wb["channels"]))
    roles = {}
    for spec in data["roles"]:
        role = _upsert(Role, {"name": spec["name"]}, {"label": spec["label"]})
        role.visible_channels.set(Channel.objects.filter(code__in=spec["visible"]))
        _set_rules("role", spec["rules"], role=role)
        roles[role.name] = role
    User = get_user_model()
    created = []
    for spec in data["users"]:
        user, was_created = User.objects.get_or_create(
            username=spec["username"],
            defaults={"email": spec.get("email", ""), "first_name": spec.get("first_name", "")},
        )
        if was_created:
            user.set_password(password)
            created.append(user.username)
        user.is_superuser = user.is_staff = bool(spec.get("superuser"))
        user.is_staff = user.is_staff or bool(spec.get("staff"))
        user.save()
        names = list(spec.get("groups", []))
        if "role" in spec:
            names.append(AGENT)
            agent, _ = Agent.objects.get_or_create(
                user=user, defaults={"role": roles[spec["role"]]}
            )
            changed = []
            if agent.role_id != roles[spec["role"]].pk:
                agent.role = roles[spec["role"]]
                changed.append("role")
            if agent.extension != spec.get("extension"):
                agent.extension = spec.get("extension")
                changed.append("extension")
            if changed:
                agent.save(update_fields=changed)
        user.groups.set([groups[name] for name in names])
    for spec in data.get("teams", []):
        team = _upsert(Team, {"name": spec["name"]}, {"label": spec["label"]})
        agents = set(
            Agent.objects.filter(user__username__in=spec["agents"]).values_list("pk", flat=True)
        )
        if set(team.agents.values_list("pk", flat=True)) != agents:
            team.agents.set(agents)
        supervisors = set(
            User.objects.filter(username__in=spec["supervisors"]).values_list("pk", flat=True)
        )
        if set(team.supervisors.values_list("pk", flat=True)) != supervisors:
            team.supervisors.set(supervisors)
    for spec in data["contacts"]:
        contact, _ = Contact.objects.get_or_create(name=spec["name"])
        for phone in spec["phones"]:
            ContactPoint.objects.get_or_create(contact=contact, kind="phone", value=phone)
        for email in spec["emails"]:
            ContactPoint.objects.get_or_create(contact=contact, kind="email", value=email)
    return created
