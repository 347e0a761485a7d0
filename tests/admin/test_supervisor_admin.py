"""Supervisor actions in the admin (issue 16, items 2 and 6): the agent page's panel posts to
``/admin/cc_rules/agent/<id>/act/``, which calls the same services as the API; the live board
links to each agent and shows cap use and time in status, scoped to the supervisor's teams.

sam supervises ``front`` (alice: blended, pending on, voice ACW 15 s → ready, extendable; bob:
voice only, voice ACW 10 s → not ready, not extendable); nina is on ``back``; cora is
compliance; root a superuser.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cc_admin.live import cap_use, elapsed
from cc_rules import selectors
from cc_rules.models import Agent, AgentChannelState, Interaction, StatusChange
from cc_rules.services import interactions
from cc_rules.services import status as status_svc
from tests.factories import (
    InteractionFactory,
    an_agent,
    two_teams,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]
BOARD = "/admin/dashboard/live/"


@pytest.fixture
def people(db):
    two_teams(superuser="root")


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user").get(user__username=username)


def as_user(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def who(username: str) -> dict:
    return {"actor": get_user_model().objects.get(username=username), "request_id": "setup"}


def state(username: str, channel: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id=channel)


def open_work(username: str, channel: str) -> Interaction:
    return InteractionFactory(agent=agent(username), channel_id=channel)


def into_acw(username: str) -> None:
    work = open_work(username, "voice")
    interactions.interaction_end(
        agent(username), work.pk, how="hangup", workbin=None, **who(username)
    )


def act_url(username: str) -> str:
    return reverse("admin:cc_rules_agent_act", args=[agent(username).pk])


def page_url(username: str) -> str:
    return reverse("admin:cc_rules_agent_change", args=[agent(username).pk])


def act(client, username: str, **data):
    """Post one action as the panel's button does; follow the redirect; (response, messages)."""
    response = client.post(act_url(username), data, follow=True)
    assert response.status_code == 200, response.status_code
    shown = [(m.level_tag, m.message) for m in response.context["messages"]]
    return response, shown


# -- the panel ----------------------------------------------------------------------------------
def test_the_panel_shows_each_channel_with_its_actions_for_the_teams_supervisor(client):
    into_acw("alice")
    status_svc.agent_set_dnd(agent("alice").pk, enabled=True, **who("alice"))
    html = as_user(client, "sam").get(page_url("alice")).content.decode()
    assert 'id="supervisor-actions"' in html
    assert f'action="{act_url("alice")}"' in html
    for label in ("Log out of all channels", "Turn DND off", "Extend wrap-up", "End wrap-up"):
        assert label in html
    assert html.count("Log off this channel") == 4  # voice, e-mail, chat, IM
    assert '<label for="sv-voice-status">Status</label>' in html
    assert '<label for="sv-voice-reason">Reason</label>' in html
    assert '<option value="lunch">Lunch</option>' in html
    assert "0/1" in html  # voice: nothing open, cap 1 (R9)


def test_no_panel_for_compliance_or_without_the_agent_in_ones_teams(client):
    html = as_user(client, "cora").get(page_url("alice")).content.decode()
    assert "supervisor-actions" not in html
    response = as_user(client, "sam").get(page_url("nina"))
    assert "supervisor-actions" not in response.content.decode()


def test_a_logged_off_channel_offers_no_status_change(client):
    status_svc.supervisor_force_status(
        agent("alice").pk, "chat", status="logged_off", reason=None, **who("sam")
    )
    html = as_user(client, "sam").get(page_url("alice")).content.decode()
    assert "sv-chat-status" not in html
    assert "Logged off: only the agent logs in." in html


# -- each action --------------------------------------------------------------------------------
def test_set_not_ready_with_a_reason(client):
    as_user(client, "sam")
    response, shown = act(
        client, "alice", act="status", channel="voice", status="not_ready", reason="break"
    )
    assert shown == [("success", "alice · Voice: Not ready (break).")]
    assert response.redirect_chain[-1][0] == page_url("alice") + "#supervisor-actions"
    voice = state("alice", "voice")
    assert (voice.status, voice.reason) == ("not_ready", "break")
    row = StatusChange.objects.filter(agent=agent("alice")).order_by("-seq").first()
    assert (row.cause, row.actor_name, row.rule) == (
        "supervisor",
        "sam",
        "R2:supervisor_override@default",
    )
    assert row.request_id  # the admin request's id


def test_ready_drops_a_reason_picked_by_mistake(client):
    status_svc.channel_set_status(
        agent("alice").pk, "chat", status="not_ready", reason="lunch", **who("alice")
    )
    _, shown = act(
        as_user(client, "sam"),
        "alice",
        act="status",
        channel="chat",
        status="ready",
        reason="lunch",
    )
    assert shown == [("success", "alice · Chat: Ready.")]
    assert state("alice", "chat").status == "ready"


def test_log_off_one_channel(client):
    _, shown = act(as_user(client, "sam"), "alice", act="log_off", channel="email")
    assert shown == [("success", "alice · E-mail: Logged off.")]
    assert state("alice", "email").status == "logged_off"
    assert state("alice", "voice").status == "ready"


def test_log_out_of_all_channels(client):
    _, shown = act(as_user(client, "sam"), "alice", act="logout")
    assert shown == [("success", "alice is logged out of every channel; do-not-disturb is off.")]
    assert set(
        AgentChannelState.objects.filter(agent=agent("alice")).values_list("status", flat=True)
    ) == {"logged_off"}


def test_turn_dnd_off(client):
    status_svc.agent_set_dnd(agent("alice").pk, enabled=True, **who("alice"))
    _, shown = act(as_user(client, "sam"), "alice", act="dnd_off")
    assert shown == [("success", "alice's do-not-disturb is off.")]
    assert agent("alice").dnd is False


def test_extend_and_end_wrap_up(client):
    into_acw("alice")
    as_user(client, "sam")
    _, shown = act(client, "alice", act="extend", channel="voice")
    assert shown == [
        ("success", "alice · Voice: wrap-up extended; it ends when the agent is done.")
    ]
    assert state("alice", "voice").wrap_up_extended is True
    html = client.get(page_url("alice")).content.decode()
    assert "wrap-up extended" in html
    assert "Extend wrap-up" not in html  # already extended
    _, shown = act(client, "alice", act="end", channel="voice")
    assert shown == [("success", "alice · Voice: Ready.")]
    assert state("alice", "voice").status == "ready"


# -- refusals: the engine's message, never a 500 --------------------------------------------------
def test_logout_with_open_work_shows_the_engines_refusal(client):
    open_work("alice", "chat")
    before = StatusChange.objects.count()
    _, shown = act(as_user(client, "sam"), "alice", act="logout")
    assert shown == [
        (
            "error",
            "Refused (active_interactions): 1 interaction(s) still open (1 on chat); they must "
            "end before the agent can be logged out.",
        )
    ]
    assert StatusChange.objects.count() == before


REFUSED_POSTS = [
    ({"act": "extend", "channel": "voice"},
     "Refused (wrap_up_not_extendable): Wrap-up on voice cannot be extended"),
    ({"act": "end", "channel": "voice"},
     "Refused (invalid_transition): The voice channel is not in after-call work."),
    ({"act": "status", "channel": "chat", "status": "ready"},
     "Refused (not_found): No channel 'chat' for this agent."),
    ({"act": "status", "channel": "voice", "status": "not_ready", "reason": "nap"},
     "Refused (invalid): 'nap' is not a reason code"),
    ({"act": "status", "channel": "voice"}, "Nothing changed: Pick a status."),
    ({"act": "launch"}, "Nothing changed: Select a valid choice."),
]  # fmt: skip


@pytest.mark.parametrize(("data", "text"), REFUSED_POSTS)
def test_refusals_and_bad_posts_say_why_and_change_nothing(client, data, text):
    if data["act"] == "extend":
        into_acw("bob")
    before = StatusChange.objects.count()
    _, shown = act(as_user(client, "sam"), "bob", **data)
    [(level, message)] = shown
    assert level == "error"
    assert message.startswith(text), message
    assert StatusChange.objects.count() == before


def test_a_forced_status_on_a_logged_off_channel_is_refused(client):
    status_svc.supervisor_force_status(
        agent("alice").pk, "chat", status="logged_off", reason=None, **who("sam")
    )
    _, shown = act(as_user(client, "sam"), "alice", act="status", channel="chat", status="ready")
    assert shown[0][0] == "error"
    assert "agent_not_logged_in" in shown[0][1]


# -- who may ------------------------------------------------------------------------------------
def test_another_teams_agent_is_404_and_unchanged(client):
    before = StatusChange.objects.count()
    response = as_user(client, "sam").post(act_url("nina"), {"act": "logout"})
    assert response.status_code == 404
    assert StatusChange.objects.count() == before
    assert state("nina", "voice").status == "not_ready"


def test_compliance_may_not_post(client):
    before = StatusChange.objects.count()
    response = as_user(client, "cora").post(act_url("alice"), {"act": "logout"})
    assert response.status_code == 403
    assert StatusChange.objects.count() == before


def test_a_superuser_acts_on_every_team(client):
    _, shown = act(as_user(client, "root"), "nina", act="log_off", channel="chat")
    assert shown[0][0] == "success"
    assert state("nina", "chat").status == "logged_off"


def test_anonymous_goes_to_the_login_and_get_is_not_allowed(client):
    response = client.post(act_url("alice"), {"act": "logout"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert as_user(client, "sam").get(act_url("alice")).status_code == 405
    assert client.post(reverse("admin:cc_rules_agent_act", args=["abc"]), {}).status_code == 404


def test_it_goes_back_to_the_board_but_never_off_site(client):
    as_user(client, "sam")
    response = client.post(act_url("alice"), {"act": "dnd_off", "next": BOARD})
    assert response["Location"] == BOARD
    response = client.post(act_url("alice"), {"act": "dnd_off", "next": "https://evil.example/"})
    assert response["Location"] == page_url("alice") + "#supervisor-actions"


# -- the live board ------------------------------------------------------------------------------
def cell(response, username: str, channel: str) -> dict:
    row = next(r for r in response.context["rows"] if r["agent"].user.username == username)
    return next(c for c in row["cells"] if c["channel"].code == channel)


def test_the_board_links_to_agents_and_shows_cap_use_and_time_in_status(client):
    open_work("alice", "chat")
    open_work("alice", "chat")
    AgentChannelState.objects.filter(agent=agent("alice"), channel_id="voice").update(
        since=timezone.now() - timedelta(minutes=3, seconds=7)
    )
    response = as_user(client, "sam").get(BOARD)
    html = response.content.decode()
    assert cell(response, "alice", "chat")["cap"] == "2/2"
    assert cell(response, "alice", "voice")["cap"] == "0/1"
    assert cell(response, "alice", "voice")["elapsed"] in ("03:07", "03:08")
    assert cell(response, "alice", "im")["cap"] == ""  # IM never counts toward caps
    assert f'href="{page_url("alice")}"' in html
    assert f'href="{page_url("alice")}#supervisor-actions"' in html
    assert 'aria-label="Supervisor actions for alice"' in html


def test_the_board_shows_a_supervisor_only_their_teams(client):
    response = as_user(client, "sam").get(BOARD)
    assert {r["agent"].user.username for r in response.context["rows"]} == {"alice", "bob"}
    assert all(r["may_act"] for r in response.context["rows"])
    partial = client.get(BOARD, {"partial": "1"}).content.decode()
    assert "nina" not in partial


def test_compliance_sees_every_agent_and_no_act_link(client):
    response = as_user(client, "cora").get(BOARD)
    assert {r["agent"].user.username for r in response.context["rows"]} == {"alice", "bob", "nina"}
    assert not any(r["may_act"] for r in response.context["rows"])
    assert "#supervisor-actions" not in response.content.decode()


def test_the_board_costs_the_same_queries_for_3_or_9_agents(client):
    as_user(client, "root")

    def count() -> int:
        selectors.clear_cache()  # both runs load the rule snapshot once
        with CaptureQueriesContext(connection) as queries:
            assert client.get(BOARD).status_code == 200
        return len(queries)

    few = count()
    role = agent("alice").role
    for n in range(6):
        extra = an_agent(f"extra{n}", role=role, logged_in=True)
        open_work(extra.user.username, "chat")
    many = count()
    assert len(client.get(BOARD).context["rows"]) == 9
    assert many == few, (few, many)
    assert many <= 20


# -- formatting -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00"), (59, "00:59"), (61, "01:01"), (754, "12:34"), (3599, "59:59"), (3600, "1:00:00"),
     (3600 * 27 + 65, "27:01:05"), (-5, "00:00")],
)  # fmt: skip
def test_elapsed_reads_mm_ss_and_h_mm_ss_past_an_hour(seconds, text):
    now = timezone.now()
    assert elapsed(now - timedelta(seconds=seconds), now) == text


def test_cap_use_spells_unlimited():
    rules = selectors.effective_rules(agent("alice"))
    assert cap_use(rules, "chat", 1) == "1/2"
    assert cap_use(rules, "twitter", 1) == "1/∞"
    assert cap_use(rules, "im", 0) == ""
