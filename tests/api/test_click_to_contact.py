"""Click-to-contact (R11) and party action (R10) through the API (DECISIONS.md, "Combinations";
issue 13 case 7 and "an outbound call may name an ended parent"). Built on its own small world.
"""

from __future__ import annotations

import pytest

from cc_rules.models import Agent, Interaction

from .builders import agent, contact, ok, post, ready, refused, role, router, rule_row, take

pytestmark = pytest.mark.django_db

ON_FILE_PHONE = "+493098765432"
ON_FILE_EMAIL = "Kim.Lee@Example.com"


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    settings.CC_SEND_WAKEUPS = False


@pytest.fixture
def world():
    """ann (voice, e-mail, chat; chat ready) handles a chat with Kim, who has a number and an
    address on file."""
    ann = agent("ann", role("team"))
    ready(ann, "chat")
    the_router = router()
    kim = contact("Kim", phones=[ON_FILE_PHONE], emails=[ON_FILE_EMAIL])
    chat = take(the_router, ann, "ann", "chat", kim)
    return {"ann": ann, "router": the_router, "chat": chat["id"], "kim": kim}


def says(world, who: str, text: str) -> list[tuple]:
    """``who`` (``router``: the contact) writes ``text`` in the chat; the points it offers."""
    body = ok(post(world[who], f"/interactions/{world['chat']}/messages/", {"text": text}), 201)
    return [(p["kind"], p["value"], p["allowed"], p["code"]) for p in body["contact_points"]]


def outbound(world, channel: str, to: str | None, *, parent: bool = True, **extra):
    body = {"channel": channel, "direction": "outbound", "to": to, **extra}
    if parent:
        body["parent"] = world["chat"]
    else:
        body["contact"] = world["kim"].pk
    return post(world["ann"], "/interactions/", body)


def test_click_to_contact_offers_only_points_the_contact_wrote(world):
    # The agent's own words offer nothing and open nothing, premium rate or not.
    assert says(world, "ann", "Ich rufe Sie unter +49 900 1234567 oder 030 5551234 an") == []
    for to in ("+49 900 1234567", "+49305551234"):
        response = outbound(world, "voice", to)
        assert (response.status_code, response.json()["fields"]) == (400, {"to": ["not_on_file"]})
    # What the contact writes is offered and may be called.
    assert says(world, "router", "Erreichbar unter 030 5551234, danke") == [
        ("phone", "+49305551234", True, "allowed"),
    ]
    call = ok(outbound(world, "voice", "030 5551234"), 201)
    assert (call["to"], call["contact"], call["parent"]) == (
        "+49305551234",
        world["kim"].pk,
        world["chat"],
    )


def test_premium_rate_numbers_are_number_type_not_allowed(world):
    assert says(world, "router", "Hotline +49 900 1234567 oder 0180 1234567") == [
        ("phone", "+499001234567", False, "number_type_not_allowed"),
        ("phone", "+491801234567", False, "number_type_not_allowed"),
    ]
    for to in ("+499001234567", "0180 1234567"):
        refused(
            outbound(world, "voice", to),
            "number_type_not_allowed",
            "R11:dialable_number_types@default",
        )
    assert not Interaction.objects.filter(direction="outbound").exists()
    # The rule decides: an agent allowed premium rate may dial it.
    ann = Agent.objects.get(user__username="ann")
    rule = rule_row("agent", "dialable_number_types", ["premium_rate"], agent=ann)
    assert says(world, "router", "nochmal: +49 900 1234567") == [
        ("phone", "+499001234567", True, "allowed"),
    ]
    assert ok(outbound(world, "voice", "+49 900 1234567"), 201)["to"] == "+499001234567"
    body = refused(outbound(world, "voice", "0180 1234567"), "number_type_not_allowed", "R11:")
    assert body["rule"].startswith(f"R11:dialable_number_types@agent#{rule.pk}")


def test_a_number_as_the_contact_wrote_it_matches_the_point_on_file(world):
    for to, channel, stored in (
        ("030 98765432", "voice", ON_FILE_PHONE),
        ("+49 (0)30 9876-5432", "voice", ON_FILE_PHONE),
        ("kim.lee@EXAMPLE.COM", "email", ON_FILE_EMAIL),
    ):
        for parent in (False, True):
            made = ok(outbound(world, channel, to, parent=parent), 201)
            assert made["to"] == stored, (to, parent)
    # On file is R10, not R11: the click-to-contact rules do not apply.
    ann = Agent.objects.get(user__username="ann")
    rule_row("agent", "click_to_contact", False, agent=ann)
    assert ok(outbound(world, "voice", "030 98765432"), 201)["to"] == ON_FILE_PHONE


def test_an_email_the_contact_wrote_matches_in_any_case(world):
    assert says(world, "router", "Schreiben Sie an Kim.Neu@Example.NET bitte.") == [
        ("email", "kim.neu@example.net", True, "allowed"),
    ]
    assert ok(outbound(world, "email", "KIM.NEU@example.net"), 201)["to"] == "kim.neu@example.net"


def test_order_numbers_and_localhost_are_not_contact_points(world):
    text = "Bestellnummer 4711-0815-2231, Kundennr 1234567890, Antwort an x@localhost"
    assert says(world, "router", text) == []
    for channel, to in (("voice", "4711-0815-2231"), ("email", "x@localhost")):
        response = outbound(world, channel, to)
        assert (response.status_code, response.json()["fields"]) == (400, {"to": ["not_on_file"]})


def test_a_point_from_another_chat_of_the_contact_is_not_click_to_contact(world):
    other = take(world["router"], world["ann"], "ann", "chat", world["kim"])
    path = f"/interactions/{other['id']}/messages/"
    ok(post(world["router"], path, {"text": "030 5551234"}), 201)
    response = outbound(world, "voice", "030 5551234")  # the parent is the first chat
    assert (response.status_code, response.json()["fields"]) == (400, {"to": ["not_on_file"]})


def test_party_action_needs_an_active_parent(world):
    says(world, "router", "030 5551234")
    ok(post(world["ann"], f"/interactions/{world['chat']}/end/", {"how": "chat_ended"}))
    for channel, to in (("voice", None), ("voice", "030 5551234"), ("email", ON_FILE_EMAIL)):
        body = refused(
            outbound(world, channel, to), "parent_not_active", "R10:party_action_parent@default"
        )
        assert "ended" in body["detail"]
    assert not Interaction.objects.filter(direction="outbound").exists()
    # An offered parent is not active either; without a parent, R10 picks from the file.
    offered = ok(
        post(
            world["router"],
            "/interactions/",
            {"channel": "chat", "direction": "inbound", "agent": "ann", "contact": world["kim"].pk},
        ),
        201,
    )
    response = post(
        world["ann"],
        "/interactions/",
        {"channel": "voice", "direction": "outbound", "parent": offered["id"]},
    )
    refused(response, "parent_not_active", "R10:party_action_parent@default")
    assert ok(outbound(world, "voice", None, parent=False), 201)["to"] == ON_FILE_PHONE


def test_the_schema_documents_the_new_409_codes(api):
    schema = api().get("/api/schema/", {"format": "json"}).json()
    create = schema["paths"]["/api/v1/interactions/"]["post"]["responses"]["409"]["description"]
    for code in ("parent_not_active", "number_type_not_allowed", "click_to_contact_disabled"):
        assert f"`{code}`" in create
    messages = schema["paths"]["/api/v1/interactions/{id}/messages/"]
    assert "200" in messages["get"]["responses"]
    assert "`invalid_transition`" in messages["post"]["responses"]["409"]["description"]
    assert "dialable_number_types" in create
