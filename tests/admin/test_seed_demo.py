"""``manage.py seed_demo``: the demo of issue 2, idempotent, refused when DEBUG is off."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.test import override_settings

from cc_rules.models import Agent, Contact, ContactPoint, ReasonCode, Role, Rule, Team
from cc_rules.selectors import effective_rules

pytestmark = pytest.mark.django_db

DEMO = json.loads((Path(settings.BASE_DIR) / "fixtures" / "demo.json").read_text())
CONFIG_MODELS = [
    "channel",
    "role",
    "reasoncode",
    "rule",
    "agent",
    "workbin",
    "contact",
    "contactpoint",
    "agentchannelstate",
    "statuschange",
    "team",
]


def seed() -> str:
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    counts = {name: apps.get_model("cc_rules", name).objects.count() for name in CONFIG_MODELS}
    counts["user"] = get_user_model().objects.count()
    counts["group"] = Group.objects.count()
    counts["role_channels"] = Role.visible_channels.through.objects.count()
    counts["user_groups"] = get_user_model().groups.through.objects.count()
    counts["team_agents"] = Team.agents.through.objects.count()
    counts["team_supervisors"] = Team.supervisors.through.objects.count()
    return counts


def rule_rows() -> list[tuple]:
    rows = Rule.objects.values_list("pk", "scope", "role", "agent", "key", "channel", "value")
    return sorted((*row[:-1], json.dumps(row[-1])) for row in rows)


def test_seeding_twice_leaves_the_same_rows():
    seed()
    first, rules = row_counts(), rule_rows()
    seed()
    assert row_counts() == first
    assert rule_rows() == rules


def test_seeding_twice_writes_no_rule_history():
    seed()
    before = Rule.history.count(), Team.history.count()
    seed()
    assert (Rule.history.count(), Team.history.count()) == before


def test_seeding_creates_no_duplicate_rules():
    seed()
    seed()
    duplicates = (
        Rule.objects.values("scope", "role", "agent", "key", "channel")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(duplicates) == []


def test_seeding_restores_a_demo_rule_changed_by_hand():
    seed()
    rule = Rule.objects.get(scope="role", role__name="blended", key="total_cap")
    rule.value = 99
    rule.save()
    seed()
    rule.refresh_from_db()
    assert rule.value == 6


@pytest.mark.parametrize("spec", DEMO["users"], ids=lambda spec: spec["username"])
def test_seeding_creates_each_demo_user_as_described(spec):
    seed()
    user = get_user_model().objects.get(username=spec["username"])
    assert user.check_password(settings.DEMO_PASSWORD)
    assert user.is_superuser == bool(spec.get("superuser"))
    assert user.is_staff == bool(spec.get("superuser") or spec.get("staff"))
    groups = set(user.groups.values_list("name", flat=True))
    assert set(spec.get("groups", [])) <= groups
    if "role" in spec:
        agent = Agent.objects.get(user=user)
        assert agent.role.name == spec["role"]
        assert agent.extension == spec.get("extension")
        assert "agent" in groups
    else:
        assert not Agent.objects.filter(user=user).exists()
        assert "agent" not in groups


def test_seeding_creates_the_demo_groups_roles_and_reason_codes():
    seed()
    assert {"agent", "supervisor", "compliance", "router"} <= set(
        Group.objects.values_list("name", flat=True)
    )
    assert set(Role.objects.values_list("name", flat=True)) == {
        "blended",
        "voice_only",
        "email_specialist",
        "single_task",
        "social",
    }
    assert set(ReasonCode.objects.filter(role=None).values_list("code", flat=True)) == {
        "break",
        "lunch",
        "meeting",
        "training",
    }


def test_seeding_creates_three_contacts_with_several_phones_and_emails():
    seed()
    assert Contact.objects.count() == 3
    for contact in Contact.objects.all():
        points = ContactPoint.objects.filter(contact=contact)
        assert points.filter(kind="phone").count() >= 2
        assert points.filter(kind="email").count() >= 1


@pytest.mark.parametrize(
    ("username", "channels"),
    [
        ("alice", {"voice", "email", "chat", "im"}),
        ("bob", {"voice", "im"}),
        ("erin", {"email"}),
        ("tom", {"voice", "email", "chat"}),
        ("sofia", {"chat", "facebook", "twitter", "workitem", "cobrowse"}),
    ],
)
def test_seeded_agents_see_their_roles_channels(username, channels):
    seed()
    assert effective_rules(Agent.objects.get(user__username=username)).visible == channels


def test_seeded_blended_role_has_the_caps_of_the_seed_text():
    seed()
    rules = effective_rules(Agent.objects.get(user__username="alice"))
    caps = {c: rules.value("channel_cap", c) for c in ("voice", "chat", "email")}
    assert caps == {"voice": 1, "chat": 2, "email": 3}
    assert rules.value("total_cap") == 6
    assert rules.value("acw_seconds", "voice") == 15


def test_the_first_run_prints_the_demo_users_and_password_and_the_second_does_not():
    first = seed()
    assert "alice" in first
    assert repr(settings.DEMO_PASSWORD) in first
    second = seed()
    assert "alice" not in second
    assert "already present" in second


@override_settings(DEMO_PASSWORD="s3cret-demo")
def test_the_password_comes_from_the_setting():
    seed()
    assert get_user_model().objects.get(username="alice").check_password("s3cret-demo")


def test_seeding_is_refused_when_debug_is_off():
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()
    assert not Role.objects.exists()


# -- teams (issue 16; DECISIONS.md "Demo teams") --------------------------------------------------
def test_the_demo_has_a_front_team_for_sam_and_a_back_team_for_nobody():
    seed()
    teams = {
        team.name: (
            {a.user.username for a in team.agents.all()},
            {u.username for u in team.supervisors.all()},
        )
        for team in Team.objects.all()
    }
    assert teams == {
        "front": ({"alice", "bob", "erin", "tom", "sofia"}, {"sam"}),
        "back": ({"nina"}, set()),
    }


def test_sam_reaches_his_team_through_the_api_and_nina_is_404(api):
    seed()
    sam = api("sam")
    listed = {a["username"] for a in sam.get("/api/v1/agents/").json()["results"]}
    assert listed == {"alice", "bob", "erin", "tom", "sofia"}
    assert sam.get("/api/v1/agents/alice/").status_code == 200
    nina = sam.get("/api/v1/agents/nina/")
    forced = sam.put(
        "/api/v1/agents/nina/channels/voice/status/", {"status": "not_ready"}, format="json"
    )
    assert nina.status_code == forced.status_code == 404
    assert nina.json() == {"code": "not_found", "detail": "No agent 'nina'.", "rule": None}
    assert api("admin").get("/api/v1/agents/nina/").status_code == 200
    assert api("cora").get("/api/v1/audit/time-in-status/", {"agent": "nina"}).status_code == 200
