"""Internal instant messages (R5): relayed through Redis, never written to the database or logs.

Each agent's inbox is a Redis Stream (``XADD`` gives every message an id, ``XRANGE`` pages by
it) plus a counter of the bytes it holds. Both bounds are checked and the message appended in
one Lua script, so concurrent senders can never push an inbox past
``CC_IM_INBOX_MAX_MESSAGES`` messages or ``CC_IM_INBOX_MAX_BYTES`` bytes (issue 15: 2,000 IMs
of 10 KB put 20 MB into the Redis that also carries the Celery broker); a full inbox refuses
the message (``InboxFull``, 429 ``inbox_full``) and keeps what it has.

Reading never removes: ``inbox()`` returns a page (``limit`` messages after an id), and only
``ack(up_to)`` deletes, the messages up to and including that id, in one script that also gives
their bytes back. A response lost on the way is read again; a message that arrives between a
read and its ack has a later id and is kept. Both keys live ``CC_IM_TTL_SECONDS`` after the last
message sent. Both colleagues must see the ``im`` channel. Delivery ignores status and DND
(DECISIONS.md, "IM").

Bytes are those of the stored message (its JSON: sender, text, time), Redis's own overhead per
entry aside. Redis 6.2 or later (exclusive ``XRANGE`` bounds).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from cc_rules.models import Agent
from cc_rules.selectors import db_now, effective_rules

from .errors import NotFound, ServiceError

# A stream id as Redis writes it: "<milliseconds>-<sequence>", each a 64-bit unsigned integer.
MESSAGE_ID = re.compile(r"^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$")
_U64 = 2**64 - 1


class ImUnavailable(ServiceError):
    status = 503
    code = "im_unavailable"


class InboxFull(ServiceError):
    """The colleague's inbox holds as many messages or bytes as it may (429; nothing stored)."""

    status = 429
    code = "inbox_full"
    retry_after = 30


# KEYS: stream, bytes. ARGV: message, max messages, max bytes, ttl seconds.
# Returns {"ok", id} or {"messages"|"bytes", count, bytes}.
_SEND = """
local count = redis.call('XLEN', KEYS[1])
local held = 0
if count == 0 then
  redis.call('DEL', KEYS[2])
else
  held = tonumber(redis.call('GET', KEYS[2]) or '0')
end
local size = string.len(ARGV[1])
if count >= tonumber(ARGV[2]) then
  return {'messages', count, held}
end
if held + size > tonumber(ARGV[3]) then
  return {'bytes', count, held}
end
local id = redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
redis.call('INCRBY', KEYS[2], size)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {'ok', id}
"""

# KEYS: stream, bytes. ARGV: up_to (inclusive). Returns {removed, remaining}.
_ACK = """
local done = redis.call('XRANGE', KEYS[1], '-', ARGV[1])
local freed = 0
for _, entry in ipairs(done) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'm' then freed = freed + string.len(fields[i + 1]) end
  end
  redis.call('XDEL', KEYS[1], entry[1])
end
local remaining = redis.call('XLEN', KEYS[1])
if remaining == 0 then
  redis.call('DEL', KEYS[2])
elseif freed > 0 then
  redis.call('DECRBY', KEYS[2], freed)
end
return {#done, remaining}
"""

_client: redis.Redis | None = None
_scripts: dict[str, Any] = {}


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL or settings.CELERY_BROKER_URL,
            socket_connect_timeout=1,
            socket_timeout=2,
        )
        _scripts["send"] = _client.register_script(_SEND)
        _scripts["ack"] = _client.register_script(_ACK)
    return _client


def _keys(agent_pk: int) -> list[str]:
    # Agent ids are per database: name the database so installations (or test databases)
    # sharing one Redis never read each other's inboxes.
    database = settings.DATABASES["default"]["NAME"]
    base = f"cc:im:{database}:inbox:{agent_pk}"
    return [f"{base}:stream", f"{base}:bytes"]


def is_message_id(value: str) -> bool:
    match = MESSAGE_ID.match(value)
    return bool(match) and all(int(part) <= _U64 for part in match.groups())


def _unavailable() -> ImUnavailable:
    return ImUnavailable("im_unavailable", "IM relay is unavailable; try again.")


def _require_im(agent: Agent, who: str) -> None:
    if "im" not in effective_rules(agent).visible:
        raise NotFound("not_found", f"{who} has no IM channel.")


def send(sender: Agent, to: Agent, text: str) -> str:
    """Relay ``text`` to ``to``'s inbox; the new message's id. ``InboxFull`` when it is full."""
    _require_im(sender, "You")
    _require_im(to, "That colleague")
    payload = json.dumps({"from": sender.user.username, "text": text, "at": db_now().isoformat()})
    return push(to.pk, payload, username=to.user.username)


def push(agent_pk: int, payload: str, *, username: str = "That colleague") -> str:
    """Append ``payload`` to an inbox if both bounds allow it (one atomic script)."""
    limits = [settings.CC_IM_INBOX_MAX_MESSAGES, settings.CC_IM_INBOX_MAX_BYTES]
    try:
        _redis()
        answer = _scripts["send"](keys=_keys(agent_pk), args=[payload, *limits, _ttl()])
    except redis.RedisError:
        raise _unavailable() from None
    outcome = _text(answer[0])
    if outcome == "ok":
        return _text(answer[1])
    what = (
        f"{limits[0]} messages"
        if outcome == "messages"
        else f"{limits[1]} bytes (this message is {len(payload.encode())})"
    )
    raise InboxFull(
        "inbox_full",
        f"{username}'s inbox is full: it holds at most {what} until they read and "
        "acknowledge; nothing was sent. Try again later.",
    )


@dataclass(frozen=True)
class Page:
    messages: list[dict[str, Any]]  # {"id", "from", "text", "at"}, oldest first
    more: bool  # messages after the last one of this page


def inbox(agent: Agent, *, after: str | None = None, limit: int = 50) -> Page:
    """The oldest ``limit`` unacknowledged messages (after id ``after``); removes nothing."""
    _require_im(agent, "You")
    start = f"({after}" if after else "-"
    try:
        entries = _redis().xrange(_keys(agent.pk)[0], start, "+", count=limit + 1)
    except redis.RedisError:
        raise _unavailable() from None
    messages = []
    for entry_id, fields in entries[:limit]:
        body = json.loads(fields[b"m"])
        messages.append({"id": _text(entry_id), **body})
    return Page(messages, more=len(entries) > limit)


def ack(agent: Agent, up_to: str) -> tuple[int, int]:
    """Remove the messages with ids up to and including ``up_to``: (removed, remaining)."""
    _require_im(agent, "You")
    try:
        _redis()
        removed, remaining = _scripts["ack"](keys=_keys(agent.pk), args=[up_to])
    except redis.RedisError:
        raise _unavailable() from None
    return int(removed), int(remaining)


def discard(agent_pk: int) -> None:
    """Drop an inbox with everything in it, unread or not (tests and operators)."""
    try:
        _redis().delete(*_keys(agent_pk))
    except redis.RedisError:
        raise _unavailable() from None


def _ttl() -> int:
    return settings.CC_IM_TTL_SECONDS


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
