"""Supervisor actions through the API (issue 16, item 2; API.md "Supervisor"):

- ``POST /agents/{username}/logout/``, ``PUT /agents/{username}/dnd/`` (off only),
- ``POST /agents/{username}/channels/{channel}/wrap-up/extend/`` and ``…/wrap-up/end/``,

each scoped to the supervisor's teams (another team's agent is 404, as if absent), forbidden to
compliance and agents (403), refused by the engine with its code and rule (409, or 400 for DND
on), and replayed for a retried ``Idempotency-Key``.

sam supervises the team ``front`` (alice: blended, pending on, voice ACW 15 s → ready,
extendable; bob: voice only, ACW 10 s → not ready, not extendable); nina is on ``back``, which
sam does not supervise; cora is compliance; admin a superuser.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from cc_rules.models import Agent, AgentChannelState, Interaction, StatusChange
from cc_rules.services import interactions
from cc_rules.services import status as status_svc
from tests.factories import (
    InteractionFactory,
    client_for,
    two_teams,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]

AGENTS = "/api/v1/agents"
SUPERVISOR_RULE = "R2:supervisor_override@default"


@pytest.fixture
def people(db):
    two_teams(superuser="admin")


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user").get(user__username=username)


def who(username: str) -> dict:
    return {"actor": get_user_model().objects.get(username=username), "request_id": "setup"}


def state(username: str, channel: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id=channel)


def rows(username: str) -> list[StatusChange]:
    return list(StatusChange.objects.filter(agent__user__username=username).order_by("seq"))


def open_work(username: str, channel: str) -> Interaction:
    return InteractionFactory(agent=agent(username), channel_id=channel)


def into_acw(username: str) -> None:
    work = open_work(username, "voice")
    interactions.interaction_end(
        agent(username), work.pk, how="hangup", workbin=None, **who(username)
    )
    assert state(username, "voice").status == "after_call_work"


def dnd_on(username: str) -> None:
    status_svc.agent_set_dnd(agent(username).pk, enabled=True, **who(username))


def send(caller: str, method: str, url: str, body: dict | None = None, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return getattr(client_for(caller), method)(url, body or {}, format="json", **headers)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


def logout(username: str) -> str:
    return f"{AGENTS}/{username}/logout/"


def dnd(username: str) -> str:
    return f"{AGENTS}/{username}/dnd/"


def wrap_up(username: str, channel: str, action: str) -> str:
    return f"{AGENTS}/{username}/channels/{channel}/wrap-up/{action}/"


# -- POST /agents/{username}/logout/ ------------------------------------------------------------
def test_logout_logs_every_channel_off_and_dnd_off():
    dnd_on("alice")
    response = send("sam", "post", logout("alice"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == "alice"
    assert body["dnd"] is False
    assert {c["status"] for c in body["channels"]} == {"logged_off"}
    new = [r for r in rows("alice") if r.cause == "supervisor"]
    assert {(r.event, r.actor_name, r.rule) for r in new} == {
        ("status", "sam", SUPERVISOR_RULE),
        ("dnd", "sam", SUPERVISOR_RULE),
    }
    assert len(new) == 5  # four channels and DND


def test_logout_with_open_work_is_409_with_the_engines_message():
    open_work("alice", "chat")
    before = len(rows("alice"))
    body = error(send("sam", "post", logout("alice")), 409, "active_interactions")
    assert body["rule"] == SUPERVISOR_RULE
    assert body["detail"].startswith("1 interaction(s) still open (1 on chat)")
    assert len(rows("alice")) == before
    assert state("alice", "voice").status == "ready"


def test_logout_takes_no_body_fields():
    error(send("sam", "post", logout("alice"), {"channels": ["voice"]}), 400, "invalid")


# -- PUT /agents/{username}/dnd/ ----------------------------------------------------------------
def test_dnd_off():
    dnd_on("alice")
    response = send("sam", "put", dnd("alice"), {"enabled": False})
    assert response.status_code == 200, response.content
    assert response.json()["dnd"] is False
    last = rows("alice")[-1]
    assert (last.event, last.to_status, last.cause, last.actor_name) == (
        "dnd",
        "off",
        "supervisor",
        "sam",
    )


def test_dnd_on_is_400_with_its_own_code():
    body = error(send("sam", "put", dnd("alice"), {"enabled": True}), 400, "dnd_on_not_allowed")
    assert body["fields"] == {"enabled": ["dnd_on_not_allowed"]}
    assert body["rule"] == SUPERVISOR_RULE
    assert agent("alice").dnd is False


@pytest.mark.parametrize("payload", [{}, {"enabled": "no"}, {"enabled": False, "agent": "bob"}])
def test_dnd_needs_a_boolean_enabled(payload):
    error(send("sam", "put", dnd("alice"), payload), 400, "invalid")


# -- wrap-up extend and end ---------------------------------------------------------------------
def test_extend_clears_the_deadline():
    into_acw("alice")
    response = send("sam", "post", wrap_up("alice", "voice", "extend"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "after_call_work"
    assert body["wrap_up"]["ends_at"] is None
    assert state("alice", "voice").wrap_up_extended is True


def test_extend_where_the_rule_forbids_it_is_409():
    into_acw("bob")
    body = error(
        send("sam", "post", wrap_up("bob", "voice", "extend")), 409, "wrap_up_not_extendable"
    )
    assert body["rule"].startswith("R15:acw_extendable[voice]@role#")


@pytest.mark.parametrize("action", ["extend", "end"])
def test_wrap_up_outside_acw_is_409_invalid_transition(action):
    body = error(send("sam", "post", wrap_up("alice", "voice", action)), 409, "invalid_transition")
    assert body["detail"] == "The voice channel is not in after-call work."


@pytest.mark.parametrize("action", ["extend", "end"])
def test_wrap_up_on_a_channel_the_role_does_not_see_is_404(action):
    error(send("sam", "post", wrap_up("bob", "chat", action)), 404, "not_found")


def test_end_lands_where_the_timer_would():
    into_acw("bob")
    response = send("sam", "post", wrap_up("bob", "voice", "end"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["reason"], body["wrap_up"]) == ("not_ready", "acw_timeout", None)
    last = rows("bob")[-1]
    assert (last.cause, last.actor_name) == ("supervisor", "sam")
    assert last.rule.startswith("R14:acw_after_timer[voice]@role#")


# -- who may: scoping, compliance, agents -------------------------------------------------------
CALLS = [
    ("post", logout, (), None),
    ("put", dnd, (), {"enabled": False}),
    ("post", wrap_up, ("voice", "extend"), None),
    ("post", wrap_up, ("voice", "end"), None),
]


@pytest.mark.parametrize(("method", "url", "args", "payload"), CALLS)
def test_a_supervisor_on_another_teams_agent_gets_404(method, url, args, payload):
    into_acw("nina")
    dnd_on("nina")
    before = len(rows("nina"))
    error(send("sam", method, url("nina", *args), payload), 404, "not_found")
    error(send("sam", method, url("nobody", *args), payload), 404, "not_found")
    assert len(rows("nina")) == before
    # a superuser acts on every team
    assert send("admin", method, url("nina", *args), payload).status_code == 200


@pytest.mark.parametrize(("method", "url", "args", "payload"), CALLS)
@pytest.mark.parametrize("caller", ["cora", "alice", "bob"])
def test_compliance_and_agents_get_403(method, url, args, payload, caller):
    into_acw("alice")
    before = StatusChange.objects.count()
    error(send(caller, method, url("alice", *args), payload), 403, "forbidden")
    assert StatusChange.objects.count() == before


def test_a_deactivated_agent_is_404():
    Agent.objects.filter(user__username="alice").update(is_active=False)
    error(send("sam", "post", logout("alice")), 404, "not_found")


# -- Idempotency-Key ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url", "payload", "setup"),
    [
        ("post", logout("alice"), None, None),
        ("put", dnd("alice"), {"enabled": False}, dnd_on),
        ("post", wrap_up("alice", "voice", "extend"), None, into_acw),
        ("post", wrap_up("alice", "voice", "end"), None, into_acw),
    ],
)
def test_a_retry_with_the_same_key_replays_the_first_answer(method, url, payload, setup):
    if setup:
        setup("alice")
    first = send("sam", method, url, payload, key="sup-1")
    assert first.status_code == 200, first.content
    written = StatusChange.objects.count()

    again = send("sam", method, url, payload, key="sup-1")

    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert StatusChange.objects.count() == written
    other = send("sam", method, url, {"enabled": True} if payload else {"x": 1}, key="sup-1")
    error(other, 422, "idempotency_key_reused")


def test_a_refusal_is_replayed_too():
    open_work("alice", "chat")
    first = send("sam", "post", logout("alice"), key="sup-2")
    error(first, 409, "active_interactions")
    Interaction.objects.filter(agent__user__username="alice").update(state="ended")
    again = send("sam", "post", logout("alice"), key="sup-2")
    assert again.status_code == 409
    assert again["Idempotent-Replayed"] == "true"
    assert state("alice", "voice").status == "ready"
