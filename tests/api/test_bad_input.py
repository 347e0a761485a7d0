"""The bad-input catalogue (issue 7): every row is a hostile or broken request, the 4xx it must
get, with API.md's error body, and proof that nothing in the database changed (row counts of
every cc_rules table, history included, and the live columns; ``conftest.db_state``).

A few rows are inputs that are *valid* but look dangerous (SQL, HTML): they must be taken as
plain text, answered as JSON, and never reach a 5xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from .conftest import db_state
from .world import client_for

MB = 1024 * 1024
HUGE = 2**70
SQL = "alice' OR '1'='1'; DROP TABLE cc_rules_agent; --"
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class Bad:
    """One request; ``body`` is JSON-encoded unless ``raw``; URLs are formatted with the ids."""

    name: str
    method: str
    url: str
    status: int
    code: str | None = None
    body: object = None
    raw: bytes | str | None = None
    content_type: str = "application/json"
    caller: str | None = "alice"
    field: str | None = None  # a field the error names under "fields"


def _put_status(body, status=400, code="invalid", field=None, name=None, raw=None, ct=None):
    return Bad(
        name or f"status {body!r}"[:60],
        "PUT",
        "/api/v1/me/channels/chat/status/",
        status,
        code,
        body=body,
        raw=raw,
        content_type=ct or "application/json",
        field=field,
    )


CATALOGUE = [
    # --- malformed JSON and bodies that are not objects -----------------------------------------
    Bad("truncated JSON", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw='{"enabled": tru'),
    Bad("trailing garbage", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw='{"enabled": true}x'),
    Bad("single quotes", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw="{'enabled': true}"),
    Bad(
        "NaN literal",
        "POST",
        "/api/v1/interactions/{active}/messages/",
        400,
        "invalid",
        raw='{"text": NaN}',
    ),
    Bad("invalid UTF-8", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw=b'{"enabled": "\xff\xfe"}'),
    Bad("lone surrogate key", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw='{"\\ud800x": 1}'),
    Bad(
        "lone surrogate text",
        "POST",
        "/api/v1/interactions/{active}/messages/",
        400,
        "invalid",
        raw='{"text": "a\\udfffb"}',
    ),
    Bad("NUL in a field name", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw='{"\\u0000": 1}'),
    Bad("a JSON array", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw="[true]"),
    Bad("a JSON string", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw='"enabled"'),
    Bad("JSON null", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw="null"),
    Bad("empty body", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw=""),
    Bad("deeply nested", "PUT", "/api/v1/me/dnd/", 400, "invalid", raw="[" * 100_000),
    Bad(
        "huge number literal",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        raw='{"channel": "chat", "direction": "outbound", "contact": 1' + "0" * 5000 + "}",
    ),
    # --- wrong content type --------------------------------------------------------------------
    Bad(
        "form-encoded",
        "PUT",
        "/api/v1/me/dnd/",
        415,
        "unsupported_media_type",
        raw="enabled=true",
        content_type="application/x-www-form-urlencoded",
    ),
    Bad(
        "text/plain",
        "PUT",
        "/api/v1/me/dnd/",
        415,
        "unsupported_media_type",
        raw='{"enabled": true}',
        content_type="text/plain",
    ),
    Bad(
        "XML",
        "POST",
        "/api/v1/me/login/",
        415,
        "unsupported_media_type",
        raw="<channels><c>voice</c></channels>",
        content_type="application/xml",
    ),
    Bad(
        "multipart",
        "POST",
        "/api/v1/im/",
        415,
        "unsupported_media_type",
        raw="--b\r\nContent-Disposition: form-data; name=text\r\n\r\nhi\r\n--b--\r\n",
        content_type="multipart/form-data; boundary=b",
    ),
    # --- wrong types ---------------------------------------------------------------------------
    Bad(
        "bool as word",
        "PUT",
        "/api/v1/me/dnd/",
        400,
        "invalid",
        {"enabled": "maybe"},
        field="enabled",
    ),
    Bad(
        "bool as list",
        "PUT",
        "/api/v1/me/dnd/",
        400,
        "invalid",
        {"enabled": [True]},
        field="enabled",
    ),
    Bad(
        "bool as null", "PUT", "/api/v1/me/dnd/", 400, "invalid", {"enabled": None}, field="enabled"
    ),
    Bad("missing field", "PUT", "/api/v1/me/dnd/", 400, "invalid", {}, field="enabled"),
    Bad(
        "extension as number",
        "PUT",
        "/api/v1/me/forwarding/",
        400,
        "invalid",
        {"to_extension": 1002},
        field="to_extension",
    ),
    Bad(
        "extension as object",
        "PUT",
        "/api/v1/me/forwarding/",
        400,
        "invalid",
        {"to_extension": {"$ne": None}},
        field="to_extension",
    ),
    Bad(
        "channels as string",
        "POST",
        "/api/v1/me/login/",
        400,
        "invalid",
        {"channels": "voice"},
        field="channels",
    ),
    Bad(
        "channels as object",
        "POST",
        "/api/v1/me/login/",
        400,
        "invalid",
        {"channels": {"voice": True}},
        field="channels",
    ),
    Bad(
        "status as number",
        "PUT",
        "/api/v1/me/channels/chat/status/",
        400,
        "invalid",
        {"status": 1},
        field="status",
    ),
    Bad(
        "contact as string",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "voice", "direction": "outbound", "contact": "one"},
        field="contact",
    ),
    Bad(
        "contact as float",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "voice", "direction": "outbound", "contact": 1.5},
        field="contact",
    ),
    Bad(
        "contact as bool",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "voice", "direction": "outbound", "contact": True},
        field="contact",
    ),
    Bad(
        "text as number",
        "POST",
        "/api/v1/interactions/{active}/messages/",
        400,
        "invalid",
        {"text": 42},
        field="text",
    ),
    Bad(
        "to as list",
        "POST",
        "/api/v1/interactions/{active}/consult/",
        400,
        "invalid",
        {"to": ["sam"]},
        field="to",
    ),
    Bad(
        "how as null",
        "POST",
        "/api/v1/interactions/{active}/end/",
        400,
        "invalid",
        {"how": None},
        field="how",
    ),
    # --- unknown fields (mass assignment) ------------------------------------------------------
    Bad(
        "agent smuggled into dnd",
        "PUT",
        "/api/v1/me/dnd/",
        400,
        "invalid",
        {"enabled": True, "agent": "bob"},
        field="agent",
    ),
    Bad(
        "state smuggled into accept",
        "POST",
        "/api/v1/interactions/{offered}/accept/",
        400,
        "invalid",
        {"state": "closed"},
        field="state",
    ),
    Bad(
        "role smuggled into login",
        "POST",
        "/api/v1/me/login/",
        400,
        "invalid",
        {"role": "supervisor"},
        field="role",
    ),
    Bad(
        "since smuggled into status",
        "PUT",
        "/api/v1/me/channels/chat/status/",
        400,
        "invalid",
        {"status": "ready", "since": "2000-01-01T00:00:00Z"},
        field="since",
    ),
    # --- huge strings (1 MB) -------------------------------------------------------------------
    Bad(
        "1 MB message",
        "POST",
        "/api/v1/interactions/{active}/messages/",
        400,
        "invalid",
        {"text": "x" * MB},
        field="text",
    ),
    Bad(
        "1 MB IM",
        "POST",
        "/api/v1/im/",
        400,
        "invalid",
        {"to": "sam", "text": "x" * MB},
        field="text",
    ),
    Bad(
        "1 MB reason",
        "PUT",
        "/api/v1/me/channels/chat/status/",
        400,
        "invalid",
        {"status": "not_ready", "reason": "x" * MB},
        field="reason",
    ),
    Bad(
        "1 MB consult target",
        "POST",
        "/api/v1/interactions/{active}/consult/",
        400,
        "invalid",
        {"to": "s" * MB},
        field="to",
    ),
    Bad(
        "1 MB username",
        "POST",
        "/api/v1/auth/token/",
        400,
        "invalid",
        {"username": "a" * MB, "password": "demo"},
        caller=None,
    ),
    Bad(
        "1 MB agent",
        "POST",
        "/api/v1/decisions/offer/",
        400,
        "invalid",
        {"agent": "a" * MB, "channel": "chat"},
        field="agent",
        caller="router",
    ),
    Bad(
        "1 MB channel in the URL",
        "PUT",
        "/api/v1/me/channels/" + "v" * 8000 + "/status/",
        404,
        "not_found",
        {"status": "ready"},
    ),
    # --- unknown channels and statuses ---------------------------------------------------------
    Bad(
        "unknown channel in URL",
        "PUT",
        "/api/v1/me/channels/fax/status/",
        404,
        "not_found",
        {"status": "ready"},
    ),
    Bad(
        "invisible channel in URL",
        "PUT",
        "/api/v1/me/channels/twitter/status/",
        404,
        "not_found",
        {"status": "ready"},
    ),
    Bad(
        "unknown channel at login",
        "POST",
        "/api/v1/me/login/",
        400,
        "invalid",
        {"channels": ["voice", "fax"]},
        field="channels",
    ),
    Bad(
        "invisible channel at login",
        "POST",
        "/api/v1/me/login/",
        404,
        "not_found",
        {"channels": ["twitter"]},
    ),
    Bad(
        "unknown channel offered",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "pigeon", "direction": "inbound", "agent": "alice"},
        caller="router",
        field="channel",
    ),
    Bad(
        "IM offered as work",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "im", "direction": "inbound", "agent": "alice"},
        caller="router",
    ),
    Bad(
        "unknown direction",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "chat", "direction": "sideways"},
        field="direction",
    ),
    Bad(
        "unknown channel asked",
        "POST",
        "/api/v1/decisions/offer/",
        400,
        "invalid",
        {"agent": "alice", "channel": "fax"},
        field="channel",
        caller="router",
    ),
    _put_status({"status": "busy"}, field="status"),
    _put_status({"status": "after_call_work"}, field="status"),  # entered by the system only
    _put_status({"status": "READY"}, field="status"),
    _put_status({"status": ""}, field="status"),
    Bad(
        "unknown end event",
        "POST",
        "/api/v1/interactions/{active}/end/",
        400,
        "invalid",
        {"how": "teleported"},
        field="how",
    ),
    Bad(
        "end event of another channel",
        "POST",
        "/api/v1/interactions/{active}/end/",
        400,
        "invalid",
        {"how": "hangup"},
    ),
    # --- invalid reason codes ------------------------------------------------------------------
    _put_status({"status": "not_ready", "reason": "nap"}, field="reason"),
    _put_status({"status": "not_ready", "reason": ""}, field="reason"),
    _put_status({"status": "not_ready", "reason": "BREAK"}, field="reason"),
    _put_status({"status": "ready", "reason": "break"}, field="reason"),
    _put_status({"status": "not_ready", "reason": "login"}, field="reason"),  # system reason
    _put_status({"status": "not_ready", "reason": 7}, field="reason"),
    # --- negative and huge ids -----------------------------------------------------------------
    Bad("huge id in URL", "POST", f"/api/v1/interactions/{HUGE}/accept/", 404, "not_found", {}),
    Bad("huge id in detail URL", "GET", f"/api/v1/interactions/{HUGE}/", 404, "not_found"),
    Bad("huge contact id in URL", "GET", f"/api/v1/contacts/{HUGE}/", 404, "not_found"),
    Bad("id 0 in URL", "POST", "/api/v1/interactions/0/end/", 404, "not_found", {"how": "hangup"}),
    Bad("negative id in URL", "POST", "/api/v1/interactions/-1/accept/", 404, "not_found", {}),
    Bad("id with sign in URL", "GET", "/api/v1/interactions/+1/", 404, "not_found"),
    Bad("2**70 digits id in URL", "GET", "/api/v1/contacts/" + "9" * 400 + "/", 404, "not_found"),
    Bad(
        "huge contact in body",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "voice", "direction": "outbound", "contact": HUGE},
        field="contact",
    ),
    Bad(
        "negative contact in body",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "voice", "direction": "outbound", "contact": -1},
        field="contact",
    ),
    Bad(
        "huge parent in body",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "email", "direction": "outbound", "parent": HUGE},
        field="parent",
    ),
    Bad(
        "someone else's parent",
        "POST",
        "/api/v1/interactions/",
        404,
        "not_found",
        {"channel": "voice", "direction": "outbound", "parent": "{active}"},
        caller="sam",
    ),
    Bad(
        "unknown contact in body",
        "POST",
        "/api/v1/interactions/",
        400,
        "invalid",
        {"channel": "voice", "direction": "outbound", "contact": 2**62},
        field="contact",
    ),
    # --- SQL, HTML and null bytes in strings ---------------------------------------------------
    Bad(
        "SQL as agent",
        "POST",
        "/api/v1/decisions/offer/",
        400,
        "invalid",
        {"agent": SQL, "channel": "chat"},
        field="agent",
        caller="router",
    ),
    Bad(
        "SQL as reason",
        "PUT",
        "/api/v1/me/channels/chat/status/",
        400,
        "invalid",
        {"status": "not_ready", "reason": SQL[:32]},
        field="reason",
    ),
    Bad(
        "SQL as username",
        "POST",
        "/api/v1/auth/token/",
        400,
        "invalid",
        {"username": SQL, "password": "' OR 1=1 --"},
        caller=None,
    ),
    Bad(
        "SQL in a URL name",
        "GET",
        "/api/v1/agents/alice'%20OR%20'1'='1/",
        404,
        "not_found",
        caller="sam",
    ),
    Bad(
        "HTML as consult target",
        "POST",
        "/api/v1/interactions/{active}/consult/",
        400,
        "invalid",
        {"to": HTML[:150]},
        field="to",
    ),
    Bad(
        "HTML as extension",
        "PUT",
        "/api/v1/me/forwarding/",
        400,
        "invalid",
        {"to_extension": "<b>1002</b>"},
        field="to_extension",
    ),
    Bad(
        "null byte in reason",
        "PUT",
        "/api/v1/me/channels/chat/status/",
        400,
        "invalid",
        {"status": "not_ready", "reason": "bre\x00ak"},
        field="reason",
    ),
    Bad(
        "null byte in message",
        "POST",
        "/api/v1/interactions/{active}/messages/",
        400,
        "invalid",
        {"text": "hi\x00there"},
        field="text",
    ),
    Bad(
        "null byte in IM",
        "POST",
        "/api/v1/im/",
        400,
        "invalid",
        {"to": "sam", "text": "a\x00"},
        field="text",
    ),
    Bad(
        "null byte in username",
        "POST",
        "/api/v1/auth/token/",
        400,
        "invalid",
        {"username": "ali\x00ce", "password": "demo"},
        caller=None,
    ),
    Bad(
        "null byte in consult target",
        "POST",
        "/api/v1/interactions/{active}/consult/",
        400,
        "invalid",
        {"to": "s\x00am"},
        field="to",
    ),
    Bad(
        "null byte in channel URL",
        "PUT",
        "/api/v1/me/channels/ch%00at/status/",
        404,
        "not_found",
        {"status": "ready"},
    ),
    Bad(
        "null byte in agent URL", "GET", "/api/v1/agents/ali%00ce/", 404, "not_found", caller="sam"
    ),
    Bad(
        "null byte in forced status URL",
        "PUT",
        "/api/v1/agents/ali%00ce/channels/chat/status/",
        404,
        "not_found",
        {"status": "ready"},
        caller="sam",
    ),
    # --- query strings -------------------------------------------------------------------------
    Bad("unknown state filter", "GET", "/api/v1/interactions/?state=sleeping", 400, "invalid"),
    Bad(
        "garbage cursor",
        "GET",
        "/api/v1/interactions/?cursor=bz1hYmM%3D",
        400,
        "invalid_cursor",
        field="cursor",
    ),
    Bad(
        "crafted cursor position",  # issue 15: p=abc reached SQL (500)
        "GET",
        "/api/v1/interactions/?cursor=cD1hYmM%3D",
        400,
        "invalid_cursor",
        field="cursor",
    ),
    Bad(
        "bad audit date",
        "GET",
        "/api/v1/audit/status-changes/?since=yesterday'",
        400,
        "invalid",
        caller="cora",
    ),
    # --- methods -------------------------------------------------------------------------------
    Bad("DELETE on me", "DELETE", "/api/v1/me/", 405, "method_not_allowed"),
    Bad(
        "PATCH on status",
        "PATCH",
        "/api/v1/me/channels/chat/status/",
        405,
        "method_not_allowed",
        {"status": "ready"},
    ),
    Bad("no such endpoint", "GET", "/api/v1/nothing-here/", 404, "not_found"),
]

# Valid but hostile-looking: taken as text, answered as JSON, never a 5xx.
HARMLESS = [
    ("SQL in a contact search", "GET", f"/api/v1/contacts/?search={SQL}", None, 200),
    ("HTML chat message", "POST", "/api/v1/interactions/{active}/messages/", {"text": HTML}, 201),
    ("SQL chat message", "POST", "/api/v1/interactions/{active}/messages/", {"text": SQL}, 201),
    (
        "unicode chat message",
        "POST",
        "/api/v1/interactions/{active}/messages/",
        {"text": "Grüße 👋 \u202e\u200b"},
        201,
    ),
]


def _send(client, method: str, url: str, *, body=None, raw=None, content_type="application/json"):
    call = getattr(client, method.lower())
    if raw is None and body is None:
        return call(url)
    data = raw if raw is not None else json.dumps(body)
    return call(url, data, content_type=content_type)


def _format(value, ids):
    if isinstance(value, str):
        return value.format(**ids) if "{" in value and "}" in value else value
    if isinstance(value, dict):
        return {k: _format(v, ids) for k, v in value.items()}
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("bad", CATALOGUE, ids=lambda bad: bad.name)
def test_bad_input_is_refused_and_changes_nothing(world, bad):
    client = client_for(bad.caller)
    url = _format(bad.url, world) if not bad.url.startswith("/api/v1/me/channels/v") else bad.url
    body = _format(bad.body, world)
    if isinstance(body, dict) and body.get("parent") == str(world["active"]):
        body["parent"] = world["active"]
    before = db_state()
    response = _send(client, bad.method, url, body=body, raw=bad.raw, content_type=bad.content_type)
    assert response.status_code == bad.status, (response.status_code, response.content[:400])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()
    assert {"code", "detail", "rule"} <= set(error) <= {"code", "detail", "rule", "fields"}, error
    assert isinstance(error["detail"], str)
    assert error["detail"]
    if bad.code:
        assert error["code"] == bad.code, error
    if bad.field:
        assert bad.field in error.get("fields", {}), error
    assert db_state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [pytest.param(*row[1:], id=row[0]) for row in HARMLESS],
)
def test_hostile_looking_text_is_just_text(world, method, url, body, status):
    response = _send(client_for("alice"), method, url.format(**world), body=body)
    assert response.status_code == status, response.content[:400]
    assert response["Content-Type"].startswith("application/json")
    if body:
        assert response.json()["text"] == body["text"]  # stored and returned verbatim, as JSON
