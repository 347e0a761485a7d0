"""Crafted input (issue 15, items 3 and 5): cursors, ids and filters are checked before SQL.

A cursor is base64 of a query string (``o=…&r=…&p=…``) that DRF decodes and trusts: ``p``
(the position) went straight into ``WHERE id > %s``. Every crafted cursor, page parameter, id in
a URL or body, and filter value below must be a 4xx with the error body, never a 500 and never a
database error, on every cursor-paginated list.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

import pytest

from tests.factories import (
    InteractionFactory,
    a_compliance_officer,
    a_contact,
    a_router,
    a_supervisor,
    an_agent,
    client_for,
)

from .test_me_api import assert_error

API = "/api/v1"
BIG = str(2**64)  # beyond bigint
HUGE = "9" * 400


def cursor(raw: str) -> str:
    """A cursor as DRF builds one: base64 of a query string."""
    return base64.b64encode(raw.encode()).decode()


# Cursors an attacker can craft: the issue's own, each bad position DRF would trust, and
# encodings that are not a cursor at all.
CRAFTED_CURSORS = {
    "issue: p=abc": "cD1hYmM=",
    "p NUL": cursor("p=%00"),
    "p 1e999": cursor("p=1e999"),
    "p float": cursor("p=1.5"),
    "p negative huge": cursor("p=-" + HUGE),
    "p beyond bigint": cursor("p=" + BIG),
    "p huge": cursor("p=" + HUGE),
    "p date garbage": cursor("p=2026-13-45T99:99"),
    "p year 99999": cursor("p=99999-01-01T00:00:00"),
    "p empty": cursor("p="),
    "p twice": cursor("p=1&p=abc"),
    "offset huge": cursor("o=" + HUGE),
    "offset negative": cursor("o=-5"),
    "reverse junk": cursor("r=yes&p=1"),
    "not base64": "%%%",
    "base64 of binary": base64.b64encode(b"\xff\xfe\x00p=1").decode(),
    "NUL in cursor": "%00",
    "very long": "A" * 5000,
}

LISTS = {
    "interactions": "/interactions/",
    "agents": "/agents/",
    "contacts": "/contacts/",
    "audit status changes": "/audit/status-changes/",
}


@pytest.fixture
def callers(db):
    """Who may read each list: the list's own caller."""
    alice = an_agent("alice", visible=["chat", "im"], logged_in=True)
    bob = an_agent("bob", visible=["chat", "im"])
    a_supervisor("sam", of=[alice, bob])
    a_compliance_officer("cora")
    a_router("router")
    a_contact("Carla", phones=["+4930123456"])
    a_contact("Conrad", phones=["+4930654321"])
    InteractionFactory(agent=alice, state="ended")
    InteractionFactory(agent=alice, state="ended")
    return {
        "interactions": client_for(alice),
        "agents": client_for("sam"),
        "contacts": client_for(alice),
        "audit status changes": client_for("cora"),
    }


@pytest.mark.parametrize("name", CRAFTED_CURSORS)
@pytest.mark.parametrize("endpoint", LISTS)
def test_a_crafted_cursor_is_400_invalid_cursor(callers, endpoint, name, caplog):
    url = f"{API}{LISTS[endpoint]}?cursor={quote(CRAFTED_CURSORS[name], safe='')}"
    response = callers[endpoint].get(url)
    body = assert_error(response, 400, "invalid_cursor")
    assert body["fields"] == {"cursor": ["Invalid cursor."]}
    assert "database refused" not in caplog.text  # refused before any SQL


@pytest.mark.parametrize("endpoint", LISTS)
def test_a_real_cursor_still_pages(callers, endpoint):
    """The checks do not refuse the cursors the server hands out (next, then previous)."""
    client = callers[endpoint]
    first = client.get(f"{API}{LISTS[endpoint]}?page_size=1")
    assert first.status_code == 200, first.content
    second = client.get(first.json()["next"])
    assert second.status_code == 200, second.content
    assert second.json()["results"] != first.json()["results"]
    back = client.get(second.json()["previous"])
    assert back.json()["results"] == first.json()["results"]


def test_pages_of_the_status_ledger_follow_each_other(callers):
    """The ledger pages by (at, id): the position is a moment, and it still round-trips."""
    cora = callers["audit status changes"]
    seen, url = [], f"{API}/audit/status-changes/?page_size=1"
    while url:
        page = cora.get(url)
        assert page.status_code == 200, page.content
        seen += [row["id"] for row in page.json()["results"]]
        url = page.json()["next"]
    assert len(seen) >= 2
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)
    back = cora.get(page.json()["previous"])
    assert back.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"page_size": HUGE},
        {"page_size": "-1"},
        {"page_size": "1e999"},
        {"page_size": "\x00"},
    ],
)
@pytest.mark.parametrize("endpoint", LISTS)
def test_a_crafted_page_size_falls_back_to_a_sane_page(callers, endpoint, query):
    response = callers[endpoint].get(f"{API}{LISTS[endpoint]}?{urlencode(query)}")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "path", ["/interactions/{n}/", "/contacts/{n}/", "/interactions/{n}/messages/"]
)
@pytest.mark.parametrize("n", [BIG, HUGE, "9223372036854775807", "9223372036854775808"])
def test_an_id_beyond_64_bits_in_a_url_is_404(callers, path, n):
    response = callers["interactions"].get(API + path.format(n=n))
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("action", "body"),
    [("accept", {}), ("end", {"how": "hangup"}), ("consult", {"to": "bob"}), ("done", {})],
)
def test_an_id_beyond_64_bits_in_an_action_url_is_404(callers, action, body):
    response = callers["interactions"].post(
        f"{API}/interactions/{BIG}/{action}/", body, format="json"
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("value", [2**64, 2**63, 10**400, -(2**70)])
def test_an_id_beyond_64_bits_in_a_body_is_a_4xx(callers, value):
    inbound = {"channel": "chat", "direction": "inbound", "agent": "alice", "contact": value}
    response = client_for("router").post(f"{API}/interactions/", inbound, format="json")
    assert response.status_code in (400, 404), response.content
    outbound = {"channel": "chat", "direction": "outbound", "to": "+4930123456", "parent": value}
    response = callers["interactions"].post(f"{API}/interactions/", outbound, format="json")
    assert response.status_code in (400, 404), response.content


@pytest.mark.parametrize(
    "query",
    [
        {"state": "\x00"},
        {"state": "nope"},
        {"channel": "\x00"},
        {"channel": HUGE},
    ],
)
def test_a_crafted_interaction_filter_is_400_or_empty(callers, query):
    response = callers["interactions"].get(f"{API}/interactions/?{urlencode(query)}")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["results"] == []
    else:
        assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    "query",
    [
        {"agent": "\x00"},
        {"agent": "a" * 5000},
        {"channel": "\x00"},
        {"since": "1e999"},
        {"since": "\x00"},
        {"until": "99999-01-01"},
        {"status": HUGE},
        {"cause": "\x00"},
    ],
)
def test_a_crafted_ledger_filter_is_400_or_empty(callers, query):
    response = callers["audit status changes"].get(
        f"{API}/audit/status-changes/?{urlencode(query)}"
    )
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["results"] == []
    else:
        assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    "query", [{"offset": HUGE}, {"offset": BIG}, {"limit": HUGE}, {"offset": "-1"}]
)
def test_a_crafted_offset_on_rule_changes_is_not_a_500(callers, query, caplog):
    response = callers["audit status changes"].get(f"{API}/audit/rule-changes/?{urlencode(query)}")
    assert response.status_code == 200, response.content  # past the end, or the default page
    assert "database refused" not in caplog.text


def test_a_crafted_contact_search_is_not_a_500(callers, caplog):
    for term in ("\x00", "ab\x00c", "%", "_", "a" * 5000, "\\"):
        response = callers["contacts"].get(f"{API}/contacts/?{urlencode({'search': term})}")
        if "\x00" in term:
            assert_error(response, 400, "invalid")
            assert response.json()["fields"] == {"search": ["Null characters are not allowed."]}
        else:
            assert response.status_code == 200, (term, response.content)
            assert response.json()["results"] == []
    assert "database refused" not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "/audit/verify/?agent=%00",
        "/audit/verify/?agent=ali%00ce",
        "/audit/time-in-status/?agent=%00",
    ],
)
def test_a_nul_in_an_agent_filter_is_400_before_sql(callers, url, caplog):
    response = callers["audit status changes"].get(API + url)
    assert_error(response, 400, "invalid")
    assert "database refused" not in caplog.text  # refused by us, not by PostgreSQL
