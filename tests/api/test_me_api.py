"""The agent's own session and the supervisor endpoints over HTTP.

R1 (invisible = absent), R2 (per-channel status, login/logout), R3 (DND), R4 (forwarding),
R7 (pending off: at once), R8 (pending status), R16 (one history row per change), and the
authorization matrix of issue 3. Every error body is checked against API.md's shape.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from cc_rules.models import Agent, Interaction, Rule, StatusChange
from tests.factories import (
    BLENDED,
    EMAIL_SPECIALIST,
    REASONS,
    SINGLE_TASK,
    SOCIAL,
    VOICE_ONLY,
    RuleFactory,
    a_compliance_officer,
    a_role,
    a_router,
    a_team,
    an_agent,
    client_for,
    reason_codes,
)
from tests.services.history_checks import assert_history_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("people")]


@pytest.fixture
def people(db):
    """The cast: alice and sam (blended; sam also a supervisor), bob (voice_only), erin (e-mail
    only), tom (single task), sofia (social), cora (compliance) and the router; extensions
    1001 alice, 1002 bob, 1003 tom, 1009 sam; four global reason codes and one global rule.
    Sam supervises the team of alice, bob, erin, tom and sofia (not himself)."""
    reason_codes(*REASONS)
    RuleFactory(key="click_to_contact", value=True)
    blended = a_role("blended", **BLENDED)
    team = [
        an_agent("alice", role=blended, extension="1001"),
        an_agent("bob", role=a_role("voice_only", **VOICE_ONLY), extension="1002"),
        an_agent("erin", role=a_role("email_specialist", **EMAIL_SPECIALIST), extension=None),
        an_agent("tom", role=a_role("single_task", **SINGLE_TASK), extension="1003"),
        an_agent("sofia", role=a_role("social", **SOCIAL), extension=None),
    ]
    sam = an_agent("sam", role=blended, extension="1009", groups=["supervisor"], is_staff=True)
    a_team(agents=team, supervisors=[sam.user])
    a_compliance_officer("cora")
    a_router("router")


ME = "/api/v1/me/"
LOGIN = "/api/v1/me/login/"
LOGOUT = "/api/v1/me/logout/"
DND = "/api/v1/me/dnd/"
FORWARDING = "/api/v1/me/forwarding/"
RULES = "/api/v1/me/effective-rules/"
AGENTS = "/api/v1/agents/"
OFFER = "/api/v1/decisions/offer/"


def status_url(channel: str) -> str:
    return f"/api/v1/me/channels/{channel}/status/"


def force_url(username: str, channel: str) -> str:
    return f"/api/v1/agents/{username}/channels/{channel}/status/"


def assert_error(response, status: int, code: str, *, rule: bool | None = None) -> dict[str, Any]:
    """API.md: every 4xx is {code, detail, rule} (+ optional fields)."""
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert {"code", "detail", "rule"} <= set(body) <= {"code", "detail", "rule", "fields"}, body
    assert body["code"] == code, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["rule"] is None or isinstance(body["rule"], str), body
    if rule is True:
        assert body["rule"], body
    return body


def agent(username: str) -> Agent:
    return Agent.objects.select_related("user").get(user__username=username)


def rows(username: str, **filters: Any) -> list[StatusChange]:
    return list(
        StatusChange.objects.filter(agent__user__username=username, **filters).order_by("seq")
    )


def open_work(username: str, channel: str) -> Interaction:
    return Interaction.objects.create(
        agent=agent(username),
        channel_id=channel,
        direction="inbound",
        state="active",
        created_at=timezone.now(),
    )


def channels(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["channel"]: c for c in body["channels"]}


@pytest.fixture
def alice(api):
    client = api("alice")
    assert client.post(LOGIN, {}, format="json").status_code == 200
    return client


@pytest.fixture
def bob(api):
    client = api("bob")
    assert client.post(LOGIN, {}, format="json").status_code == 200
    return client


# -- login / logout (R2) ------------------------------------------------------------------------
def test_login_puts_every_visible_channel_in_not_ready_login_with_one_row_each(api):
    client = api("alice")
    assert channels(client.get(ME).json())["voice"]["status"] == "logged_off"

    response = client.post(LOGIN, {}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["role"] == "blended"
    assert list(channels(body)) == ["voice", "email", "chat", "im"]  # R1: only visible ones
    for state in body["channels"]:
        assert (state["status"], state["reason"], state["pending"]) == ("not_ready", "login", None)
    history = rows("alice")
    assert sorted(r.channel_id for r in history) == ["chat", "email", "im", "voice"]
    for row in history:
        assert (row.event, row.from_status, row.to_status, row.reason, row.cause) == (
            "status",
            "logged_off",
            "not_ready",
            "login",
            "agent",
        )
        assert row.actor.username == "alice"
        assert row.request_id
    assert len({r.request_id for r in history}) == 1  # one request, one id


def test_login_again_is_a_noop_without_rows(alice):
    before = len(rows("alice"))
    response = alice.post(LOGIN, {}, format="json")
    assert response.status_code == 200
    assert len(rows("alice")) == before


def test_login_to_some_channels_leaves_the_others_logged_off(api):
    client = api("alice")
    response = client.post(LOGIN, {"channels": ["chat", "voice"]}, format="json")
    assert response.status_code == 200
    states = channels(response.json())
    assert states["chat"]["status"] == states["voice"]["status"] == "not_ready"
    assert states["email"]["status"] == states["im"]["status"] == "logged_off"
    assert len(rows("alice")) == 2


def test_login_to_an_invisible_channel_is_not_found_and_changes_nothing(api):
    client = api("erin")  # email_specialist sees email only
    assert_error(
        client.post(LOGIN, {"channels": ["email", "voice"]}, format="json"), 404, "not_found"
    )
    assert rows("erin") == []
    assert channels(client.get(ME).json())["email"]["status"] == "logged_off"


def test_login_with_an_unknown_channel_is_invalid(api):
    body = assert_error(
        api("alice").post(LOGIN, {"channels": ["fax"]}, format="json"), 400, "invalid"
    )
    assert "channels" in body["fields"]


def test_logout_logs_off_every_channel(alice):
    alice.put(status_url("chat"), {"status": "ready"}, format="json")
    response = alice.post(LOGOUT, {}, format="json")
    assert response.status_code == 200
    assert {c["status"] for c in response.json()["channels"]} == {"logged_off"}
    assert_history_consistent(agent("alice"))


def test_logout_with_open_work_is_refused_and_changes_nothing(alice):
    open_work("alice", "email")
    before = len(rows("alice"))
    assert_error(alice.post(LOGOUT, {}, format="json"), 409, "active_interactions", rule=True)
    assert len(rows("alice")) == before
    assert {c["status"] for c in alice.get(ME).json()["channels"]} == {"not_ready"}


def test_logging_off_one_channel_leaves_the_others(alice):
    alice.put(status_url("voice"), {"status": "ready"}, format="json")
    response = alice.put(status_url("chat"), {"status": "logged_off"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "logged_off"
    states = channels(alice.get(ME).json())
    assert states["chat"]["status"] == "logged_off"
    assert states["voice"]["status"] == "ready"
    assert states["email"]["status"] == states["im"]["status"] == "not_ready"


# -- per-channel status (R2) --------------------------------------------------------------------
def test_not_ready_with_a_reason_applies_and_is_recorded(alice):
    response = alice.put(
        status_url("voice"), {"status": "not_ready", "reason": "break"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["channel"], body["status"], body["reason"], body["pending"]) == (
        "voice",
        "not_ready",
        "break",
        None,
    )
    assert body["capacity"] == {"max": 1, "used": 0}
    last = rows("alice")[-1]
    assert (last.channel_id, last.from_status, last.to_status, last.reason, last.cause) == (
        "voice",
        "not_ready",
        "not_ready",
        "break",
        "agent",
    )


def test_a_change_of_reason_alone_is_a_change_with_a_row(alice):
    alice.put(status_url("voice"), {"status": "not_ready", "reason": "break"}, format="json")
    before = len(rows("alice"))
    response = alice.put(
        status_url("voice"), {"status": "not_ready", "reason": "lunch"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["reason"] == "lunch"
    new = rows("alice")[before:]
    assert [(r.from_status, r.to_status, r.reason) for r in new] == [
        ("not_ready", "not_ready", "lunch")
    ]


def test_the_same_put_again_is_a_noop_without_a_row(alice):
    first = alice.put(
        status_url("voice"), {"status": "not_ready", "reason": "break"}, format="json"
    )
    before = len(rows("alice"))
    again = alice.put(
        status_url("voice"), {"status": "not_ready", "reason": "break"}, format="json"
    )
    assert again.status_code == 200
    assert again.json() == first.json()  # `since` unchanged too
    assert len(rows("alice")) == before


def test_not_ready_without_a_reason_from_logged_off_is_idempotent(api):
    """A PUT is a no-op only when nothing would change; so the same PUT twice writes one row."""
    client = api("alice")
    first = client.put(status_url("voice"), {"status": "not_ready"}, format="json")
    assert first.status_code == 200
    count = len(rows("alice"))
    again = client.put(status_url("voice"), {"status": "not_ready"}, format="json")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(rows("alice")) == count == 1


def test_ready_then_not_ready_then_ready_tiles_the_history(alice):
    for ask in (
        {"status": "ready"},
        {"status": "not_ready", "reason": "meeting"},
        {"status": "ready"},
        {"status": "logged_off"},
        {"status": "ready"},
    ):
        assert alice.put(status_url("email"), ask, format="json").status_code == 200
    email = [r for r in rows("alice") if r.channel_id == "email"]
    assert [(r.from_status, r.to_status) for r in email] == [
        ("logged_off", "not_ready"),
        ("not_ready", "ready"),
        ("ready", "not_ready"),
        ("not_ready", "ready"),
        ("ready", "logged_off"),
        ("logged_off", "ready"),
    ]
    assert_history_consistent(agent("alice"))


def test_an_invisible_channel_is_not_found(api):
    client = api("erin")
    client.post(LOGIN, {}, format="json")
    for channel in ("voice", "chat", "im", "fax"):
        assert_error(
            client.put(status_url(channel), {"status": "ready"}, format="json"), 404, "not_found"
        )
    assert [c["channel"] for c in client.get(ME).json()["channels"]] == ["email"]


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "busy"},
        {"status": "after_call_work"},  # only the system enters ACW
        {},
        {"status": "ready", "agent": "bob"},  # no mass assignment
        {"status": None},
    ],
)
def test_an_unknown_status_is_invalid(alice, payload):
    before = len(rows("alice"))
    body = assert_error(alice.put(status_url("voice"), payload, format="json"), 400, "invalid")
    assert body["fields"]
    assert len(rows("alice")) == before


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"status": "not_ready", "reason": "nap"}, "unknown_reason"),
        ({"status": "not_ready", "reason": "login"}, "unknown_reason"),  # a system reason
        ({"status": "not_ready", "reason": "acw_timeout"}, "unknown_reason"),
        ({"status": "ready", "reason": "break"}, "unknown_reason"),
        ({"status": "logged_off", "reason": "break"}, "unknown_reason"),
    ],
)
def test_an_invalid_reason_is_400_with_the_reason_field(alice, payload, code):
    before = len(rows("alice"))
    body = assert_error(
        alice.put(status_url("voice"), payload, format="json"), 400, "invalid", rule=True
    )
    assert body["fields"] == {"reason": [code]}
    assert len(rows("alice")) == before


def test_reason_required_by_rule(alice):
    blended = agent("alice").role
    Rule.objects.create(scope="role", role=blended, key="reason_required", value=True)
    body = assert_error(
        alice.put(status_url("voice"), {"status": "not_ready"}, format="json"),
        400,
        "invalid",
        rule=True,
    )
    assert body["fields"] == {"reason": ["reason_required"]}
    assert body["rule"].startswith("R2:reason_required@role")


# -- pending status (R8) and R7 -----------------------------------------------------------------
def test_pending_not_ready_is_held_with_an_open_chat(alice):
    open_work("alice", "chat")
    before = len(rows("alice"))

    response = alice.put(
        status_url("chat"), {"status": "not_ready", "reason": "break"}, format="json"
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["reason"] == "login"
    assert body["pending"]["status"] == "not_ready"
    assert body["pending"]["reason"] == "break"
    assert body["pending"]["requested_at"]
    assert body["active_interactions"] == 1
    assert body["capacity"] == {"max": 2, "used": 1}
    new = rows("alice")[before:]
    assert [(r.event, r.from_status, r.to_status, r.reason, r.cause) for r in new] == [
        ("pending", "", "not_ready", "break", "agent")
    ]
    assert new[0].rule.startswith("R8:pending_enabled@role")
    # While pending, the channel gets no new work (R8).
    router = client_for("router")
    offer = router.post(OFFER, {"agent": "alice", "channel": "chat"}, format="json")
    assert offer.json()["code"] == "pending_held"


def test_a_second_request_replaces_the_pending_one(alice):
    open_work("alice", "chat")
    alice.put(status_url("chat"), {"status": "not_ready", "reason": "break"}, format="json")
    before = len(rows("alice"))

    response = alice.put(status_url("chat"), {"status": "logged_off"}, format="json")

    assert response.status_code == 202
    assert response.json()["pending"]["status"] == "logged_off"
    new = rows("alice")[before:]
    assert [(r.event, r.from_status, r.to_status) for r in new] == [
        ("pending", "not_ready", "logged_off")
    ]
    # Asking again for what is pending changes nothing: API.md's 200 no-op, no row.
    again = alice.put(status_url("chat"), {"status": "logged_off"}, format="json")
    assert again.status_code == 200
    assert again.json()["pending"]["status"] == "logged_off"
    assert len(rows("alice")) == before + 1


def test_ready_cancels_a_pending_status_with_a_row(alice):
    alice.put(status_url("chat"), {"status": "ready"}, format="json")
    open_work("alice", "chat")
    alice.put(status_url("chat"), {"status": "not_ready", "reason": "break"}, format="json")
    before = len(rows("alice"))

    response = alice.put(status_url("chat"), {"status": "ready"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["pending"]) == ("ready", None)
    new = rows("alice")[before:]
    assert [(r.event, r.from_status, r.to_status) for r in new] == [("pending", "not_ready", "")]
    assert_history_consistent(agent("alice"))


def test_ready_from_not_ready_with_a_pending_status_clears_it_and_applies(alice):
    open_work("alice", "chat")
    alice.put(status_url("chat"), {"status": "not_ready", "reason": "break"}, format="json")
    before = len(rows("alice"))

    response = alice.put(status_url("chat"), {"status": "ready"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["pending"]) == ("ready", None)
    new = rows("alice")[before:]
    assert [(r.event, r.from_status, r.to_status) for r in new] == [
        ("pending", "not_ready", ""),
        ("status", "not_ready", "ready"),
    ]
    assert_history_consistent(agent("alice"))


def test_ending_the_chat_applies_the_pending_status(alice):
    """Issue 3, done-when: the history shows cause pending_released."""
    work = open_work("alice", "chat")
    alice.put(status_url("chat"), {"status": "not_ready", "reason": "break"}, format="json")

    ended = alice.post(f"/api/v1/interactions/{work.pk}/end/", {"how": "chat_ended"}, format="json")

    assert ended.status_code == 200, ended.content
    chat = channels(alice.get(ME).json())["chat"]
    assert (chat["status"], chat["reason"], chat["pending"]) == ("not_ready", "break", None)
    last = rows("alice")[-1]
    assert (last.event, last.channel_id, last.to_status, last.reason, last.cause) == (
        "status",
        "chat",
        "not_ready",
        "break",
        "pending_released",
    )
    assert last.interaction_id == work.pk
    assert last.rule.startswith("R8:pending_release_on")
    assert_history_consistent(agent("alice"))


def test_pending_off_applies_not_ready_at_once_during_a_call(bob):
    """R7: bob (voice_only, pending off) on a call."""
    open_work("bob", "voice")
    response = bob.put(
        status_url("voice"), {"status": "not_ready", "reason": "break"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["reason"], body["pending"]) == ("not_ready", "break", None)
    assert body["active_interactions"] == 1
    last = rows("bob")[-1]
    assert (last.event, last.to_status, last.reason) == ("status", "not_ready", "break")
    assert last.rule == "R7:time_accounting@default"


def test_logged_off_with_open_work_is_held_for_alice(alice):
    open_work("alice", "email")
    response = alice.put(status_url("email"), {"status": "logged_off"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "not_ready"
    assert response.json()["pending"]["status"] == "logged_off"


def test_logged_off_with_open_work_is_refused_for_bob(bob):
    open_work("bob", "voice")
    before = len(rows("bob"))
    assert_error(
        bob.put(status_url("voice"), {"status": "logged_off"}, format="json"),
        409,
        "active_interactions",
        rule=True,
    )
    assert len(rows("bob")) == before
    assert_error(bob.post(LOGOUT, {}, format="json"), 409, "active_interactions")


# -- DND (R3) -----------------------------------------------------------------------------------
def test_dnd_keeps_statuses_and_refuses_every_offer(alice, api):
    alice.put(status_url("voice"), {"status": "ready"}, format="json")
    alice.put(status_url("email"), {"status": "not_ready", "reason": "lunch"}, format="json")
    before = alice.get(ME).json()["channels"]
    count = len(rows("alice"))

    response = alice.put(DND, {"enabled": True}, format="json")

    assert response.status_code == 200
    assert response.json()["dnd"] is True
    assert response.json()["channels"] == before
    assert alice.get(ME).json()["channels"] == before
    [row] = rows("alice")[count:]
    assert (row.event, row.channel_id, row.from_status, row.to_status, row.cause) == (
        "dnd",
        None,
        "off",
        "on",
        "agent",
    )
    router = api("router")
    for channel in ("voice", "email", "chat", "im"):
        decision = router.post(OFFER, {"agent": "alice", "channel": channel}, format="json")
        assert decision.status_code == 200
        assert (decision.json()["allowed"], decision.json()["code"]) == (False, "dnd_active")

    again = alice.put(DND, {"enabled": True}, format="json")  # idempotent: no second row
    assert again.status_code == 200
    assert len(rows("alice")) == count + 1

    off = alice.put(DND, {"enabled": False}, format="json")
    assert off.status_code == 200
    assert off.json()["dnd"] is False
    assert off.json()["channels"] == before
    assert rows("alice")[-1].to_status == "off"
    voice = router.post(OFFER, {"agent": "alice", "channel": "voice"}, format="json")
    assert voice.json()["allowed"] is True
    assert_history_consistent(agent("alice"))


def test_dnd_needs_a_boolean(alice):
    assert_error(alice.put(DND, {"enabled": "maybe"}, format="json"), 400, "invalid")
    assert_error(alice.put(DND, {}, format="json"), 400, "invalid")


# -- forwarding (R4) ----------------------------------------------------------------------------
def test_forwarding_to_a_valid_extension_and_back(alice):
    response = alice.put(FORWARDING, {"to_extension": "1002"}, format="json")
    assert response.status_code == 200
    assert response.json()["forward_to"] == "1002"
    assert agent("alice").forward_to == "1002"
    off = alice.put(FORWARDING, {"to_extension": None}, format="json")
    assert off.status_code == 200
    assert off.json()["forward_to"] is None
    assert agent("alice").forward_to is None


@pytest.mark.parametrize(
    ("to_extension", "field_code"),
    [
        ("1001", "own_extension"),
        ("4711", "unknown_extension"),
        ("12ab", None),
        ("+1002", None),
        ("1", None),
        ("", None),
    ],
)
def test_forwarding_refuses_bad_extensions(alice, to_extension, field_code):
    body = assert_error(
        alice.put(FORWARDING, {"to_extension": to_extension}, format="json"), 400, "invalid"
    )
    assert "to_extension" in body["fields"]
    if field_code:
        assert body["fields"]["to_extension"] == [field_code]
    assert agent("alice").forward_to is None


def test_forwarding_to_someone_who_forwards_is_a_chain(api):
    assert api("sam").put(FORWARDING, {"to_extension": "1002"}, format="json").status_code == 200
    body = assert_error(
        api("alice").put(FORWARDING, {"to_extension": "1009"}, format="json"), 400, "invalid"
    )
    assert body["fields"] == {"to_extension": ["forwarding_chain"]}


def test_forwarding_back_is_a_loop(api):
    assert api("alice").put(FORWARDING, {"to_extension": "1002"}, format="json").status_code == 200
    body = assert_error(
        api("bob").put(FORWARDING, {"to_extension": "1001"}, format="json"), 400, "invalid"
    )
    assert body["fields"] == {"to_extension": ["forwarding_chain"]}
    # Bob, who receives alice's calls, cannot pass them on either (A→B→C).
    body = assert_error(
        api("bob").put(FORWARDING, {"to_extension": "1003"}, format="json"), 400, "invalid"
    )
    assert agent("bob").forward_to is None


# -- effective rules ----------------------------------------------------------------------------
def _rule(body: dict[str, Any], key: str, channel: str | None = None) -> dict[str, Any]:
    [found] = [r for r in body["rules"] if r["key"] == key and r["channel"] == channel]
    return found


def test_effective_rules_list_value_and_scope(api):
    client = api("alice")
    response = client.get(RULES)
    assert response.status_code == 200
    body = response.json()
    assert (body["agent"], body["role"]) == ("alice", "blended")
    cap = _rule(body, "channel_cap", "chat")
    assert (cap["value"], cap["scope"], cap["rule"]) == (2, "role", "R9")
    assert cap["id"] is not None
    release = _rule(body, "pending_release_on")
    assert (release["value"], release["scope"]) == (
        ["chat_ended", "hangup", "sent", "workbin"],
        "role",
    )
    assert _rule(body, "click_to_contact")["scope"] == "global"
    assert _rule(body, "reason_required")["scope"] == "default"
    assert _rule(body, "visible_channels")["value"] == ["chat", "email", "im", "voice"]
    assert _rule(body, "reason_codes")["value"] == ["break", "lunch", "meeting", "training"]
    # Invisible channels do not appear (R1).
    assert not [r for r in body["rules"] if r["channel"] in ("facebook", "twitter", "workitem")]
    assert {r["scope"] for r in body["rules"]} <= {"global", "role", "agent", "default"}


def test_an_agent_rule_takes_effect_on_the_next_request(api):
    client = api("alice")
    assert _rule(client.get(RULES).json(), "channel_cap", "chat")["value"] == 2

    row = Rule.objects.create(
        scope="agent", agent=agent("alice"), key="channel_cap", channel_id="chat", value=1
    )

    cap = _rule(client.get(RULES).json(), "channel_cap", "chat")
    assert (cap["value"], cap["scope"], cap["id"]) == (1, "agent", row.pk)
    # Per field: the role's email cap is still in force.
    assert _rule(client.get(RULES).json(), "channel_cap", "email")["scope"] == "role"
    assert channels(client.get(ME).json())["chat"]["capacity"]["max"] == 1


# -- supervisor (R2) ----------------------------------------------------------------------------
def test_supervisor_lists_agents_with_live_states(alice, api):
    alice.put(status_url("voice"), {"status": "ready"}, format="json")
    response = api("sam").get(AGENTS)
    assert response.status_code == 200
    body = response.json()
    assert {"next", "previous", "results"} <= set(body)
    by_name = {a["username"]: a for a in body["results"]}
    # His team's agents: not himself (his own session is /me/), not cora or the router.
    assert set(by_name) == {"alice", "bob", "erin", "tom", "sofia"}
    assert channels(by_name["alice"])["voice"]["status"] == "ready"
    assert [c["channel"] for c in by_name["erin"]["channels"]] == ["email"]
    detail = api("sam").get(f"{AGENTS}alice/")
    assert detail.status_code == 200
    assert detail.json()["username"] == "alice"
    assert_error(api("sam").get(f"{AGENTS}nobody/"), 404, "not_found")


def test_supervisor_forces_a_status(alice, api):
    response = api("sam").put(
        force_url("alice", "voice"), {"status": "not_ready", "reason": "meeting"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("not_ready", "meeting")
    last = rows("alice")[-1]
    assert (last.channel_id, last.to_status, last.reason, last.cause) == (
        "voice",
        "not_ready",
        "meeting",
        "supervisor",
    )
    assert last.actor.username == "sam"
    assert last.actor_name == "sam"
    assert last.rule == "R2:supervisor_override@default"
    assert channels(alice.get(ME).json())["voice"]["reason"] == "meeting"


def test_supervisor_force_clears_a_pending_status(alice, api):
    open_work("alice", "chat")
    alice.put(status_url("chat"), {"status": "not_ready", "reason": "break"}, format="json")
    response = api("sam").put(force_url("alice", "chat"), {"status": "ready"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["pending"]) == ("ready", None)
    new = rows("alice")[-2:]
    assert [(r.event, r.cause) for r in new] == [
        ("pending", "supervisor"),
        ("status", "supervisor"),
    ]
    assert_history_consistent(agent("alice"))


def test_supervisor_forced_logged_off_with_open_work_is_refused(alice, api):
    open_work("alice", "voice")
    before = len(rows("alice"))
    assert_error(
        api("sam").put(force_url("alice", "voice"), {"status": "logged_off"}, format="json"),
        409,
        "active_interactions",
        rule=True,
    )
    assert len(rows("alice")) == before


def test_supervisor_force_validates_like_the_agent(alice, api):
    sam = api("sam")
    assert_error(
        sam.put(force_url("erin", "voice"), {"status": "ready"}, format="json"), 404, "not_found"
    )
    assert_error(
        sam.put(force_url("nobody", "voice"), {"status": "ready"}, format="json"), 404, "not_found"
    )
    assert_error(
        sam.put(
            force_url("alice", "voice"), {"status": "not_ready", "reason": "nap"}, format="json"
        ),
        400,
        "invalid",
    )
    assert_error(
        sam.put(force_url("alice", "voice"), {"status": "busy"}, format="json"), 400, "invalid"
    )


# -- authorization matrix -----------------------------------------------------------------------
ENDPOINTS = [
    ("get", ME, None),
    ("get", RULES, None),
    ("post", LOGIN, {}),
    ("post", LOGOUT, {}),
    ("put", status_url("voice"), {"status": "ready"}),
    ("put", DND, {"enabled": True}),
    ("put", FORWARDING, {"to_extension": None}),
    ("get", AGENTS, None),
    ("get", f"{AGENTS}alice/", None),
    ("put", force_url("alice", "voice"), {"status": "ready"}),
]
AGENT_WRITES = [e for e in ENDPOINTS if e[0] != "get" and not e[1].startswith(AGENTS)]
SUPERVISOR_ONLY = [e for e in ENDPOINTS if e[1].startswith(AGENTS)]


def call(client, method: str, url: str, payload: Any):
    if payload is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, payload, format="json")


@pytest.mark.parametrize(("method", "url", "payload"), ENDPOINTS)
def test_anonymous_gets_401_everywhere(api, method, url, payload):
    response = call(api(), method, url, payload)
    assert_error(response, 401, "not_authenticated")
    assert response.headers.get("WWW-Authenticate")


@pytest.mark.parametrize(("method", "url", "payload"), ENDPOINTS)
def test_a_bad_token_gets_401(api, method, url, payload):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_error(call(client, method, url, payload), 401, "not_authenticated")


@pytest.mark.parametrize(("method", "url", "payload"), SUPERVISOR_ONLY)
def test_an_agent_gets_403_on_supervisor_endpoints(api, method, url, payload):
    before = StatusChange.objects.count()
    assert_error(call(api("alice"), method, url, payload), 403, "forbidden")
    assert StatusChange.objects.count() == before


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("put", force_url("alice", "voice"), {"status": "not_ready", "reason": "break"}),
        ("get", f"{AGENTS}alice/", None),
        ("put", force_url("bob", "voice"), {"status": "ready"}),
    ],
)
def test_another_agent_can_never_reach_alices_session(api, alice, method, url, payload):
    """Object-level: the only URLs naming another agent are the supervisor's."""
    before = len(rows("alice"))
    assert_error(call(api("bob"), method, url, payload), 403, "forbidden")
    assert len(rows("alice")) == before
    assert channels(alice.get(ME).json())["voice"]["reason"] == "login"


def test_me_is_always_the_caller(api, alice):
    """bob's /me/ writes touch bob only, whatever he puts in the body."""
    bob = api("bob")
    assert_error(
        bob.put(status_url("voice"), {"status": "ready", "agent": "alice"}, format="json"),
        400,
        "invalid",
    )
    assert bob.post(LOGIN, {}, format="json").json()["username"] == "bob"
    assert bob.put(status_url("voice"), {"status": "ready"}, format="json").status_code == 200
    assert channels(alice.get(ME).json())["voice"]["status"] == "not_ready"


@pytest.mark.parametrize(("method", "url", "payload"), [*AGENT_WRITES, ("get", ME, None)])
def test_compliance_has_no_session(api, method, url, payload):
    before = StatusChange.objects.count()
    assert_error(call(api("cora"), method, url, payload), 403, "forbidden")
    assert StatusChange.objects.count() == before


@pytest.mark.parametrize(("method", "url", "payload"), SUPERVISOR_ONLY)
def test_compliance_cannot_use_supervisor_endpoints(api, method, url, payload):
    assert_error(call(api("cora"), method, url, payload), 403, "forbidden")


def test_the_router_has_no_session(api):
    assert_error(
        api("router").put(status_url("voice"), {"status": "ready"}, format="json"), 403, "forbidden"
    )


def test_a_supervisor_who_is_an_agent_has_a_session(api):
    sam = api("sam")
    response = sam.post(LOGIN, {}, format="json")
    assert response.status_code == 200
    assert response.json()["username"] == "sam"


def test_wrong_methods_and_media_types_keep_the_error_shape(alice):
    assert_error(alice.delete(ME), 405, "method_not_allowed")
    assert_error(
        alice.post(status_url("voice"), {"status": "ready"}, format="json"),
        405,
        "method_not_allowed",
    )
    response = alice.put(
        status_url("voice"), "status=ready", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")
    response = alice.put(status_url("voice"), "{not json", content_type="application/json")
    assert_error(response, 400, "invalid")
    response = alice.put(status_url("voice"), "[1, 2]", content_type="application/json")
    assert_error(response, 400, "invalid")
