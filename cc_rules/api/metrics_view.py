"""``GET /metrics``: every process's metrics in Prometheus's text format (cc_rules/metrics.py).

Who may read it (settings ``CC_METRICS_ALLOWED_IPS``, ``CC_METRICS_TOKEN``):
- a request whose peer address (``REMOTE_ADDR``) is in ``CC_METRICS_ALLOWED_IPS`` (addresses or
  networks; loopback by default) and that carries no ``X-Forwarded-For``/``Forwarded`` header: a
  reverse proxy on the same machine connects from loopback too, and what it forwards is not
  local;
- any request with ``Authorization: Bearer <CC_METRICS_TOKEN>`` when that is set (compared in
  constant time).
Anything else is 403 ``forbidden``. A plain Django view: no session, no DRF throttle, no
database query.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from cc_rules import metrics

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in allowed if item)


def _from_allowed_address(request: HttpRequest) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in net for net in _networks(tuple(settings.CC_METRICS_ALLOWED_IPS)))


def _has_token(request: HttpRequest) -> bool:
    token = settings.CC_METRICS_TOKEN
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    )


def allowed(request: HttpRequest) -> bool:
    return _has_token(request) or _from_allowed_address(request)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return JsonResponse(
            {
                "code": "forbidden",
                "detail": "Metrics are served to allowed addresses or with the metrics token.",
                "rule": None,
            },
            status=403,
        )
    body, content_type = metrics.registry_text()
    return HttpResponse(body, content_type=content_type)
