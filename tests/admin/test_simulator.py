"""The admin decision simulator: the engine's answer for one agent, channel and direction now
(DECISIONS.md: "the admin simulator answers allowed: false, code: channel_not_visible")."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cc_rules.models import Agent, Interaction, StatusChange
from cc_rules.services import status as status_service

pytestmark = pytest.mark.django_db


def login(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def agent(username: str) -> Agent:
    return Agent.objects.get(user__username=username)


def simulate(client, username: str, channel: str, direction: str = "inbound") -> str:
    url = reverse("admin:cc_rules_agent_simulate", args=[agent(username).pk])
    response = client.get(url, {"channel": channel, "direction": direction})
    assert response.status_code == 200
    return response.content.decode()


def decision(html: str) -> str:
    found = re.search(r'<div class="cc-decision[^"]*" id="decision">(.*?)</div>', html, re.S)
    assert found, "no decision on the page"
    return " ".join(found.group(1).split())


@pytest.fixture
def root(client, demo_world):
    return login(client, "admin")


def test_erin_on_voice_is_refused_because_her_role_does_not_see_voice(root):
    shown = decision(simulate(root, "erin", "voice"))
    assert "refused" in shown
    assert "<code>channel_not_visible</code>" in shown
    assert "R1:visible_channels@role" in shown


def test_a_logged_off_agent_is_refused_with_logged_off(root):
    shown = decision(simulate(root, "alice", "email"))
    assert "refused" in shown
    assert "<code>logged_off</code>" in shown


def test_a_ready_agent_is_allowed_and_the_deciding_rule_is_named(root):
    alice = agent("alice")
    status_service.session_login(alice.pk, channels=["chat"], actor=None, request_id="t")
    status_service.channel_set_status(
        alice.pk, "chat", status="ready", reason=None, actor=None, request_id="t"
    )
    shown = decision(simulate(root, "alice", "chat"))
    assert "allowed" in shown
    assert "refused" not in shown
    assert "R9:channel_cap[chat]@role" in shown


def test_outbound_skips_not_ready_but_inbound_does_not(root):
    alice = agent("alice")
    status_service.session_login(alice.pk, channels=["voice"], actor=None, request_id="t")
    assert "<code>not_ready</code>" in decision(simulate(root, "alice", "voice", "inbound"))
    outbound = decision(simulate(root, "alice", "voice", "outbound"))
    assert "outbound: allowed" in outbound


def test_the_page_lists_every_channel_for_both_directions(root):
    html = simulate(root, "erin", "email")
    matrix = html[html.index('id="decision-matrix"') :]
    assert matrix.count("<code>channel_not_visible</code>") == 2 * 7  # all but e-mail
    assert "Instant message (internal)" in matrix


def test_the_simulator_changes_nothing(root):
    alice = agent("alice")
    status_service.session_login(alice.pk, channels=None, actor=None, request_id="t")
    before = (StatusChange.objects.count(), Interaction.objects.count())
    for channel in ("voice", "chat", "email", "im"):
        simulate(root, "alice", channel)
        simulate(root, "alice", channel, "outbound")
    assert (StatusChange.objects.count(), Interaction.objects.count()) == before


def test_without_a_choice_the_page_shows_the_form_and_no_decision(root):
    url = reverse("admin:cc_rules_agent_simulate", args=[agent("bob").pk])
    html = root.get(url).content.decode()
    assert 'id="simulator_form"' in html
    assert 'id="decision"' not in html


def test_an_unknown_channel_is_a_form_error_not_a_crash(root):
    url = reverse("admin:cc_rules_agent_simulate", args=[agent("bob").pk])
    response = root.get(url, {"channel": "fax", "direction": "inbound"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_the_agent_page_links_to_the_simulator(root):
    alice = agent("alice")
    html = root.get(reverse("admin:cc_rules_agent_change", args=[alice.pk])).content.decode()
    assert reverse("admin:cc_rules_agent_simulate", args=[alice.pk]) in html


@pytest.mark.parametrize("username", ["cora", "sam"])
def test_compliance_and_supervisors_may_use_the_simulator(client, demo_world, username):
    login(client, username)
    assert "<code>channel_not_visible</code>" in decision(simulate(client, "erin", "voice"))


def test_agents_cannot_open_the_simulator(client, demo_world):
    login(client, "alice")
    url = reverse("admin:cc_rules_agent_simulate", args=[agent("alice").pk])
    response = client.get(url, {"channel": "voice", "direction": "inbound"})
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
