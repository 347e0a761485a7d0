"""Teams in the admin and the dashboards (issue 16, item 1): a supervisor's lists hold only
their teams' agents' rows, another team's object page is 404 (as an unknown id, never 403),
and the time-in-status dashboard counts their teams only. Superusers and compliance see all.

The cast: alice and bob in team ``front`` (supervised by sam), olga in team ``back``
(supervised by sue); cora (compliance), admin (superuser). alice and olga are logged in (status
rows), each has an interaction and an agent-scope rule; one global rule applies to everyone.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cc_rules.models import AgentChannelState, Interaction, Rule, StatusChange, Team
from tests.factories import (
    InteractionFactory,
    RuleFactory,
    a_compliance_officer,
    a_role,
    a_supervisor,
    a_team,
    a_user,
    an_agent,
)

from .changeform import changeform_data

pytestmark = pytest.mark.django_db

TEAMS = {"sam": {"alice", "bob"}, "sue": {"olga"}}
EVERYONE = {"alice", "bob", "olga"}


@pytest.fixture
def cast(db):
    role = a_role("floor", visible=["voice", "chat"])
    override = {"channel_cap": {"chat": 2}}
    alice = an_agent("alice", role=role, logged_in=True, rules=override)
    bob = an_agent("bob", role=role)
    olga = an_agent("olga", role=role, logged_in=True, rules=override)
    a_team("front", agents=[alice, bob], supervisors=[a_supervisor("sam")])
    a_team("back", agents=[olga], supervisors=[a_supervisor("sue")])
    a_compliance_officer("cora")
    a_user("admin", is_superuser=True, is_staff=True)
    for agent in (alice, olga):
        InteractionFactory(agent=agent, channel_id="chat", state="ended")
    RuleFactory(key="total_cap", value=3)
    return {"alice": alice, "bob": bob, "olga": olga}


def as_user(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def url(name: str, *args) -> str:
    return reverse(f"admin:cc_rules_{name}", args=args)


# The admin lists that hold agents' rows, and the agent each row belongs to.
LISTS = {
    "agent": lambda obj: obj.user.username,
    "statuschange": lambda obj: obj.agent.user.username,
    "agentchannelstate": lambda obj: obj.agent.user.username,
    "interaction": lambda obj: obj.agent.user.username,
}


def listed(client, model: str) -> set[str]:
    response = client.get(url(f"{model}_changelist"))
    assert response.status_code == 200
    return {LISTS[model](obj) for obj in response.context["cl"].result_list}


PAGES = [
    "agent_change",
    "agent_simulate",
    "agent_history",
    "statuschange_change",
    "agentchannelstate_change",
    "interaction_change",
    "rule_change",
    "rule_history",
    "historicalrule_change",
]


def objects_of(agent) -> dict[str, list[int]]:
    """The admin object pages that belong to ``agent``: (url name, pk)."""
    return {
        "agent_change": [agent.pk],
        "agent_simulate": [agent.pk],
        "agent_history": [agent.pk],
        "statuschange_change": [StatusChange.objects.filter(agent=agent).first().pk],
        "agentchannelstate_change": [AgentChannelState.objects.filter(agent=agent).first().pk],
        "interaction_change": [Interaction.objects.filter(agent=agent).first().pk],
        "rule_change": [Rule.objects.get(agent=agent).pk],
        "rule_history": [Rule.objects.get(agent=agent).pk],
        "historicalrule_change": [Rule.history.filter(agent_id=agent.pk).first().pk],
    }


# -- lists ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", LISTS)
@pytest.mark.parametrize(
    ("username", "sees"),
    [("sam", {"alice", "bob"}), ("sue", {"olga"}), ("cora", EVERYONE), ("admin", EVERYONE)],
)
def test_a_supervisors_lists_hold_only_their_teams_agents(client, cast, model, username, sees):
    shown = listed(as_user(client, username), model)
    assert shown <= sees
    if model == "agent":
        assert shown == sees
    else:  # bob has no rows of these kinds; alice and olga have
        assert shown == sees - {"bob"}


@pytest.mark.parametrize(
    ("username", "overrides"),
    [
        ("sam", {"alice"}),
        ("sue", {"olga"}),
        ("cora", {"alice", "olga"}),
        ("admin", {"alice", "olga"}),
    ],
)
def test_rules_show_global_and_role_rows_and_only_the_teams_overrides(
    client, cast, username, overrides
):
    as_user(client, username)
    rules = client.get(url("rule_changelist")).context["cl"].result_list
    assert {r.agent.user.username for r in rules if r.agent_id} == overrides
    assert any(r.scope == "global" for r in rules)
    history = client.get(url("historicalrule_changelist")).context["cl"].result_list
    agents = {cast[name].pk: name for name in EVERYONE}
    assert {agents[r.agent_id] for r in history if r.agent_id} == overrides
    assert any(r.agent_id is None for r in history)


def test_the_ledgers_agent_filter_offers_only_the_teams_agents(client, cast):
    html = as_user(client, "sam").get(url("statuschange_changelist")).content.decode()
    assert "?agent=alice" in html
    assert "agent=olga" not in html
    assert ">olga<" not in html


def test_the_agent_autocomplete_offers_only_the_teams_agents(client, cast):
    as_user(client, "sam")
    query = {"app_label": "cc_rules", "model_name": "rule", "field_name": "agent", "term": ""}
    response = client.get(reverse("admin:autocomplete"), query)
    assert response.status_code == 200
    assert {r["text"] for r in response.json()["results"]} == {"alice", "bob"}


# -- object pages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_another_teams_object_page_is_404_for_a_supervisor(client, cast, page):
    as_user(client, "sam")
    own = client.get(url(page, *objects_of(cast["alice"])[page]))
    other = client.get(url(page, *objects_of(cast["olga"])[page]))
    assert own.status_code == 200
    assert other.status_code == 404  # as if it did not exist: not 403, not a redirect


@pytest.mark.parametrize("username", ["cora", "admin"])
def test_compliance_and_superusers_open_every_agents_pages(client, cast, username):
    as_user(client, username)
    for page, args in objects_of(cast["olga"]).items():
        assert client.get(url(page, *args)).status_code == 200, page


def test_an_unknown_id_and_another_teams_id_get_the_same_answer(client, cast):
    as_user(client, "sam")
    other = client.get(url("agent_change", cast["olga"].pk))
    unknown = client.get(url("agent_change", 999_999))
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert client.get(url("agent_simulate", 999_999)).status_code == 404
    assert client.get(url("rule_history", "not-a-number")).status_code == 404


def test_a_supervisor_cannot_read_another_teams_rule_version(client, cast):
    rule = Rule.objects.get(agent=cast["olga"])
    version = rule.history.first()
    as_user(client, "sam")
    response = client.get(reverse("admin:cc_rules_rule_simple_history", args=[rule.pk, version.pk]))
    assert response.status_code == 404
    as_user(client, "admin")
    response = client.get(reverse("admin:cc_rules_rule_simple_history", args=[rule.pk, version.pk]))
    assert response.status_code == 200


def test_the_agent_page_names_the_agents_teams(client, cast):
    html = as_user(client, "admin").get(url("agent_change", cast["alice"].pk)).content.decode()
    teams = re.compile(r"<label>Teams:</label>\s*<div class=\"readonly\">([^<]*)</div>")
    assert teams.search(html).group(1) == "front"
    a_team("night", agents=[cast["alice"]])
    html = client.get(url("agent_change", cast["alice"].pk)).content.decode()
    assert teams.search(html).group(1) == "front, night"
    lonely = an_agent("lonely")
    html = client.get(url("agent_change", lonely.pk)).content.decode()
    assert teams.search(html).group(1) == "none: no supervisor sees this agent"


# -- the time-in-status dashboard -----------------------------------------------------------------
DASHBOARD = "/admin/dashboard/"


@pytest.mark.parametrize(
    ("username", "sees"),
    [
        ("sam", {"alice"}),
        ("sue", {"olga"}),
        ("cora", {"alice", "olga"}),
        ("admin", {"alice", "olga"}),
    ],
)
def test_the_time_in_status_dashboard_counts_only_the_teams_agents(client, cast, username, sees):
    response = as_user(client, username).get(DASHBOARD)
    assert response.status_code == 200
    charts = {c["agent"] for c in response.context["chart_data"]["charts"]}
    assert charts == {row["agent"] for row in response.context["table"]} == sees
    choices = {value for value, _ in response.context["form"].fields["agent"].choices if value}
    assert choices == ({"alice", "bob"} if username == "sam" else TEAMS.get(username, EVERYONE))


def test_a_supervisor_cannot_pick_another_teams_agent_on_the_dashboard(client, cast):
    response = as_user(client, "sam").get(DASHBOARD, {"agent": "olga"})
    assert response.status_code == 200
    assert "agent" in response.context["form"].errors
    assert {c["agent"] for c in response.context["chart_data"]["charts"]} == {"alice"}
    assert b">olga<" not in response.content


# -- the team admin -------------------------------------------------------------------------------
def test_teams_are_listed_on_the_admin_index(client, cast):
    for username in ("admin", "sam", "cora"):
        html = as_user(client, username).get(reverse("admin:index")).content.decode()
        assert url("team_changelist") in html, username


@pytest.mark.parametrize(
    ("username", "teams"),
    [
        ("sam", {"front"}),
        ("sue", {"back"}),
        ("cora", {"front", "back"}),
        ("admin", {"front", "back"}),
    ],
)
def test_a_supervisor_reads_only_their_own_teams(client, cast, username, teams):
    as_user(client, username)
    shown = client.get(url("team_changelist")).context["cl"].result_list
    assert {t.name for t in shown} == teams
    for team in Team.objects.all():
        expected = 200 if team.name in teams else 404
        assert client.get(url("team_change", team.pk)).status_code == expected, team.name
        assert client.get(url("team_history", team.pk)).status_code == expected, team.name


def test_a_supervisor_views_their_team_read_only(client, cast):
    front = Team.objects.get(name="front")
    response = as_user(client, "sam").get(url("team_change", front.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in html
    assert "alice" in html
    assert "olga" not in html
    assert client.post(url("team_change", front.pk), {"name": "taken"}).status_code == 403
    assert Team.objects.get(pk=front.pk).name == "front"


def _team_form(client, **changes):
    response = client.get(url("team_add"))
    data = {**changeform_data(response), "name": "evening", **changes}
    return client.post(url("team_add"), data)


def test_a_team_is_supervised_only_by_active_users_in_the_supervisor_group(client, cast):
    as_user(client, "admin")
    form = client.get(url("team_add")).context["adminform"].form
    offered = {u.username for u in form.fields["supervisors"].queryset}
    assert offered == {"sam", "sue"}
    alice_user = cast["alice"].user
    response = _team_form(client, supervisors=[str(alice_user.pk)])
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["supervisors"]
    assert "Only active users in the supervisor group can supervise a team" in errors[0]
    assert not Team.objects.filter(name="evening").exists()

    sam = get_user_model().objects.get(username="sam")
    response = _team_form(
        client, supervisors=[str(sam.pk)], agents=[str(cast["bob"].pk), str(cast["olga"].pk)]
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    evening = Team.objects.get(name="evening")
    assert {a.user.username for a in evening.agents.all()} == {"bob", "olga"}
    assert list(evening.supervisors.all()) == [sam]


def test_a_supervisor_who_left_the_group_is_named_when_the_team_is_saved(client, cast):
    sue = get_user_model().objects.get(username="sue")
    sue.is_active = False
    sue.save()
    back = Team.objects.get(name="back")
    as_user(client, "admin")
    page = client.get(url("team_change", back.pk))
    data = {**changeform_data(page), "label": "Back office"}
    response = client.post(url("team_change", back.pk), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["supervisors"]
    assert errors == [
        "Only active users in the supervisor group can supervise a team: sue is not. Add them "
        "to the supervisor group on their user page, or remove them here."
    ]


def test_the_team_page_picks_agents_with_autocomplete(client, cast):
    html = as_user(client, "admin").get(url("team_add")).content.decode()
    select = re.search(r'<select name="agents"[^>]*>', html).group(0)
    assert 'class="admin-autocomplete"' in select
    assert 'data-field-name="agents"' in select


def test_the_integrity_page_compares_only_the_teams_agents(client, cast, settings, tmp_path):
    from cc_rules.services.checkpoints import write_checkpoint

    settings.CC_CHECKPOINT_DIR = tmp_path
    write_checkpoint()
    for username, sees in [("sam", {"alice", "bob"}), ("cora", EVERYONE)]:
        page = as_user(client, username).get(DASHBOARD + "integrity/")
        assert page.status_code == 200
        assert {row["agent"] for row in page.context["compared"]} == sees, username
