"""IM inboxes are bounded and lose nothing (issue 15, item 4), against the real Redis.

The flood from the issue (many 10 KB IMs to one colleague) stops at the inbox's byte bound with
429 ``inbox_full``; a read removes nothing (a dropped response is read again); an
acknowledgement removes exactly the messages up to its id; pages follow each other; concurrent
senders never push an inbox past its bounds (the check and the append are one Lua script).
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.conf import settings as django_settings

from cc_rules.services import im as im_service
from tests.factories import an_agent, client_for

from .test_me_api import assert_error

API = "/api/v1"
TEN_KB = "x" * 10_000  # the largest text an IM may have


@pytest.fixture
def people(db, settings):
    """alice and carol write to bob; every inbox starts and ends empty."""
    rates = {"user_writes": "100000/second", "login": "100000/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    agents = {name: an_agent(name, visible=["chat", "im"]) for name in ("alice", "bob", "carol")}
    for agent in agents.values():
        im_service.discard(agent.pk)
    yield {name: client_for(agent) for name, agent in agents.items()} | {"_agents": agents}
    for agent in agents.values():
        im_service.discard(agent.pk)


def send(client, text: str, to: str = "bob"):
    return client.post(f"{API}/im/", {"to": to, "text": text}, format="json")


def read(client, **query) -> dict:
    response = client.get(f"{API}/im/inbox/", query)
    assert response.status_code == 200, response.content
    return response.json()


def ack(client, up_to: str):
    return client.post(f"{API}/im/inbox/ack/", {"up_to": up_to}, format="json")


def held(agent) -> tuple[int, int]:
    """(messages, bytes) the inbox holds, read straight from Redis."""
    stream, size = im_service._keys(agent.pk)
    client = im_service._redis()
    return client.xlen(stream), int(client.get(size) or 0)


def test_the_flood_is_refused_at_the_byte_bound(people):
    alice, bob = people["alice"], people["bob"]
    answers = [send(alice, TEN_KB).status_code for _ in range(60)]
    accepted = answers.count(202)
    cap = django_settings.CC_IM_INBOX_MAX_BYTES
    assert 0 < accepted < 60
    assert answers == [202] * accepted + [429] * (60 - accepted)  # refused from the bound on
    count, size = held(people["_agents"]["bob"])
    assert count == accepted
    assert size <= cap < size + 10_100  # full: one more 10 KB message would not fit
    refused = send(alice, TEN_KB)
    assert_error(refused, 429, "inbox_full")
    assert int(refused["Retry-After"]) >= 1
    assert "bytes" in refused.json()["detail"]
    assert held(people["_agents"]["bob"]) == (count, size)  # nothing half-stored
    # From someone else too: the bound is the recipient's.
    assert_error(send(people["carol"], TEN_KB), 429, "inbox_full")
    # bob reads it in pages, never all of it at once.
    page = read(bob)
    assert len(page["results"]) == min(accepted, 50)
    # Once bob acknowledges, there is room again.
    assert ack(bob, page["results"][0]["id"]).json() == {"removed": 1, "remaining": count - 1}
    assert send(alice, TEN_KB).status_code == 202


def test_the_message_count_is_bounded_too(people, settings):
    settings.CC_IM_INBOX_MAX_MESSAGES = 5
    alice, bob = people["alice"], people["bob"]
    assert [send(alice, f"m{i}").status_code for i in range(5)] == [202] * 5
    refused = send(alice, "one too many")
    assert_error(refused, 429, "inbox_full")
    assert "5 messages" in refused.json()["detail"]
    ids = [m["id"] for m in read(bob)["results"]]
    assert ack(bob, ids[1]).json() == {"removed": 2, "remaining": 3}
    assert [send(alice, f"n{i}").status_code for i in range(3)] == [202, 202, 429]


def test_a_read_without_acknowledgement_loses_nothing(people):
    alice, bob = people["alice"], people["bob"]
    texts = [f"note {i} {uuid.uuid4().hex}" for i in range(3)]
    for text in texts:
        assert send(alice, text).status_code == 202
    first = read(bob)  # the response is "dropped": bob never shows it
    second = read(bob)
    assert [m["text"] for m in first["results"]] == texts
    assert second == first
    assert {m["from"] for m in first["results"]} == {"alice"}
    assert held(people["_agents"]["bob"])[0] == 3


def test_an_acknowledgement_removes_exactly_up_to_its_id(people):
    alice, bob = people["alice"], people["bob"]
    for i in range(5):
        send(alice, f"m{i}")
    ids = [m["id"] for m in read(bob)["results"]]
    assert len(ids) == 5
    _, before = held(people["_agents"]["bob"])
    assert ack(bob, ids[2]).json() == {"removed": 3, "remaining": 2}
    assert [m["text"] for m in read(bob)["results"]] == ["m3", "m4"]
    count, after = held(people["_agents"]["bob"])
    assert count == 2
    assert 0 < after < before  # their bytes were given back
    assert ack(bob, ids[2]).json() == {"removed": 0, "remaining": 2}  # again: harmless
    # A message that arrives between a read and its acknowledgement has a later id: kept.
    shown = read(bob)["results"]
    send(people["carol"], "arrived meanwhile")
    assert ack(bob, shown[-1]["id"]).json() == {"removed": 2, "remaining": 1}
    assert [m["text"] for m in read(bob)["results"]] == ["arrived meanwhile"]
    assert ack(bob, read(bob)["results"][0]["id"]).json() == {"removed": 1, "remaining": 0}
    assert held(people["_agents"]["bob"]) == (0, 0)


def test_acknowledging_touches_only_the_callers_inbox(people):
    alice, bob = people["alice"], people["bob"]
    send(alice, "for bob")
    send(bob, "for alice", to="alice")
    bobs = read(bob)["results"]
    assert ack(alice, "18446744073709551615-18446744073709551615").json() == {
        "removed": 1,
        "remaining": 0,
    }
    assert read(bob)["results"] == bobs


def test_pages_follow_each_other(people):
    alice, bob = people["alice"], people["bob"]
    texts = [f"p{i}" for i in range(7)]
    for text in texts:
        send(alice, text)
    seen, pages = [], []
    page = read(bob, limit=3)
    while True:
        pages.append(len(page["results"]))
        seen += page["results"]
        assert page["previous"] is None
        if page["next"] is None:
            break
        response = bob.get(page["next"])
        assert response.status_code == 200, response.content
        page = response.json()
    assert pages == [3, 3, 1]
    assert [m["text"] for m in seen] == texts
    ids = [m["id"] for m in seen]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert read(bob, after=ids[4])["results"] == seen[5:]
    assert read(bob, after=ids[-1]) == {"next": None, "previous": None, "results": []}
    assert len(read(bob)["results"]) == 7  # paging removed nothing either


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "1e999"},
        {"limit": str(2**64)},
        {"after": "abc"},
        {"after": "1-2-3"},
        {"after": f"{2**64}-0"},
        {"after": "-1-0"},
        {"after": "1-0\x00"},
        {"after": "01-0"},
    ],
)
def test_a_bad_page_parameter_is_400(people, query):
    assert_error(people["bob"].get(f"{API}/im/inbox/", query), 400, "invalid")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"up_to": ""},
        {"up_to": "+"},
        {"up_to": "abc"},
        {"up_to": f"0-{2**64}"},
        {"up_to": 5},
        {"up_to": "1-0", "also": 1},
    ],
)
def test_a_bad_acknowledgement_is_400_and_removes_nothing(people, body):
    send(people["alice"], "keep me")
    response = people["bob"].post(f"{API}/im/inbox/ack/", body, format="json")
    assert_error(response, 400, "invalid")
    assert [m["text"] for m in read(people["bob"])["results"]] == ["keep me"]


def test_a_full_inbox_refusal_is_not_replayed_for_an_idempotency_key(people, settings):
    """429 is never stored: the same key sends the message once the inbox has room."""
    settings.CC_IM_INBOX_MAX_MESSAGES = 1
    alice, bob = people["alice"], people["bob"]
    send(alice, "first")
    body = {"to": "bob", "text": "second"}
    key = {"HTTP_IDEMPOTENCY_KEY": f"im-{uuid.uuid4().hex}"}
    refused = alice.post(f"{API}/im/", body, format="json", **key)
    assert_error(refused, 429, "inbox_full")
    ack(bob, read(bob)["results"][0]["id"])
    assert alice.post(f"{API}/im/", body, format="json", **key).status_code == 202
    assert [m["text"] for m in read(bob)["results"]] == ["second"]


@pytest.mark.parametrize("bound", ["messages", "bytes"])
def test_concurrent_senders_cannot_pass_the_bounds(settings, bound):
    """Eight threads push into one inbox at once (the service's own append, real Redis)."""
    payload = json.dumps({"from": "x", "text": "y" * 100, "at": "2026-01-01T00:00:00+00:00"})
    limit = 37
    if bound == "messages":
        settings.CC_IM_INBOX_MAX_MESSAGES, settings.CC_IM_INBOX_MAX_BYTES = limit, 10**9
    else:
        settings.CC_IM_INBOX_MAX_MESSAGES = 10**6
        settings.CC_IM_INBOX_MAX_BYTES = limit * len(payload) + len(payload) - 1
    inbox = 10**12 + uuid.uuid4().int % 10**9  # no agent has this id
    im_service.discard(inbox)
    accepted, refused = [], []
    start = threading.Barrier(8)

    def sender():
        start.wait()
        for _ in range(20):
            try:
                accepted.append(im_service.push(inbox, payload))
            except im_service.InboxFull:
                refused.append(1)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stream, size = im_service._keys(inbox)
        redis = im_service._redis()
        assert len(accepted) == limit
        assert len(set(accepted)) == limit
        assert len(refused) == 8 * 20 - limit
        assert redis.xlen(stream) == limit
        assert int(redis.get(size)) == limit * len(payload)
    finally:
        im_service.discard(inbox)
