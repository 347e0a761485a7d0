"""Rate limits (issue 7; DECISIONS.md "Engineering"), kept in Redis, failing open.

- ``LoginIPThrottle`` on ``POST /auth/token/``: ``CC_THROTTLE_LOGIN`` (default ``10/minute``)
  per client IP, so one address trying many names does not get far. Wrong passwords for one
  name are django-axes' business (``LoginLocked``, settings ``AXES_*``): it locks the address
  *and* username pair out, so an attacker elsewhere cannot lock the real user out (issue 15;
  an earlier per-username counter here did exactly that).
- ``UserWritesThrottle`` (REST_FRAMEWORK ``DEFAULT_THROTTLE_CLASSES``): ``CC_THROTTLE_USER_WRITES``
  (default ``50/second``) per user on unsafe methods; reads are not limited; the router service
  account is exempt (it fires offers for everybody).

A refusal is 429 ``throttled`` with ``Retry-After`` (cc_rules/api/errors.py). Counters are fixed
windows in Redis (``INCR`` + ``EXPIRE`` in one round trip), shared by every web process; the key
names the database so test runs on different databases never share a budget. When Redis cannot
be reached the request is allowed (fail open: the database is the truth, a limiter is not), and
Redis is not asked again for ``BACKOFF_SECONDS`` so a dead Redis costs one fast refused
connection per process per second, not one per request. Every request let through so is
counted in ``cc_throttle_fail_open_total`` (by scope; cc_rules/metrics.py).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from cc_rules import metrics
from cc_rules.permissions_setup import ROUTER

from .permissions import in_group

log = logging.getLogger(__name__)

KEY_PREFIX = "cc:throttle"
BACKOFF_SECONDS = 1.0
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_clients: dict[str, redis.Redis] = {}
_state = threading.Lock()
_down_until = 0.0


def redis_url() -> str:
    return settings.CC_THROTTLE_REDIS_URL


def _client(url: str) -> redis.Redis:
    with _state:
        client = _clients.get(url)
        if client is None:
            # Short timeouts: a limiter must never be the reason a request is slow.
            client = redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.25)
            _clients[url] = client
        return client


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/minute"`` → (10, 60); DRF's rate syntax (the unit's first letter counts)."""
    num, period = rate.split("/")
    return int(num), _DURATIONS[period.strip()[0].lower()]


def _database_tag() -> str:
    name = str(connection.settings_dict.get("NAME") or "")
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def hit(scope: str, ident: str, limit: int, duration: int) -> float | None:
    """Count one request; None when allowed, else the seconds until the window ends.

    Raises ``redis.RedisError`` when Redis cannot be reached (the caller fails open).
    """
    now = time.time()
    window = int(now // duration)
    key = f"{KEY_PREFIX}:{_database_tag()}:{scope}:{ident}:{window}"
    pipe = _client(redis_url()).pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, duration + 1)
    count, _ = pipe.execute()
    if count <= limit:
        return None
    return max((window + 1) * duration - now, 0.001)


def reset_all() -> int:
    """Forget every counter of this database and any back-off (tests); returns keys deleted."""
    global _down_until
    _down_until = 0.0
    client = _client(redis_url())
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}:{_database_tag()}:*", count=1000))
    return client.delete(*keys) if keys else 0


class RedisRateThrottle(BaseThrottle):
    """A fixed-window counter in Redis for ``scope``; subclasses say whom to count."""

    scope = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request: Any, view: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        global _down_until
        ident = self.ident(request, view)
        if ident is None:
            return True
        # Read at call time so overridden settings (benchmarks, tests) apply at once.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not rate:
            return True
        limit, duration = parse_rate(rate)
        if time.monotonic() < _down_until:
            metrics.THROTTLE_FAIL_OPEN.labels(self.scope).inc()
            return True
        try:
            self._wait = hit(self.scope, ident, limit, duration)
        except redis.RedisError as exc:
            with _state:
                _down_until = time.monotonic() + BACKOFF_SECONDS
            log.warning("throttling skipped, Redis unreachable (%s)", type(exc).__name__)
            metrics.THROTTLE_FAIL_OPEN.labels(self.scope).inc()
            return True
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


def _hashed(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class LoginIPThrottle(RedisRateThrottle):
    """``CC_THROTTLE_LOGIN`` per client address (``NUM_PROXIES`` says whom to trust)."""

    scope = "login"

    def ident(self, request: Any, view: Any) -> str | None:
        return "ip:" + _hashed(self.get_ident(request) or "")


class LoginLocked(Throttled):
    """429 ``login_locked``: this address and username are locked out (django-axes) until the
    cool-off ends; ``Retry-After`` says when. Raised by the token view when ``authenticate``
    was refused by axes."""

    default_detail = "Too many failed logins from this address for this user; try again later."
    default_code = "login_locked"

    @classmethod
    def for_request(cls, request: Any) -> LoginLocked:
        from axes.helpers import get_cool_off  # imported late: axes reads settings at import

        cool_off = get_cool_off(request)
        return cls(wait=cool_off.total_seconds() if cool_off else None)


class UserWritesThrottle(RedisRateThrottle):
    """``CC_THROTTLE_USER_WRITES`` per user on unsafe methods; the router account is exempt."""

    scope = "user_writes"

    def ident(self, request: Any, view: Any) -> str | None:
        user = getattr(request, "user", None)
        if request.method not in UNSAFE_METHODS or not getattr(user, "is_authenticated", False):
            return None
        if in_group(user, ROUTER):
            return None
        return f"u:{user.pk}"
