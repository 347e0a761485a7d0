"""Consultation chat is private to its two agents (R6; DECISIONS.md, "Combinations"; issue 13
case 6): both read and post, either may end it, the contact side (router) gets 404; a conference
keeps sharing the parent's transcript. Built on its own small world (tests/api/builders.py).
"""

from __future__ import annotations

import pytest

from cc_rules.models import AgentChannelState, Interaction, Message

from .builders import (
    API,
    agent,
    contact,
    ok,
    post,
    ready,
    refused,
    role,
    router,
    rule_row,
    take,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    settings.CC_SEND_WAKEUPS = False


@pytest.fixture
def world():
    """ann handles a chat with Kim and consults ben; carl is a third agent of the same role."""
    team = role("team", acw_enabled={"chat": True})
    ann, ben, carl = agent("ann", team), agent("ben", team), agent("carl", team)
    ready(ann, "chat")
    the_router = router()
    chat = take(the_router, ann, "ann", "chat", contact("Kim"))
    consultation = ok(post(ann, f"/interactions/{chat['id']}/consult/", {"to": "ben"}), 201)
    ok(post(ben, f"/interactions/{consultation['id']}/accept/"))
    return {
        "ann": ann,
        "ben": ben,
        "carl": carl,
        "router": the_router,
        "chat": chat["id"],
        "consultation": consultation["id"],
    }


def messages(api, interaction_id: int) -> list[tuple[str | None, str]]:
    body = ok(api.get(f"{API}/interactions/{interaction_id}/messages/"))
    return [(m["author"], m["text"]) for m in body["results"]]


def chat_state(username: str) -> AgentChannelState:
    return AgentChannelState.objects.get(agent__user__username=username, channel_id="chat")


def test_consultation_chat_is_private_to_its_two_agents(world):
    ann, ben, the_router = world["ann"], world["ben"], world["router"]
    cid, chat = world["consultation"], world["chat"]
    for api in (ann, ben):
        detail = ok(api.get(f"{API}/interactions/{cid}/"))
        assert (detail["kind"], detail["agent"], detail["parent"]) == ("consultation", "ben", chat)
    sent = ok(post(ann, f"/interactions/{cid}/messages/", {"text": "VIP, call 030 98765432"}), 201)
    assert (sent["interaction"], sent["author"], sent["contact_points"]) == (cid, "ann", [])
    ok(post(ben, f"/interactions/{cid}/messages/", {"text": "understood"}), 201)
    expected = [("ann", "VIP, call 030 98765432"), ("ben", "understood")]
    assert messages(ann, cid) == messages(ben, cid) == expected

    # The contact side never sees it, nor writes into it; a stranger to it neither.
    assert post(the_router, f"/interactions/{cid}/messages/", {"text": "hi"}).status_code == 404
    assert the_router.get(f"{API}/interactions/{cid}/messages/").status_code == 404
    carl = world["carl"]
    assert carl.get(f"{API}/interactions/{cid}/").status_code == 404
    assert carl.get(f"{API}/interactions/{cid}/messages/").status_code == 404
    assert post(carl, f"/interactions/{cid}/messages/", {"text": "x"}).status_code == 404
    assert post(carl, f"/interactions/{cid}/end/", {"how": "chat_ended"}).status_code == 404

    # Nothing of it reaches the contact's transcript.
    ok(post(the_router, f"/interactions/{chat}/messages/", {"text": "Hallo?"}), 201)
    assert messages(the_router, chat) == messages(ann, chat) == [(None, "Hallo?")]
    assert list(Message.objects.filter(interaction_id=cid).values_list("text", flat=True)) == [
        "VIP, call 030 98765432",
        "understood",
    ]


def test_a_teammate_cannot_read_the_initiators_chat_through_a_consultation(world):
    assert world["ben"].get(f"{API}/interactions/{world['chat']}/").status_code == 404
    response = world["ben"].get(f"{API}/interactions/{world['chat']}/messages/")
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["ann", "ben"])
def test_either_agent_may_end_a_consultation(world, who):
    path = f"/interactions/{world['consultation']}/end/"
    ended = ok(post(world[who], path, {"how": "chat_ended"}))
    assert (ended["id"], ended["state"], ended["how"]) == (
        world["consultation"],
        "ended",
        "chat_ended",
    )
    assert ended["agent"] == "ben"
    # No ACW for assisting (acw_after_assist off), though chat has ACW for normal work.
    assert chat_state("ben").status == "not_ready"  # as before: logged in, never made ready
    assert chat_state("ben").wrap_up_deadline is None
    assert Interaction.objects.get(pk=world["chat"]).state == "active"  # the parent goes on
    again = post(world[who], f"/interactions/{world['consultation']}/end/", {"how": "chat_ended"})
    refused(again, "invalid_transition", None)


def test_the_initiator_ending_a_consultation_follows_the_teammates_after_work_rules(world):
    """Same end as the teammate's own: with ``acw_after_assist`` on, ben's chat goes to ACW."""
    rule_row("global", "acw_after_assist", True)
    ben_before = chat_state("ben").status
    ok(post(world["ann"], f"/interactions/{world['consultation']}/end/", {"how": "chat_ended"}))
    after = chat_state("ben")
    assert (ben_before, after.status, after.wrap_up_interaction_id) == (
        "not_ready",
        "after_call_work",
        world["consultation"],
    )
    assert chat_state("ann").status == "ready"  # the initiator's channel is untouched


def test_the_initiator_ends_a_consultation_only_how_its_channel_ends(world):
    cid = world["consultation"]
    response = post(world["ann"], f"/interactions/{cid}/end/", {"how": "hangup"})
    assert (response.status_code, response.json()["fields"]) == (
        400,
        {"how": ["invalid_for_channel"]},
    )
    assert Interaction.objects.get(pk=cid).state == "active"


def test_a_conference_keeps_sharing_the_parents_transcript(world):
    ann, ben, the_router, chat = world["ann"], world["ben"], world["router"], world["chat"]
    conference = ok(post(ann, f"/interactions/{chat}/conference/", {"to": "ben"}), 201)
    ok(post(ben, f"/interactions/{conference['id']}/accept/"))
    ok(post(the_router, f"/interactions/{chat}/messages/", {"text": "Hallo"}), 201)
    joined = ok(post(ben, f"/interactions/{conference['id']}/messages/", {"text": "Ben hier"}), 201)
    assert joined["interaction"] == chat
    expected = [(None, "Hallo"), ("ben", "Ben hier")]
    assert messages(ben, conference["id"]) == messages(ann, chat) == expected
