"""Internal instant messages (R5): relayed through Redis, never written to the database or logs.

A message is pushed onto the colleague's inbox list with a TTL; reading the inbox returns and
removes the unread messages atomically (``LRANGE`` + ``DEL`` in one MULTI). Both colleagues must
see the ``im`` channel. Delivery ignores status and DND (DECISIONS.md, "IM").
"""

from __future__ import annotations

import json
from typing import Any

import redis
from django.conf import settings

from cc_rules.models import Agent
from cc_rules.selectors import db_now, effective_rules

from .errors import NotFound, ServiceError


class ImUnavailable(ServiceError):
    status = 503
    code = "im_unavailable"


_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL or settings.CELERY_BROKER_URL,
            socket_connect_timeout=1,
            socket_timeout=2,
        )
    return _client


def _inbox_key(agent: Agent) -> str:
    # Agent ids are per database: name the database so installations (or test databases)
    # sharing one Redis never read each other's inboxes.
    database = settings.DATABASES["default"]["NAME"]
    return f"cc:im:{database}:inbox:{agent.pk}"


def _require_im(agent: Agent, who: str) -> None:
    if "im" not in effective_rules(agent).visible:
        raise NotFound("not_found", f"{who} has no IM channel.")


def send(sender: Agent, to: Agent, text: str) -> None:
    _require_im(sender, "You")
    _require_im(to, "That colleague")
    payload = json.dumps({"from": sender.user.username, "text": text, "at": db_now().isoformat()})
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.rpush(_inbox_key(to), payload)
        pipe.expire(_inbox_key(to), settings.CC_IM_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError:
        raise ImUnavailable("im_unavailable", "IM relay is unavailable; try again.") from None


def inbox(agent: Agent) -> list[dict[str, Any]]:
    _require_im(agent, "You")
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.lrange(_inbox_key(agent), 0, -1)
        pipe.delete(_inbox_key(agent))
        raw, _ = pipe.execute()
    except redis.RedisError:
        raise ImUnavailable("im_unavailable", "IM relay is unavailable; try again.") from None
    return [json.loads(item) for item in raw]
