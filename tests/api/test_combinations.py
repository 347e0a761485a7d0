"""Where rules meet (DECISIONS.md, "Combinations"): one test per case, through the API.

Each test is named after the DECISIONS.md bullet it proves. Timer cases run the real sweeper
(``timers.sweep``) after moving the deadline into the past (tests move deadlines, not clocks).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from cc_rules.models import AgentChannelState, ApiToken, Interaction, StatusChange
from cc_rules.selectors import db_now
from cc_rules.services import timers
from tests.factories import (
    WorkbinFactory,
    a_contact,
    a_role,
    a_router_client,
    a_supervisor,
    a_user,
    an_agent,
    client_for,
    reason_codes,
)

API = "/api/v1"
pytestmark = pytest.mark.django_db

VOICE_ACW = {"acw_enabled": {"voice": True}, "acw_seconds": {"voice": 30}}


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.CC_SEND_WAKEUPS = False
    reason_codes("break", "lunch", "meeting")


# -- helpers ---------------------------------------------------------------------------------------
def agent_with(rules: dict, *, visible=("voice", "email", "chat"), ready_on=(), **fields):
    """An agent in a role of its own with ``rules`` at role scope; (agent, client)."""
    role = a_role(visible=list(visible), rules=rules)
    agent = an_agent(role=role, logged_in=True, ready_on=list(ready_on), **fields)
    return agent, client_for(agent)


def put_status(client, channel: str, status: str, reason: str | None = None):
    body = {"status": status} | ({"reason": reason} if reason else {})
    return client.put(f"{API}/me/channels/{channel}/status/", body, format="json")


def post(client, path: str, body: dict | None = None):
    return client.post(f"{API}{path}", body or {}, format="json")


def offer(agent, channel: str, **extra):
    body = {"channel": channel, "direction": "inbound", "agent": agent.user.username} | extra
    return post(a_router_client(), "/interactions/", body)


def take(agent, client, channel: str) -> int:
    """Offer ``channel`` work to ``agent`` and accept it; the interaction id."""
    response = offer(agent, channel)
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert post(client, f"/interactions/{pk}/accept/").status_code == 200
    return pk


def end(client, pk: int, how: str, **extra):
    response = post(client, f"/interactions/{pk}/end/", {"how": how, **extra})
    assert response.status_code == 200, response.json()
    return response


def channel(agent, code: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent=agent, channel_id=code)


def rows(agent, code: str | None = None):
    found = StatusChange.objects.filter(agent=agent).order_by("seq")
    return list(found.filter(channel_id=code) if code else found)


def fire_due_timers(agent, code: str = "voice") -> None:
    """Move the channel's wrap-up deadline into the past and run the real sweeper."""
    AgentChannelState.objects.filter(agent=agent, channel_id=code).update(
        wrap_up_deadline=db_now() - timedelta(seconds=1)
    )
    timers.sweep()


def pending_closed(agent) -> bool:
    """Every pending series of the agent's channels ends with a closing row."""
    last: dict[str, StatusChange] = {}
    for row in rows(agent):
        if row.event == "pending":
            last[row.channel_id] = row
    states = {s.channel_id: s for s in AgentChannelState.objects.filter(agent=agent)}
    return all(
        states[code].pending_status is not None
        or row.to_status == ""
        or row.cause != "agent"  # applied: cause names the release
        for code, row in last.items()
    )


# -- 1. pre-ACW status is the whole pair -----------------------------------------------------------
def test_pre_acw_status_is_the_whole_pair_not_ready_without_a_reason_comes_back_as_is():
    agent, client = agent_with(VOICE_ACW, ready_on=["voice"])
    call = take(agent, client, "voice")
    assert put_status(client, "voice", "not_ready").status_code == 200  # pending off: at once

    end(client, call, "hangup")
    assert channel(agent, "voice").status == "after_call_work"
    fire_due_timers(agent)

    voice = channel(agent, "voice")
    assert (voice.status, voice.reason) == ("not_ready", None)
    assert offer(agent, "voice").json()["code"] == "not_ready"


# -- 2 and 3. pending and release events -----------------------------------------------------------
def test_pending_not_released_by_the_ending_event_is_dropped_under_acw():
    rules = VOICE_ACW | {"pending_enabled": True, "pending_release_on": ["sent"]}
    agent, client = agent_with(rules, ready_on=["voice"])
    call = take(agent, client, "voice")
    assert put_status(client, "voice", "not_ready", "break").status_code == 202

    end(client, call, "hangup")  # hangup is not a release event here
    voice = channel(agent, "voice")
    assert (voice.status, voice.pending_status) == ("after_call_work", None)
    dropped = rows(agent, "voice")[-2]
    assert (dropped.event, dropped.cause, dropped.from_status) == (
        "pending",
        "not_released",
        "not_ready",
    )
    fire_due_timers(agent)
    assert (channel(agent, "voice").status, channel(agent, "voice").reason) == ("ready", None)
    assert pending_closed(agent)


def test_a_held_status_never_outlives_the_work_it_waits_for():
    rules = {"pending_enabled": True, "pending_release_on": ["sent", "hangup", "chat_ended"]}
    agent, client = agent_with(rules, ready_on=["email"])
    WorkbinFactory(name="later", channels=["email"])
    mail = take(agent, client, "email")
    assert put_status(client, "email", "not_ready", "break").status_code == 202

    end(client, mail, "workbin", workbin="later")

    email = channel(agent, "email")
    assert (email.status, email.pending_status) == ("ready", None)
    assert offer(agent, "email").status_code == 201  # not pending_held for ever
    assert pending_closed(agent)


# -- 4. visibility lost ----------------------------------------------------------------------------
def test_a_channel_made_invisible_is_logged_off_within_one_sweep():
    agent, client = agent_with({}, ready_on=["voice", "chat"])
    agent.role.visible_channels.remove("voice")

    timers.sweep()

    voice = channel(agent, "voice")
    assert voice.status == "logged_off"
    row = rows(agent, "voice")[-1]
    assert (row.cause, row.rule) == ("system", "R1:visibility_lost@default")
    assert channel(agent, "chat").status == "ready"
    assert put_status(client, "voice", "ready").status_code == 404


def test_a_channel_made_invisible_during_acw_leaves_acw_as_logged_off():
    agent, client = agent_with(VOICE_ACW, ready_on=["voice"])
    call = take(agent, client, "voice")
    agent.role.visible_channels.remove("voice")
    assert client.get(f"{API}/me/").json()["channels"][0]["channel"] == "voice"  # open work
    end(client, call, "hangup")

    voice = channel(agent, "voice")
    assert (voice.status, voice.wrap_up_deadline) == ("logged_off", None)  # no ACW at all
    timers.sweep()
    assert channel(agent, "voice").status == "logged_off"


def test_a_channel_in_acw_made_invisible_is_logged_off_by_the_sweep():
    agent, client = agent_with(VOICE_ACW, ready_on=["voice"])
    end(client, take(agent, client, "voice"), "hangup")
    assert channel(agent, "voice").status == "after_call_work"
    agent.role.visible_channels.remove("voice")

    timers.sweep()

    assert channel(agent, "voice").status == "logged_off"
    assert channel(agent, "voice").wrap_up_deadline is None


# -- 5. ACW belongs to the interaction whose end started it ----------------------------------------
def test_acw_belongs_to_the_interaction_whose_end_started_it():
    rules = {**VOICE_ACW, "after_done": {"voice": "ready"}, "acw_extendable": {"voice": True}}
    agent, client = agent_with(rules, ready_on=["voice"])
    first = take(agent, client, "voice")
    end(client, first, "hangup")
    assert put_status(client, "voice", "ready").status_code == 200  # left ACW by hand
    second = take(agent, client, "voice")
    end(client, second, "hangup")
    deadline = channel(agent, "voice").wrap_up_deadline

    assert post(client, f"/interactions/{first}/done/").status_code == 200
    assert channel(agent, "voice").status == "after_call_work"  # call 2's wrap-up goes on
    assert channel(agent, "voice").wrap_up_deadline == deadline
    extend = post(client, f"/interactions/{first}/wrap-up/extend/")
    assert (extend.status_code, extend.json()["code"]) == (409, "invalid_transition")

    assert post(client, f"/interactions/{second}/wrap-up/extend/").status_code == 200
    assert post(client, f"/interactions/{second}/done/").status_code == 200
    assert channel(agent, "voice").status == "ready"


# -- 8. deactivation -------------------------------------------------------------------------------
def test_deactivating_an_agent_logs_off_misses_offers_and_revokes_tokens():
    agent, client = agent_with({}, ready_on=["chat", "voice"])
    pk = offer(agent, "chat").json()["id"]
    client.put(f"{API}/me/dnd/", {"enabled": True}, format="json")

    agent.is_active = False
    agent.save()  # as the admin's change form does

    assert Interaction.objects.get(pk=pk).state == "missed"
    assert set(AgentChannelState.objects.filter(agent=agent).values_list("status", flat=True)) == {
        "logged_off"
    }
    last = rows(agent)[-1]
    assert (last.event, last.to_status, last.rule) == ("dnd", "off", "R2:agent_deactivated@default")
    assert not ApiToken.objects.filter(user=agent.user).exists()
    assert client.get(f"{API}/me/").status_code == 401


def test_deactivating_the_user_deactivates_the_agent():
    agent, _ = agent_with({}, ready_on=["chat"])
    agent.user.is_active = False
    agent.user.save()
    assert channel(agent, "chat").status == "logged_off"


def test_the_sweeper_never_stalls_on_a_deactivated_agents_offer():
    agent, _ = agent_with({}, ready_on=["chat"])
    other, _ = agent_with({}, ready_on=["chat"])
    stuck = offer(agent, "chat").json()["id"]
    live = offer(other, "chat").json()["id"]
    # Deactivated behind the service's back (a bulk update sends no signal).
    type(agent).objects.filter(pk=agent.pk).update(is_active=False)
    Interaction.objects.filter(pk__in=[stuck, live]).update(
        offer_deadline=db_now() - timedelta(seconds=1)
    )

    assert timers.sweep()["offers"] == 2
    assert set(
        Interaction.objects.filter(pk__in=[stuck, live]).values_list("state", flat=True)
    ) == {"missed"}


# -- 9. decisions mirror offers --------------------------------------------------------------------
FORWARD_TABLE = [
    # (target ready on voice, target in DND, forwarding set, expected code)
    (True, False, True, "allowed"),
    (False, False, True, "forward_target_unavailable"),
    (True, True, True, "forward_target_unavailable"),
    (True, False, False, "allowed"),
    (False, False, False, "allowed"),
]


@pytest.mark.parametrize(("target_ready", "target_dnd", "forwarding", "code"), FORWARD_TABLE)
def test_decisions_mirror_offers_forwarding_included(target_ready, target_dnd, forwarding, code):
    named, named_client = agent_with({}, ready_on=["voice"], extension="2001")
    target, target_client = agent_with(
        {}, ready_on=["voice"] if target_ready else [], extension="2002"
    )
    if target_dnd:
        target_client.put(f"{API}/me/dnd/", {"enabled": True}, format="json")
    if forwarding:
        forward = named_client.put(f"{API}/me/forwarding/", {"to_extension": "2002"}, format="json")
        assert forward.status_code == 200, forward.json()
    body = {"agent": named.user.username, "channel": "voice"}

    decision = post(a_router_client(), "/decisions/offer/", body).json()
    admin = Client()
    admin.force_login(a_user("root", is_staff=True, is_superuser=True))
    simulated = admin.get(
        f"/admin/cc_rules/agent/{named.pk}/simulate/", {"channel": "voice", "direction": "inbound"}
    )
    real = offer(named, "voice")

    assert f"code <code>{code}</code>" in simulated.content.decode()

    assert decision["code"] == code
    assert decision["allowed"] is (real.status_code == 201)
    if real.status_code == 201:
        expected = target if forwarding else named
        assert real.json()["agent"] == expected.user.username
        assert decision["forwarded_to"] == ("2002" if forwarding else None)
    else:
        assert real.json()["code"] == decision["code"]
        assert real.json()["rule"] == decision["rule"]


# -- 10. manual status during ACW ------------------------------------------------------------------
def test_manual_status_during_acw_applies_even_while_outbound_work_is_open():
    rules = VOICE_ACW | {"pending_enabled": True}
    agent, client = agent_with(rules, ready_on=["voice", "email"])
    end(client, take(agent, client, "voice"), "hangup")
    contact = a_contact("Bo", emails=["bo@example.com"])
    outbound = post(
        client,
        "/interactions/",
        {"channel": "email", "direction": "outbound", "contact": contact.pk},
    )
    assert outbound.status_code == 201, outbound.json()

    response = put_status(client, "voice", "not_ready", "lunch")

    assert response.status_code == 200
    voice = channel(agent, "voice")
    assert (voice.status, voice.reason, voice.pending_status) == ("not_ready", "lunch", None)
    assert voice.wrap_up_deadline is None


# -- 11. accept after the deadline -----------------------------------------------------------------
def test_accept_after_the_offers_deadline_is_offer_expired_and_the_offer_is_missed():
    agent, client = agent_with({}, ready_on=["chat"])
    pk = offer(agent, "chat").json()["id"]
    Interaction.objects.filter(pk=pk).update(offer_deadline=db_now() - timedelta(seconds=1))

    response = post(client, f"/interactions/{pk}/accept/")

    assert (response.status_code, response.json()["code"]) == (409, "offer_expired")
    assert response.json()["rule"].startswith("R9:offer_timeout_seconds")
    assert Interaction.objects.get(pk=pk).state == "missed"


# -- 13. the smaller ones --------------------------------------------------------------------------
def test_every_pending_status_closes_with_a_row_applied_by_acw_exit():
    rules = VOICE_ACW | {"pending_enabled": True}
    agent, client = agent_with(rules, ready_on=["voice"])
    call = take(agent, client, "voice")
    assert put_status(client, "voice", "not_ready", "break").status_code == 202
    end(client, call, "hangup")
    fire_due_timers(agent)

    voice = channel(agent, "voice")
    assert (voice.status, voice.reason, voice.pending_status) == ("not_ready", "break", None)
    closing, landing = rows(agent, "voice")[-2:]
    assert (closing.event, closing.from_status, closing.to_status, closing.cause) == (
        "pending",
        "not_ready",
        "not_ready",
        "wrap_up_timer",
    )
    assert (landing.event, landing.to_status, landing.reason) == ("status", "not_ready", "break")
    assert pending_closed(agent)


def test_an_offer_naming_an_agent_and_another_agents_extension_is_invalid():
    named, _ = agent_with({}, ready_on=["voice"], extension="3001")
    agent_with({}, ready_on=["voice"], extension="3002")
    response = offer(named, "voice", extension="3002")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert offer(named, "voice", extension="3001").status_code == 201  # the same agent: fine


def test_a_supervisor_cannot_bring_a_logged_off_channel_to_another_status():
    agent, client = agent_with({}, ready_on=[])
    post(client, "/me/logout/")
    boss = client_for(a_supervisor("boss", of=[agent]))
    path = f"{API}/agents/{agent.user.username}/channels/chat/status/"
    response = boss.put(path, {"status": "ready"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "agent_not_logged_in")
    assert channel(agent, "chat").status == "logged_off"


def test_logout_also_turns_dnd_off_with_a_row():
    agent, client = agent_with({}, ready_on=["chat"])
    client.put(f"{API}/me/dnd/", {"enabled": True}, format="json")
    assert post(client, "/me/logout/").status_code == 200
    agent.refresh_from_db()
    assert agent.dnd is False
    dnd = [r for r in rows(agent) if r.event == "dnd"][-1]
    assert (dnd.from_status, dnd.to_status, dnd.cause) == ("on", "off", "agent")


def test_forwarding_is_re_read_under_the_lock():
    """The forward target is decided under both agents' locks; the offer lands on whoever
    holds the extension then (here: forwarding changed between two offers)."""
    named, named_client = agent_with({}, ready_on=["voice"], extension="4001")
    first, _ = agent_with({}, ready_on=["voice"], extension="4002")
    second, _ = agent_with({}, ready_on=["voice"], extension="4003")
    named_client.put(f"{API}/me/forwarding/", {"to_extension": "4002"}, format="json")
    assert offer(named, "voice").json()["agent"] == first.user.username
    named_client.put(f"{API}/me/forwarding/", {"to_extension": "4003"}, format="json")
    assert offer(named, "voice").json()["agent"] == second.user.username
