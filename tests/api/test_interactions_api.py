"""Interactions over HTTP (issue 4; R4-R6, R8-R12; API.md, DECISIONS.md).

Every refusal code of this issue is reached through the API with the ``rule`` that decided.
Wake-ups are off (``CC_SEND_WAKEUPS``): timers are driven by calling the services directly.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from cc_rules.models import (
    Agent,
    AgentChannelState,
    Contact,
    Interaction,
    Message,
    Rule,
    StatusChange,
)
from cc_rules.services import interactions as svc
from tests.factories import (
    BLENDED,
    EMAIL_SPECIALIST,
    REASONS,
    SINGLE_TASK,
    VOICE_ONLY,
    WorkbinFactory,
    a_contact,
    a_role,
    a_router,
    an_agent,
    reason_codes,
)

API = "/api/v1"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]


@pytest.fixture
def people(db):
    """The cast: alice and sam (blended; sam also a supervisor), bob (voice_only), tom (single
    task), erin (e-mail only) and the router; extensions 1001 alice, 1002 bob, 1003 tom, 1009
    sam; the contact Jonas Weber with two phones and two e-mail addresses; the follow-up and
    escalations workbins; four global reason codes."""
    reason_codes(*REASONS)
    blended = a_role("blended", **BLENDED)
    an_agent("alice", role=blended, extension="1001")
    an_agent("bob", role=a_role("voice_only", **VOICE_ONLY), extension="1002")
    an_agent("tom", role=a_role("single_task", **SINGLE_TASK), extension="1003")
    an_agent("erin", role=a_role("email_specialist", **EMAIL_SPECIALIST), extension=None)
    an_agent("sam", role=blended, extension="1009", groups=["supervisor"], is_staff=True)
    a_router("router")
    a_contact(
        "Jonas Weber",
        phones=["+4930123456", "+4915112345678"],
        emails=["jonas.weber@example.com", "j.weber@example.org"],
    )
    WorkbinFactory(name="follow-up")
    WorkbinFactory(name="escalations")


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    settings.CC_SEND_WAKEUPS = False


@pytest.fixture
def router(api):
    return api("router")


# -- helpers ----------------------------------------------------------------------------------
def agent(username: str) -> Agent:
    return Agent.objects.get(user__username=username)


def contact(name: str = "Jonas Weber") -> Contact:
    return Contact.objects.get(name=name)


def agent_rule(username: str, key: str, value, channel: str | None = None) -> Rule:
    """An agent-scope rule, validated the way admin validates it."""
    rule = Rule(scope="agent", agent=agent(username), key=key, channel_id=channel, value=value)
    rule.full_clean()
    rule.save()
    return rule


def ready(api, username: str, *channels: str):
    """Log ``username`` in (all visible channels) and set ``channels`` ready; the client."""
    client = api(username)
    assert client.post(f"{API}/me/login/", {}, format="json").status_code == 200
    for channel in channels:
        response = client.put(
            f"{API}/me/channels/{channel}/status/", {"status": "ready"}, format="json"
        )
        assert response.status_code == 200, response.json()
    return client


def offer(router, channel: str, to: str | None = None, *, who=None, **extra):
    body = {"channel": channel, "direction": "inbound", "contact": (who or contact()).pk}
    if to is not None:
        body["agent"] = to
    return router.post(f"{API}/interactions/", body | extra, format="json")


def post(client, path: str, body: dict | None = None):
    return client.post(f"{API}{path}", body or {}, format="json")


def take(router, client, channel: str, to: str, **extra) -> dict:
    """The router offers ``channel`` work to ``to`` and the agent accepts it: the interaction."""
    response = offer(router, channel, to, **extra)
    assert response.status_code == 201, response.json()
    accepted = post(client, f"/interactions/{response.json()['id']}/accept/")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["state"] == "active"
    return accepted.json()


def end(client, interaction_id: int, how: str, **extra):
    return post(client, f"/interactions/{interaction_id}/end/", {"how": how, **extra})


def refused(response, code: str, rule: str | None = "") -> dict:
    """Assert a 409 with ``code``; ``rule``: a prefix the rule must start with, or None."""
    body = response.json()
    assert response.status_code == 409, body
    assert body["code"] == code, body
    if rule is None:
        assert body["rule"] is None, body
    else:
        assert body["rule"], body
        assert body["rule"].startswith(rule), body
    return body


def channel_of(client, channel: str) -> dict:
    me = client.get(f"{API}/me/").json()
    return next(c for c in me["channels"] if c["channel"] == channel)


def history(username: str, channel: str) -> list[StatusChange]:
    return list(StatusChange.objects.filter(agent=agent(username), channel_id=channel))


def decision(router, username: str, channel: str, **extra) -> dict:
    response = post(router, "/decisions/offer/", {"agent": username, "channel": channel, **extra})
    assert response.status_code == 200, response.json()
    return response.json()


# -- R9: multi-channel concurrency ------------------------------------------------------------
def test_alice_holds_three_emails_two_chats_and_a_call_at_once(api, router):
    alice = ready(api, "alice", "voice", "email", "chat")
    held = [take(router, alice, ch, "alice") for ch in ["email"] * 3 + ["chat"] * 2 + ["voice"]]
    assert len({i["id"] for i in held}) == 6
    listed = alice.get(f"{API}/interactions/", {"state": "active"}).json()["results"]
    assert sorted(i["id"] for i in listed) == sorted(i["id"] for i in held)
    me = {c["channel"]: c for c in alice.get(f"{API}/me/").json()["channels"]}
    assert {c: me[c]["capacity"] for c in ("email", "chat", "voice")} == {
        "email": {"max": 3, "used": 3},
        "chat": {"max": 2, "used": 2},
        "voice": {"max": 1, "used": 1},
    }

    refused(offer(router, "email", "alice"), "channel_cap_reached", "R9:channel_cap[email]@role#")
    refused(offer(router, "chat", "alice"), "channel_cap_reached", "R9:channel_cap[chat]@role#")
    refused(offer(router, "voice", "alice"), "channel_cap_reached", "R9:channel_cap[voice]@role#")
    assert Interaction.objects.filter(agent=agent("alice")).count() == 6  # refusals write nothing


def test_an_offered_interaction_takes_its_slot_and_a_rejected_one_frees_it(api, router):
    alice = ready(api, "alice", "voice")
    first = offer(router, "voice", "alice").json()
    refused(offer(router, "voice", "alice"), "channel_cap_reached", "R9:channel_cap[voice]@role#")
    rejected = post(alice, f"/interactions/{first['id']}/reject/")
    assert (rejected.status_code, rejected.json()["state"]) == (200, "rejected")
    assert offer(router, "voice", "alice").status_code == 201


def test_an_agent_scope_total_cap_refuses_with_total_cap_reached(api, router):
    rule = agent_rule("alice", "total_cap", 2)
    alice = ready(api, "alice", "email", "chat")
    take(router, alice, "email", "alice")
    take(router, alice, "chat", "alice")
    body = refused(offer(router, "email", "alice"), "total_cap_reached", "R9:total_cap@agent#")
    assert f"#{rule.pk}" in body["rule"]


def test_a_blocking_pair_refuses_chat_during_a_call(api, router):
    rule = agent_rule("alice", "blocking_pairs", [["voice", "chat"]])
    alice = ready(api, "alice", "voice", "email", "chat")
    call = take(router, alice, "voice", "alice")
    body = refused(offer(router, "chat", "alice"), "blocked_by_channel", "R9:blocking_pairs@agent#")
    assert f"#{rule.pk}" in body["rule"]
    assert offer(router, "email", "alice").status_code == 201  # only chat is blocked by voice
    assert end(alice, call["id"], "hangup").status_code == 200
    # ACW on voice now, but the call is no longer open work: chat is free again.
    assert offer(router, "chat", "alice").status_code == 201


def test_tom_with_one_email_is_refused_everything_else(api, router):
    tom = ready(api, "tom", "voice", "email", "chat")
    email = take(router, tom, "email", "tom")
    refused(offer(router, "voice", "tom"), "total_cap_reached", "R9:total_cap@role#")
    refused(offer(router, "chat", "tom"), "total_cap_reached", "R9:total_cap@role#")
    refused(offer(router, "email", "tom"), "channel_cap_reached", "R9:channel_cap[email]@role#")
    call = post(
        tom,
        "/interactions/",
        {
            "channel": "voice",
            "direction": "outbound",
            "contact": contact().pk,
            "parent": email["id"],
        },
    )
    refused(call, "total_cap_reached", "R9:total_cap@role#")
    mail = post(
        tom, "/interactions/", {"channel": "email", "direction": "outbound", "parent": email["id"]}
    )
    refused(mail, "channel_cap_reached", "R9:channel_cap[email]@role#")
    assert not Interaction.objects.filter(agent=agent("tom"), direction="outbound").exists()


# -- the other refusal codes, each through HTTP -----------------------------------------------
def test_channel_not_visible_on_decisions_and_404_on_agent_endpoints(api, router):
    bob = ready(api, "bob", "voice")
    body = decision(router, "bob", "email")
    assert (body["allowed"], body["code"]) == (False, "channel_not_visible")
    assert body["rule"].startswith("R1:visible_channels@role#")
    refused(offer(router, "email", "bob"), "channel_not_visible", "R1:visible_channels@role#")
    put = bob.put(f"{API}/me/channels/email/status/", {"status": "ready"}, format="json")
    assert (put.status_code, put.json()["code"]) == (404, "not_found")
    outbound = post(
        bob,
        "/interactions/",
        {"channel": "email", "direction": "outbound", "contact": contact().pk},
    )
    assert (outbound.status_code, outbound.json()["code"]) == (404, "not_found")
    assert "email" not in {c["channel"] for c in bob.get(f"{API}/me/").json()["channels"]}


def test_only_the_router_and_supervisors_ask_the_decision_endpoint(api, router):
    """Issue 15: an agent is refused before any lookup, so a known and an unknown name (and a
    body that is not even valid) get the same 403; the router gets the answer."""
    alice = ready(api, "alice", "chat")
    body = decision(router, "alice", "chat")
    assert (body["allowed"], body["code"]) == (True, "allowed")
    assert body["rule"].startswith("R9:channel_cap[chat]@role#")
    for asked in (
        {"agent": "alice", "channel": "chat"},
        {"agent": "bob", "channel": "voice"},
        {"agent": "no-such-user", "channel": "voice"},
        {"agent": "bob", "channel": "fax"},
    ):
        response = post(alice, "/decisions/offer/", asked)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), asked


def test_the_decision_endpoint_has_no_side_effects(api, router):
    ready(api, "alice", "chat")
    before = (Interaction.objects.count(), StatusChange.objects.count())
    for _ in range(3):
        assert decision(router, "alice", "chat")["allowed"] is True
    assert (Interaction.objects.count(), StatusChange.objects.count()) == before


def test_logged_off_refuses_an_offer(api, router):
    refused(offer(router, "chat", "alice"), "logged_off", "R2:per_channel_status@default")
    assert decision(router, "alice", "chat")["code"] == "logged_off"


def test_not_ready_refuses_an_offer(api, router):
    ready(api, "alice")  # logged in: not_ready/login
    refused(offer(router, "chat", "alice"), "not_ready", "R2:per_channel_status@default")


def test_dnd_refuses_an_offer_on_every_channel(api, router):
    alice = ready(api, "alice", "voice", "chat")
    assert alice.put(f"{API}/me/dnd/", {"enabled": True}, format="json").status_code == 200
    refused(offer(router, "chat", "alice"), "dnd_active", "R3:do_not_disturb@default")
    refused(offer(router, "voice", "alice"), "dnd_active", "R3:do_not_disturb@default")
    assert alice.put(f"{API}/me/dnd/", {"enabled": False}, format="json").status_code == 200
    assert offer(router, "chat", "alice").status_code == 201


def test_outbound_work_is_allowed_in_dnd_and_not_ready(api, router):
    alice = ready(api, "alice", "email")  # voice: not_ready/login
    email = take(router, alice, "email", "alice")
    alice.put(f"{API}/me/dnd/", {"enabled": True}, format="json")
    assert decision(router, "alice", "voice")["code"] == "dnd_active"
    assert decision(router, "alice", "voice", direction="outbound")["allowed"] is True
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "parent": email["id"]},
    )
    assert call.status_code == 201, call.json()
    assert (call.json()["state"], call.json()["to"]) == ("active", "+4930123456")  # first on file


def test_a_pending_status_refuses_new_work_on_its_channel(api, router):
    alice = ready(api, "alice", "chat")
    take(router, alice, "chat", "alice")
    held = alice.put(
        f"{API}/me/channels/chat/status/", {"status": "not_ready", "reason": "break"}, format="json"
    )
    assert held.status_code == 202
    refused(offer(router, "chat", "alice"), "pending_held", "R8:pending_enabled@role#")


def test_after_call_work_refuses_an_offer_and_done_ends_it(api, router):
    alice = ready(api, "alice", "voice")
    call = take(router, alice, "voice", "alice")
    assert end(alice, call["id"], "hangup").status_code == 200
    voice = channel_of(alice, "voice")
    assert voice["status"] == "after_call_work"
    assert voice["wrap_up"]["interaction"] == call["id"]
    assert voice["wrap_up"]["ends_at"] is not None  # 15 s timer
    refused(offer(router, "voice", "alice"), "after_call_work", "R14:acw_enabled[voice]@role#")
    assert post(alice, f"/interactions/{call['id']}/done/").json()["state"] == "done"
    assert channel_of(alice, "voice")["status"] == "ready"  # after_done voice: ready (R13)
    assert history("alice", "voice")[-1].cause == "after_done"
    assert offer(router, "voice", "alice").status_code == 201


def test_no_eligible_agent_when_nobody_is_ready(api, router):
    ready(api, "alice")  # logged in, not ready
    refused(offer(router, "chat"), "no_eligible_agent", None)


def test_logout_with_open_work_is_refused_with_active_interactions(api, router):
    alice = ready(api, "alice", "chat")
    take(router, alice, "chat", "alice")
    refused(post(alice, "/me/logout/"), "active_interactions", "R2:per_channel_status@default")


def test_bob_cannot_log_off_a_channel_with_open_work_when_pending_is_off(api, router):
    bob = ready(api, "bob", "voice")
    take(router, bob, "voice", "bob")
    response = bob.put(f"{API}/me/channels/voice/status/", {"status": "logged_off"}, format="json")
    refused(response, "active_interactions", "R8:pending_enabled@role#")


def test_wrap_up_extend_where_allowed_and_not_where_not(api, router):
    alice = ready(api, "alice", "voice")
    call = take(router, alice, "voice", "alice")
    refused(  # not in ACW yet
        post(alice, f"/interactions/{call['id']}/wrap-up/extend/"), "invalid_transition", None
    )
    end(alice, call["id"], "hangup")
    extended = post(alice, f"/interactions/{call['id']}/wrap-up/extend/")
    assert extended.status_code == 200, extended.json()
    assert extended.json()["status"] == "after_call_work"
    assert extended.json()["wrap_up"] == {"interaction": call["id"], "ends_at": None}

    bob = ready(api, "bob", "voice")
    bob_call = take(router, bob, "voice", "bob")
    end(bob, bob_call["id"], "hangup")
    refused(
        post(bob, f"/interactions/{bob_call['id']}/wrap-up/extend/"),
        "wrap_up_not_extendable",
        "R15:acw_extendable[voice]@role#",
    )
    assert channel_of(bob, "voice")["wrap_up"]["ends_at"] is not None


# -- the interaction state machine -------------------------------------------------------------
def test_email_goes_offered_active_ended_done_closed_and_needs_done_before_close(api, router):
    alice = ready(api, "alice", "email")
    created = offer(router, "email", "alice")
    assert created.status_code == 201
    body = created.json()
    assert (body["state"], body["agent"], body["direction"], body["kind"]) == (
        "offered",
        "alice",
        "inbound",
        "normal",
    )
    assert body["contact"] == contact().pk
    assert body["offer_expires_at"] is not None  # global offer timeout 30 s
    pk = body["id"]
    assert post(alice, f"/interactions/{pk}/accept/").json()["state"] == "active"
    refused(post(alice, f"/interactions/{pk}/accept/"), "invalid_transition", None)
    refused(post(alice, f"/interactions/{pk}/done/"), "invalid_transition", None)
    ended = end(alice, pk, "sent")
    assert (ended.status_code, ended.json()["state"], ended.json()["how"]) == (200, "ended", "sent")
    refused(
        post(alice, f"/interactions/{pk}/close/"),
        "mark_done_required",
        "R12:mark_done_required[email]@role#",
    )
    done = post(alice, f"/interactions/{pk}/done/")
    assert (done.status_code, done.json()["state"]) == (200, "done")
    assert done.json()["done_at"] is not None
    closed = post(alice, f"/interactions/{pk}/close/")
    assert (closed.status_code, closed.json()["state"]) == (200, "closed")
    refused(post(alice, f"/interactions/{pk}/close/"), "invalid_transition", None)
    assert channel_of(alice, "email")["status"] == "ready"  # no ACW on email: done moves nothing


def test_chat_closes_without_done_where_not_required(api, router):
    alice = ready(api, "alice", "chat")
    chat = take(router, alice, "chat", "alice")
    refused(post(alice, f"/interactions/{chat['id']}/close/"), "invalid_transition", None)
    assert end(alice, chat["id"], "chat_ended").json()["state"] == "ended"
    closed = post(alice, f"/interactions/{chat['id']}/close/")
    assert (closed.status_code, closed.json()["state"]) == (200, "closed")


def test_reject_then_accept_is_an_invalid_transition(api, router):
    alice = ready(api, "alice", "chat")
    pk = offer(router, "chat", "alice").json()["id"]
    assert post(alice, f"/interactions/{pk}/reject/").json()["state"] == "rejected"
    refused(post(alice, f"/interactions/{pk}/accept/"), "invalid_transition", None)
    refused(post(alice, f"/interactions/{pk}/reject/"), "invalid_transition", None)


def test_an_agent_cannot_act_on_another_agents_interaction(api, router):
    ready(api, "alice", "chat")
    bob = api("bob")
    pk = offer(router, "chat", "alice").json()["id"]
    for action in ("accept", "reject", "done", "close"):
        response = post(bob, f"/interactions/{pk}/{action}/")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), action
    assert bob.get(f"{API}/interactions/{pk}/").status_code == 404
    assert Interaction.objects.get(pk=pk).state == "offered"


@pytest.mark.parametrize(
    ("channel", "how"),
    [("chat", "sent"), ("chat", "hangup"), ("voice", "chat_ended"), ("email", "hangup")],
)
def test_end_with_a_how_invalid_for_the_channel_is_400(api, router, channel, how):
    alice = ready(api, "alice", channel)
    work = take(router, alice, channel, "alice")
    response = end(alice, work["id"], how)
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert "how" in response.json()["fields"]
    assert Interaction.objects.get(pk=work["id"]).state == "active"


def test_end_with_an_unknown_how_is_400(api, router):
    alice = ready(api, "alice", "chat")
    work = take(router, alice, "chat", "alice")
    assert end(alice, work["id"], "vanished").status_code == 400


def test_workbin_end_needs_a_known_workbin(api, router):
    alice = ready(api, "alice", "email")
    email = take(router, alice, "email", "alice")
    missing = end(alice, email["id"], "workbin")
    assert (missing.status_code, missing.json()["fields"]) == (400, {"workbin": ["required"]})
    unknown = end(alice, email["id"], "workbin", workbin="nowhere")
    assert (unknown.status_code, unknown.json()["fields"]) == (400, {"workbin": ["unknown"]})
    stray = end(alice, email["id"], "sent", workbin="follow-up")
    assert stray.status_code == 400
    moved = end(alice, email["id"], "workbin", workbin="follow-up")
    assert moved.status_code == 200, moved.json()
    assert (moved.json()["state"], moved.json()["how"], moved.json()["workbin"]) == (
        "ended",
        "workbin",
        "follow-up",
    )


# -- R8: pending status ------------------------------------------------------------------------
def test_pending_not_ready_applies_when_the_last_chat_ends(api, router):
    alice = ready(api, "alice", "chat")
    first = take(router, alice, "chat", "alice")
    second = take(router, alice, "chat", "alice")
    held = alice.put(
        f"{API}/me/channels/chat/status/", {"status": "not_ready", "reason": "break"}, format="json"
    )
    assert held.status_code == 202
    assert held.json()["status"] == "ready"
    assert held.json()["pending"]["status"] == "not_ready"
    assert held.json()["pending"]["reason"] == "break"

    assert end(alice, first["id"], "chat_ended").status_code == 200
    chat = channel_of(alice, "chat")
    assert (chat["status"], chat["pending"]["status"]) == ("ready", "not_ready")  # one still open

    assert end(alice, second["id"], "chat_ended").status_code == 200
    chat = channel_of(alice, "chat")
    assert (chat["status"], chat["reason"], chat["pending"]) == ("not_ready", "break", None)
    last = history("alice", "chat")[-1]
    assert (last.event, last.from_status, last.to_status, last.reason, last.cause) == (
        "status",
        "ready",
        "not_ready",
        "break",
        "pending_released",
    )
    assert last.rule.startswith("R8:pending_release_on@")
    assert last.interaction_id == second["id"]


def test_pending_release_events_are_a_rule(api, router):
    agent_rule("alice", "pending_release_on", ["hangup", "sent"])
    alice = ready(api, "alice", "chat", "email")
    chat = take(router, alice, "chat", "alice")
    email = take(router, alice, "email", "alice")
    for channel in ("chat", "email"):
        held = alice.put(
            f"{API}/me/channels/{channel}/status/",
            {"status": "not_ready", "reason": "meeting"},
            format="json",
        )
        assert held.status_code == 202
    end(alice, chat["id"], "chat_ended")  # not a release event for alice: the held one drops
    chat_state = channel_of(alice, "chat")
    assert (chat_state["status"], chat_state["pending"]) == ("ready", None)
    assert history("alice", "chat")[-1].cause == "not_released"
    end(alice, email["id"], "sent")
    email_state = channel_of(alice, "email")
    assert (email_state["status"], email_state["reason"], email_state["pending"]) == (
        "not_ready",
        "meeting",
        None,
    )
    assert history("alice", "email")[-1].cause == "pending_released"
    assert "@agent#" in history("alice", "email")[-1].rule


def test_pending_status_is_held_through_acw_and_lands_on_done(api, router):
    alice = ready(api, "alice", "voice")
    call = take(router, alice, "voice", "alice")
    held = alice.put(
        f"{API}/me/channels/voice/status/",
        {"status": "not_ready", "reason": "lunch"},
        format="json",
    )
    assert held.status_code == 202
    end(alice, call["id"], "hangup")
    voice = channel_of(alice, "voice")
    assert voice["status"] == "after_call_work"
    assert voice["pending"]["status"] == "not_ready"
    assert post(alice, f"/interactions/{call['id']}/done/").status_code == 200
    voice = channel_of(alice, "voice")
    assert (voice["status"], voice["reason"], voice["pending"], voice["wrap_up"]) == (
        "not_ready",
        "lunch",
        None,
        None,
    )
    last = history("alice", "voice")[-1]
    assert (last.from_status, last.to_status, last.cause) == (
        "after_call_work",
        "not_ready",
        "after_done",
    )


def test_without_pending_not_ready_applies_at_once_during_a_call(api, router):
    bob = ready(api, "bob", "voice")
    take(router, bob, "voice", "bob")
    applied = bob.put(
        f"{API}/me/channels/voice/status/",
        {"status": "not_ready", "reason": "break"},
        format="json",
    )
    assert applied.status_code == 200
    assert (applied.json()["status"], applied.json()["pending"]) == ("not_ready", None)


# -- longest-idle routing ----------------------------------------------------------------------
def test_routing_picks_the_agent_ready_the_longest(api, router):
    for name in ("sam", "tom", "alice"):  # sam has been ready the longest
        ready(api, name, "chat")
    idle = dict(
        AgentChannelState.objects.filter(channel_id="chat", status="ready").values_list(
            "agent__user__username", "idle_since"
        )
    )
    assert idle["sam"] < idle["tom"] < idle["alice"]
    routed = offer(router, "chat")
    assert (routed.status_code, routed.json()["agent"]) == (201, "sam")


def test_routing_spreads_work_fewest_open_first_then_longest_idle_and_skips_agents_at_cap(
    api, router
):
    for name in ("alice", "sam", "tom"):
        ready(api, name, "chat")
    now = timezone.now()
    for name, minutes in (("tom", 30), ("alice", 20), ("sam", 10)):
        AgentChannelState.objects.filter(agent=agent(name), channel_id="chat").update(
            idle_since=now - timedelta(minutes=minutes)
        )
    picked = [offer(router, "chat").json()["agent"] for _ in range(5)]
    # DECISIONS.md "Routing spreads work": fewest open chats first, then longest idle: tom
    # (cap 1), alice, sam, then alice and sam again up to their chat caps of 2.
    assert picked == ["tom", "alice", "sam", "alice", "sam"]
    refused(offer(router, "chat"), "no_eligible_agent", None)


def test_routing_ties_go_to_the_lower_agent_id(api, router):
    names = ("alice", "sam", "tom")
    for name in names:
        ready(api, name, "chat")
    same = timezone.now() - timedelta(minutes=5)
    AgentChannelState.objects.filter(channel_id="chat").update(idle_since=same)
    lowest = min(names, key=lambda n: agent(n).pk)
    assert offer(router, "chat").json()["agent"] == lowest


def test_ending_the_last_chat_restarts_the_idle_clock(api, router):
    alice = ready(api, "alice", "chat")
    ready(api, "sam", "chat")
    chat = take(router, alice, "chat", "alice")  # alice was ready first …
    end(alice, chat["id"], "chat_ended")  # … but her chat just ended
    assert offer(router, "chat").json()["agent"] == "sam"


def test_routing_skips_agents_who_are_not_ready_or_in_dnd(api, router):
    ready(api, "alice", "chat")
    sam = ready(api, "sam", "chat")
    tom = ready(api, "tom")  # logged in, not ready
    assert tom.get(f"{API}/me/").status_code == 200
    AgentChannelState.objects.filter(agent=agent("alice"), channel_id="chat").update(
        idle_since=timezone.now() - timedelta(hours=1)
    )
    api("alice").put(f"{API}/me/dnd/", {"enabled": True}, format="json")
    assert offer(router, "chat").json()["agent"] == "sam"
    sam.put(f"{API}/me/dnd/", {"enabled": True}, format="json")
    refused(offer(router, "chat"), "no_eligible_agent", None)


# -- R4: forwarding ----------------------------------------------------------------------------
def test_a_voice_offer_to_a_forwarding_extension_lands_on_the_target(api, router):
    bob = ready(api, "bob", "voice")
    ready(api, "alice", "voice")
    forwarded = bob.put(f"{API}/me/forwarding/", {"to_extension": "1001"}, format="json")
    assert (forwarded.status_code, forwarded.json()["forward_to"]) == (200, "1001")
    by_extension = offer(router, "voice", extension="1002")
    assert by_extension.status_code == 201, by_extension.json()
    body = by_extension.json()
    assert (body["agent"], body["forwarded_from"]) == ("alice", "1002")
    assert not Interaction.objects.filter(agent=agent("bob")).exists()
    post(api("alice"), f"/interactions/{body['id']}/reject/")
    by_agent = offer(router, "voice", "bob")
    assert (by_agent.json()["agent"], by_agent.json()["forwarded_from"]) == ("alice", "1002")


def test_forwarding_only_applies_to_voice(api, router):
    bob = ready(api, "bob", "voice")
    bob.put(f"{API}/me/forwarding/", {"to_extension": "1001"}, format="json")
    assert (
        bob.put(f"{API}/me/forwarding/", {"to_extension": None}, format="json").status_code == 200
    )
    ready(api, "alice", "voice")
    own = offer(router, "voice", extension="1002")
    assert (own.json()["agent"], own.json()["forwarded_from"]) == ("bob", None)


def test_an_ineligible_forward_target_is_forward_target_unavailable(api, router):
    bob = ready(api, "bob", "voice")
    bob.put(f"{API}/me/forwarding/", {"to_extension": "1001"}, format="json")
    ready(api, "alice")  # alice logged in but not ready on voice
    body = refused(
        offer(router, "voice", extension="1002"),
        "forward_target_unavailable",
        "R2:per_channel_status@default",
    )
    assert "alice" in body["detail"]
    assert not Interaction.objects.exists()


def test_routed_voice_skips_an_agent_who_forwards(api, router):
    bob = ready(api, "bob", "voice")
    bob.put(f"{API}/me/forwarding/", {"to_extension": "1001"}, format="json")
    refused(offer(router, "voice"), "no_eligible_agent", None)


# -- R10: party action -------------------------------------------------------------------------
def test_contact_detail_lists_phones_and_emails(api):
    jonas = contact()
    body = api("alice").get(f"{API}/contacts/{jonas.pk}/").json()
    assert body == {
        "id": jonas.pk,
        "name": "Jonas Weber",
        "phones": ["+4930123456", "+4915112345678"],
        "emails": ["jonas.weber@example.com", "j.weber@example.org"],
    }


def test_party_action_starts_an_active_outbound_call_to_a_phone_on_file(api, router):
    alice = ready(api, "alice", "email")  # voice: logged in, not ready — outbound needs no ready
    email = take(router, alice, "email", "alice")
    jonas = contact()
    call = post(
        alice,
        "/interactions/",
        {
            "channel": "voice",
            "direction": "outbound",
            "contact": jonas.pk,
            "to": "+4915112345678",
            "parent": email["id"],
        },
    )
    assert call.status_code == 201, call.json()
    body = call.json()
    assert (body["state"], body["direction"], body["agent"], body["channel"]) == (
        "active",
        "outbound",
        "alice",
        "voice",
    )
    assert (body["to"], body["parent"], body["contact"]) == (
        "+4915112345678",
        email["id"],
        jonas.pk,
    )
    default = post(
        alice,
        "/interactions/",
        {"channel": "email", "direction": "outbound", "parent": email["id"]},
    )
    assert default.status_code == 201, default.json()
    assert (default.json()["to"], default.json()["contact"]) == (
        "jonas.weber@example.com",
        jonas.pk,
    )


def test_outbound_to_an_address_not_on_file_is_400(api, router):
    alice = ready(api, "alice", "email")
    email = take(router, alice, "email", "alice")
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "to": "+4930999999", "parent": email["id"]},
    )
    assert (call.status_code, call.json()["code"]) == (400, "invalid")
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_outbound_naming_another_agent_is_403(api, router):
    alice = ready(api, "alice", "email")
    ready(api, "sam", "email")
    email = take(router, alice, "email", "alice")
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "agent": "sam", "parent": email["id"]},
    )
    assert (call.status_code, call.json()["code"]) == (403, "forbidden")
    mine = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "agent": "alice", "parent": email["id"]},
    )
    assert mine.status_code == 201


def test_an_agent_cannot_offer_inbound_work(api):
    ready(api, "alice", "chat")
    response = offer(api("alice"), "chat", "alice")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_outbound_on_a_logged_off_channel_is_refused(api, router):
    alice = api("alice")
    assert alice.post(f"{API}/me/login/", {"channels": ["email"]}, format="json").status_code == 200
    alice.put(f"{API}/me/channels/email/status/", {"status": "ready"}, format="json")
    email = take(router, alice, "email", "alice")
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "parent": email["id"]},
    )
    refused(call, "logged_off", "R2:per_channel_status@default")


# -- R11: click-to-contact ---------------------------------------------------------------------
CHAT_TEXT = "Bitte ruf mich an unter 030 1234567 oder schreib an Jonas.Neu@Example.net, danke!"


def _chat_with_points(api, router):
    alice = ready(api, "alice", "chat", "email")
    chat = take(router, alice, "chat", "alice")
    response = post(router, f"/interactions/{chat['id']}/messages/", {"text": CHAT_TEXT})
    assert response.status_code == 201, response.json()
    return alice, chat, response.json()


def test_a_contact_chat_message_is_kept_and_lists_its_contact_points(api, router):
    alice, chat, body = _chat_with_points(api, router)
    assert (body["interaction"], body["text"], body["author"]) == (chat["id"], CHAT_TEXT, None)
    points = [(p["kind"], p["value"], p["allowed"], p["code"]) for p in body["contact_points"]]
    assert points == [
        ("phone", "+49301234567", True, "allowed"),
        ("email", "jonas.neu@example.net", True, "allowed"),
    ]
    assert list(
        Message.objects.filter(interaction_id=chat["id"]).values_list("text", flat=True)
    ) == [CHAT_TEXT]
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "to": "+49301234567", "parent": chat["id"]},
    )
    assert call.status_code == 201, call.json()
    assert call.json()["to"] == "+49301234567"
    mail = post(
        alice,
        "/interactions/",
        {
            "channel": "email",
            "direction": "outbound",
            "to": "jonas.neu@example.net",
            "parent": chat["id"],
        },
    )
    assert mail.status_code == 201, mail.json()
    assert (mail.json()["to"], mail.json()["contact"]) == ("jonas.neu@example.net", contact().pk)


def test_contact_points_say_when_the_agent_may_not_use_them_now(api, router):
    rule = agent_rule("alice", "channel_cap", 0, channel="voice")
    _, _, body = _chat_with_points(api, router)
    phone = body["contact_points"][0]
    assert (phone["kind"], phone["allowed"], phone["code"]) == (
        "phone",
        False,
        "channel_cap_reached",
    )
    assert f"#{rule.pk}" in phone["rule"]


def test_click_to_contact_off_refuses_the_points_and_the_outbound(api, router):
    rule = agent_rule("alice", "click_to_contact", False)
    alice, chat, body = _chat_with_points(api, router)
    assert [(p["allowed"], p["code"]) for p in body["contact_points"]] == [
        (False, "click_to_contact_disabled"),
        (False, "click_to_contact_disabled"),
    ]
    assert all(f"@agent#{rule.pk}" in p["rule"] for p in body["contact_points"])
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "to": "+49301234567", "parent": chat["id"]},
    )
    body = refused(call, "click_to_contact_disabled", "R11:click_to_contact@agent#")
    assert f"#{rule.pk}" in body["rule"]
    on_file = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "to": "+4930123456", "parent": chat["id"]},
    )
    assert on_file.status_code == 201  # R10 party action to a number on file is not R11


def test_an_address_in_no_message_is_not_click_to_contact(api, router):
    alice, chat, _ = _chat_with_points(api, router)
    call = post(
        alice,
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "to": "+49309999999", "parent": chat["id"]},
    )
    assert (call.status_code, call.json()["fields"]) == (400, {"to": ["not_on_file"]})


def test_messages_on_an_email_are_400(api, router):
    alice = ready(api, "alice", "email")
    email = take(router, alice, "email", "alice")
    response = post(alice, f"/interactions/{email['id']}/messages/", {"text": "hi"})
    assert response.status_code == 400


# -- R6: consultation and conference -----------------------------------------------------------
def _call_and_sam(api, router, channel: str = "voice"):
    alice = ready(api, "alice", channel)
    sam = ready(api, "sam")  # logged in, not ready: a teammate need not be ready
    return alice, sam, take(router, alice, channel, "alice")


def test_alice_consults_sam_on_an_active_call(api, router):
    alice, sam, call = _call_and_sam(api, router)
    response = post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"})
    assert response.status_code == 201, response.json()
    child = response.json()
    assert (child["kind"], child["agent"], child["parent"], child["channel"]) == (
        "consultation",
        "sam",
        call["id"],
        "voice",
    )
    assert child["state"] == "offered"
    assert post(sam, f"/interactions/{child['id']}/accept/").json()["state"] == "active"
    assert channel_of(sam, "voice")["capacity"]["used"] == 1  # takes sam's voice line
    assert channel_of(alice, "voice")["capacity"]["used"] == 1  # never the initiator's


def test_a_teammate_in_dnd_is_refused(api, router):
    alice, sam, call = _call_and_sam(api, router)
    sam.put(f"{API}/me/dnd/", {"enabled": True}, format="json")
    for kind in ("consult", "conference"):
        response = post(alice, f"/interactions/{call['id']}/{kind}/", {"to": "sam"})
        refused(response, "dnd_active", "R3:do_not_disturb@default")


def test_a_teammate_at_voice_cap_is_refused_unless_consults_take_no_slot(api, router):
    alice, sam, call = _call_and_sam(api, router)
    sam.put(f"{API}/me/channels/voice/status/", {"status": "ready"}, format="json")
    take(router, sam, "voice", "sam")
    refused(
        post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"}),
        "channel_cap_reached",
        "R9:channel_cap[voice]@role#",
    )
    rule = agent_rule("sam", "consult_takes_slot", False)
    response = post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"})
    assert response.status_code == 201, response.json()
    child = Interaction.objects.get(pk=response.json()["id"])
    assert child.counts_toward_cap is False
    assert channel_of(sam, "voice")["capacity"]["used"] == 1  # the child takes no slot
    assert channel_of(sam, "voice")["active_interactions"] == 2
    Rule.objects.filter(pk=rule.pk).delete()  # slots again: sam is at cap
    refused(
        post(alice, f"/interactions/{call['id']}/conference/", {"to": "sam"}),
        "channel_cap_reached",
        "R9:channel_cap[voice]@role#",
    )


def test_a_teammate_logged_off_or_blind_to_the_channel_is_refused(api, router):
    alice = ready(api, "alice", "voice")
    call = take(router, alice, "voice", "alice")
    refused(
        post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"}),
        "logged_off",
        "R2:per_channel_status@default",
    )
    ready(api, "erin")
    refused(
        post(alice, f"/interactions/{call['id']}/consult/", {"to": "erin"}),
        "channel_not_visible",
        "R1:visible_channels@role#",
    )


def test_consult_needs_an_active_voice_or_chat_parent(api, router):
    alice = ready(api, "alice", "voice", "email")
    ready(api, "sam")
    email = take(router, alice, "email", "alice")
    assert post(alice, f"/interactions/{email['id']}/consult/", {"to": "sam"}).status_code == 400
    offered = offer(router, "voice", "alice").json()
    refused(
        post(alice, f"/interactions/{offered['id']}/consult/", {"to": "sam"}),
        "invalid_transition",
        None,
    )
    assert post(alice, f"/interactions/{email['id']}/consult/", {"to": "alice"}).status_code == 400


def test_conference_shares_the_transcript_and_consultation_keeps_its_own(api, router):
    alice, sam, chat = _call_and_sam(api, router, "chat")
    conference = post(alice, f"/interactions/{chat['id']}/conference/", {"to": "sam"}).json()
    consultation = post(alice, f"/interactions/{chat['id']}/consult/", {"to": "sam"}).json()
    assert (conference["kind"], consultation["kind"]) == ("conference", "consultation")
    for child in (conference, consultation):
        assert post(sam, f"/interactions/{child['id']}/accept/").status_code == 200

    post(router, f"/interactions/{chat['id']}/messages/", {"text": "Hallo, ich brauche Hilfe"})
    joined = post(sam, f"/interactions/{conference['id']}/messages/", {"text": "Sam here, hi!"})
    assert joined.status_code == 201, joined.json()
    assert joined.json()["interaction"] == chat["id"]
    private = post(sam, f"/interactions/{consultation['id']}/messages/", {"text": "psst, VIP"})
    assert private.status_code == 201, private.json()
    assert private.json()["interaction"] == consultation["id"]
    mine = post(alice, f"/interactions/{consultation['id']}/messages/", {"text": "x"})
    assert mine.status_code == 201  # both agents of a consultation write in it (DECISIONS.md)

    transcript = list(
        Message.objects.filter(interaction_id=chat["id"]).values_list("text", flat=True)
    )
    assert transcript == ["Hallo, ich brauche Hilfe", "Sam here, hi!"]
    assert list(
        Message.objects.filter(interaction_id=consultation["id"]).values_list("text", flat=True)
    ) == ["psst, VIP", "x"]
    assert not Message.objects.filter(interaction_id=conference["id"]).exists()


def test_ending_the_parent_ends_its_children(api, router):
    alice, sam, chat = _call_and_sam(api, router, "chat")
    conference = post(alice, f"/interactions/{chat['id']}/conference/", {"to": "sam"}).json()
    post(sam, f"/interactions/{conference['id']}/accept/")
    consultation = post(alice, f"/interactions/{chat['id']}/consult/", {"to": "sam"}).json()
    assert channel_of(sam, "chat")["active_interactions"] == 2
    assert end(alice, chat["id"], "chat_ended").status_code == 200
    states = dict(Interaction.objects.filter(parent_id=chat["id"]).values_list("kind", "state"))
    assert states == {"conference": "ended", "consultation": "missed"}
    assert Interaction.objects.get(pk=conference["id"]).end_how == "chat_ended"
    assert channel_of(sam, "chat")["active_interactions"] == 0
    assert consultation["id"]


# -- R5: IM ------------------------------------------------------------------------------------
def test_im_is_relayed_and_the_inbox_keeps_it_until_acknowledged(api):
    marker = f"im-{uuid.uuid4().hex}"
    alice, bob = api("alice"), api("bob")
    sent = post(alice, "/im/", {"to": "bob", "text": f"lunch? {marker}"})
    assert sent.status_code == 202, sent.json()
    inbox = bob.get(f"{API}/im/inbox/")
    assert inbox.status_code == 200
    mine = [m for m in inbox.json()["results"] if marker in m["text"]]
    assert [(m["from"], m["text"]) for m in mine] == [("alice", f"lunch? {marker}")]
    again = bob.get(f"{API}/im/inbox/").json()["results"]
    assert [m for m in again if marker in m["text"]] == mine  # reading removed nothing
    acked = post(bob, "/im/inbox/ack/", {"up_to": mine[0]["id"]})
    assert acked.status_code == 200, acked.json()
    after = bob.get(f"{API}/im/inbox/").json()["results"]
    assert not [m for m in after if marker in m["text"]]


def test_im_ignores_status_and_dnd(api):
    bob = api("bob")
    bob.put(f"{API}/me/dnd/", {"enabled": True}, format="json")  # bob logged off and in DND
    marker = f"im-{uuid.uuid4().hex}"
    assert post(api("alice"), "/im/", {"to": "bob", "text": marker}).status_code == 202
    assert marker in [m["text"] for m in bob.get(f"{API}/im/inbox/").json()["results"]]


def test_im_to_or_from_a_colleague_without_im_is_404(api):
    alice, erin = api("alice"), api("erin")
    to_erin = post(alice, "/im/", {"to": "erin", "text": "hi"})
    assert (to_erin.status_code, to_erin.json()["code"]) == (404, "not_found")
    from_erin = post(erin, "/im/", {"to": "alice", "text": "hi"})
    assert from_erin.status_code == 404
    assert erin.get(f"{API}/im/inbox/").status_code == 404
    assert post(alice, "/im/", {"to": "nobody", "text": "hi"}).status_code == 404


def test_im_is_not_routed_work(api, router):
    ready(api, "alice", "chat")
    response = offer(router, "im", "alice")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    routed = offer(router, "im")
    assert routed.status_code == 400
    assert not Interaction.objects.exists()


# -- offer expiry ------------------------------------------------------------------------------
def _expire(interaction_id: int) -> bool:
    Interaction.objects.filter(pk=interaction_id).update(
        offer_deadline=timezone.now() - timedelta(minutes=1)
    )
    version = Interaction.objects.get(pk=interaction_id).offer_version
    return svc.offer_expire(interaction_id, version)


def test_an_expired_offer_is_missed_and_frees_its_slot(api, router):
    alice = ready(api, "alice", "voice")
    pk = offer(router, "voice", "alice").json()["id"]
    interaction = Interaction.objects.get(pk=pk)
    assert svc.offer_expire(pk, interaction.offer_version) is False  # not due yet
    assert svc.offer_expire(pk, interaction.offer_version + 1) is False  # stale version
    assert _expire(pk) is True
    assert Interaction.objects.get(pk=pk).state == "missed"
    assert svc.offer_expire(pk, Interaction.objects.get(pk=pk).offer_version) is False
    assert channel_of(alice, "voice")["status"] == "ready"  # the default rule keeps ready
    assert channel_of(alice, "voice")["capacity"]["used"] == 0
    assert offer(router, "voice", "alice").status_code == 201
    refused(post(alice, f"/interactions/{pk}/accept/"), "invalid_transition", None)


def test_an_accepted_offer_never_expires(api, router):
    alice = ready(api, "alice", "voice")
    call = take(router, alice, "voice", "alice")
    assert _expire(call["id"]) is False
    assert Interaction.objects.get(pk=call["id"]).state == "active"


def test_a_missed_offer_sets_not_ready_where_the_rule_says(api, router):
    rule = agent_rule("alice", "missed_offer_not_ready", True)
    alice = ready(api, "alice", "voice", "chat")
    pk = offer(router, "chat", "alice").json()["id"]
    assert _expire(pk) is True
    chat = channel_of(alice, "chat")
    assert (chat["status"], chat["reason"]) == ("not_ready", "missed_offer")
    assert channel_of(alice, "voice")["status"] == "ready"  # only the offer's channel
    last = history("alice", "chat")[-1]
    assert (last.to_status, last.reason, last.cause, last.interaction_id) == (
        "not_ready",
        "missed_offer",
        "system",
        pk,
    )
    assert f"@agent#{rule.pk}" in last.rule


# -- query counts of the hot endpoints ---------------------------------------------------------
def test_hot_endpoints_stay_within_their_query_budget(api, router, django_assert_max_num_queries):
    alice = ready(api, "alice", "voice", "email", "chat")
    take(router, alice, "email", "alice")  # warm the rule cache; some open work to count
    with django_assert_max_num_queries(QUERY_BUDGET["offer"]):
        pk = offer(router, "chat", "alice").json()["id"]
    with django_assert_max_num_queries(QUERY_BUDGET["routed_offer"]):
        assert offer(router, "voice").status_code == 201
    with django_assert_max_num_queries(QUERY_BUDGET["accept"]):
        assert post(alice, f"/interactions/{pk}/accept/").status_code == 200
    with django_assert_max_num_queries(QUERY_BUDGET["end"]):
        assert end(alice, pk, "chat_ended").status_code == 200
    with django_assert_max_num_queries(QUERY_BUDGET["status"]):
        response = alice.put(
            f"{API}/me/channels/chat/status/",
            {"status": "not_ready", "reason": "break"},
            format="json",
        )
        assert response.status_code == 200
    email = Interaction.objects.filter(agent=agent("alice"), channel_id="email").get()
    body = {"channel": "email", "direction": "outbound", "parent": email.pk}
    with django_assert_max_num_queries(QUERY_BUDGET["outbound"]):
        assert post(alice, "/interactions/", body).status_code == 201


# Measured on PostgreSQL (offer 15, routed offer with one candidate 15, accept 14, end 19,
# status 14, outbound 16), plus a little headroom; SQLite needs one fewer (no clock query).
QUERY_BUDGET = {
    "offer": 18,
    "routed_offer": 18,
    "accept": 17,
    "end": 22,
    "status": 17,
    "outbound": 19,
}


def test_a_consultation_missed_because_the_parent_ended_starts_no_acw_for_the_teammate(api, router):
    alice, sam, call = _call_and_sam(api, router)
    consultation = post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"}).json()
    assert end(alice, call["id"], "hangup").status_code == 200
    assert Interaction.objects.get(pk=consultation["id"]).state == "missed"
    assert channel_of(alice, "voice")["status"] == "after_call_work"
    voice = channel_of(sam, "voice")  # sam never took the call: no wrap-up for him
    assert (voice["status"], voice["reason"], voice["wrap_up"]) == ("not_ready", "login", None)


def test_ending_a_consultation_starts_no_acw_for_the_teammate_by_default(api, router):
    """DECISIONS.md "Combinations": ending a consultation or conference child starts no ACW
    for the teammate unless the rule ``acw_after_assist`` says so."""
    alice, sam, call = _call_and_sam(api, router)
    before = channel_of(sam, "voice")["status"]
    consultation = post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"}).json()
    post(sam, f"/interactions/{consultation['id']}/accept/")
    assert end(alice, call["id"], "hangup").status_code == 200
    assert Interaction.objects.get(pk=consultation["id"]).state == "ended"
    assert channel_of(sam, "voice")["status"] == before
    assert channel_of(alice, "voice")["status"] == "after_call_work"  # the call's own ACW


def test_acw_after_assist_gives_the_teammate_acw_after_a_consultation(api, router):
    alice, sam, call = _call_and_sam(api, router)
    Rule.objects.create(scope="global", key="acw_after_assist", value=True)
    consultation = post(alice, f"/interactions/{call['id']}/consult/", {"to": "sam"}).json()
    post(sam, f"/interactions/{consultation['id']}/accept/")
    assert end(alice, call["id"], "hangup").status_code == 200
    assert channel_of(sam, "voice")["status"] == "after_call_work"  # it took his voice line


def test_a_pending_status_held_by_an_offer_applies_when_the_offer_is_rejected(api, router):
    alice = ready(api, "alice", "chat")
    pk = offer(router, "chat", "alice").json()["id"]  # offered = open work (DECISIONS.md)
    held = alice.put(
        f"{API}/me/channels/chat/status/", {"status": "not_ready", "reason": "break"}, format="json"
    )
    assert held.status_code == 202
    assert post(alice, f"/interactions/{pk}/reject/").status_code == 200
    chat = channel_of(alice, "chat")
    assert (chat["status"], chat["reason"], chat["pending"]) == ("not_ready", "break", None)
