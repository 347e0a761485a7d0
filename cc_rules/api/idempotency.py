"""``Idempotency-Key`` on every POST and PUT under /api/v1/ (API.md "Conventions"; the IETF
draft "The Idempotency-Key HTTP Header Field"; DECISIONS.md "Engineering"), and the retry of
any API request that lost a deadlock.

A request that carries the header runs like this, all in ONE database transaction:

1. claim the key: on PostgreSQL ``pg_try_advisory_xact_lock(hash(user, endpoint, key))``; a
   duplicate that arrives while the first is still running does not get the lock and is answered
   409 ``request_in_progress`` at once. On SQLite the claim is the insert of the unique
   ``IdempotencyRecord`` row (``transaction_mode=IMMEDIATE`` already serialises writers, so a
   duplicate waits for the first and then replays it);
2. a live record with the same body fingerprint: replay its status and body, with
   ``Idempotent-Replayed: true``; with another fingerprint: 422 ``idempotency_key_reused``;
3. otherwise run the view in that transaction (the services' own ``atomic()`` blocks become
   savepoints of it), and store the response in the same transaction as the state change, so
   a retry finds either the stored response or no trace of the work.

What is stored: 2xx and 4xx answers of the view, except 401 (who asked is not established)
and 429 (the request never ran; ``Retry-After`` invites the same retry). 5xx is never stored,
nor a 4xx whose body PostgreSQL's jsonb cannot hold (it echoes a NUL): a refusal changed
nothing, so recomputing it on retry is the same answer. Only a SHA-256 of the request body is
kept, never the body (IM text, R5).

Transaction boundaries (issue 12, item 6). The services own them; the key only widens the
transaction to take in the answer. A keyed request has the same effects and takes the same
locks, in the same order, as one without a key:

- what a service keeps or undoes is decided by its own ``atomic()`` block, keyed or not: a
  refusal raised inside it rolls its savepoint back, and a refusal raised after it (an accept
  past the offer's deadline: the offer is missed, then 409 ``offer_expired``) keeps its work in
  both cases. So a 4xx keeps what the view kept and is stored; only a 5xx (or a transaction the
  view left failed) rolls the whole request back, answer and claim included;
- a lock a service gives back by rolling its block back is released at once, savepoint or not
  (PostgreSQL releases a row lock taken after a savepoint when that savepoint is rolled back):
  routing rolls back every candidate it does not take and waits for a busy candidate only
  while holding no agent's lock (``services.offers._route``). A lock a service keeps is held
  until the answer is stored: one INSERT later than without a key, the price of storing the
  answer with the work. The advisory lock is only ever tried, never waited for, so it cannot
  close a wait cycle;
- a deadlock or serialization failure that still happens (a path that breaks the lock order)
  is retried: the whole request, claim included, runs again after a random pause
  (``services.sessions.retry_transient``, at most 5 tries), keyed or not. Every API view makes
  one service call whose work is one transaction, so a request that failed this way left
  nothing behind and running it again is safe. DRF's exception handler lets these errors
  through (``api.errors``), ``process_exception`` below catches them, and if every try loses,
  the answer is 409 ``request_in_progress`` with ``Retry-After: 1``, never a 5xx.

Why one transaction and not a hook that writes the record inside each service's transaction:
the stored answer is the rendered response, which exists only after the service returns; a
service would have to render HTTP to store it. Widening the transaction by the render and one
INSERT keeps the services free of HTTP and costs the same locks.

Keys live ``CC_IDEMPOTENCY_TTL_HOURS`` (default 24 h): an expired record is treated as absent
and replaced, and ``manage.py purge_idempotency`` (run it daily from cron or beat) deletes them.

Why a middleware and not a DRF view mixin: it cannot be forgotten on a new view (every POST/PUT
under /api/v1/ passes through it), and it owns the transaction around the whole view, response
rendering included. Token users are authenticated inside DRF views, so the middleware resolves
the caller itself with DRF's own authentication classes (token, and session with its CSRF
check); a request that does not authenticate passes through untouched and the view answers
401/403 as usual. It sits right after ``RequestIdMiddleware``, the innermost of the stack.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from psycopg import pq
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings

from cc_rules import metrics
from cc_rules.models import IdempotencyRecord
from cc_rules.selectors import db_now
from cc_rules.services.sessions import is_transient, retry_transient

from .errors import database_unavailable_page

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
EXEMPT_PATHS = frozenset({"/api/v1/auth/token/"})  # anonymous, and its body would be a token
METHODS = frozenset({"POST", "PUT"})
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
ENDPOINT_MAX = 200  # IdempotencyRecord.endpoint
NOT_STORED = frozenset({401, 429})
IN_PROGRESS = 0  # status_code of a claim whose response is not written yet (SQLite)


def parse_key(raw: str) -> str:
    """The key from the header: an RFC 8941 sf-string (``"abc"``) or, leniently, a bare token.

    1 to 255 printable ASCII characters; anything else raises ``ValueError`` (→ 400).
    """
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not value:
        raise ValueError("Idempotency-Key is empty.")
    if len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.")
    if not all(" " <= ch <= "~" for ch in value):
        raise ValueError("Idempotency-Key must be printable ASCII.")
    return value


def fingerprint(content_type: str, body: bytes) -> str:
    """SHA-256 of the media type and the body; JSON is canonicalised so key order is ignored."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    media_type = content_type.split(";", 1)[0].strip().lower()
    return hashlib.sha256(media_type.encode() + b"\n" + canonical).hexdigest()


def endpoint_of(request: HttpRequest) -> str:
    endpoint = f"{request.method} {request.path_info}"
    if len(endpoint) > ENDPOINT_MAX:
        endpoint = (
            f"{request.method} sha256:{hashlib.sha256(request.path_info.encode()).hexdigest()}"
        )
    return endpoint


def lock_id(user_id: int, endpoint: str, key: str) -> int:
    """A signed 64-bit advisory-lock id for (user, endpoint, key)."""
    digest = hashlib.sha256(f"idempotency\0{user_id}\0{endpoint}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def error(status: int, code: str, detail: str, **headers: str) -> HttpResponse:
    response = JsonResponse({"code": code, "detail": detail, "rule": None}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def authenticated_user(request: HttpRequest) -> Any | None:
    """The caller as DRF's configured authenticators see it, or None (the view answers 401/403).

    Session users go through ``SessionAuthentication``, CSRF check included, so a forged
    cross-site request never claims a key.
    """
    forced = getattr(request, "_force_auth_user", None)  # APIClient.force_authenticate
    if forced is not None:
        return forced
    drf_request = Request(request)
    for authenticator in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        try:
            result = authenticator().authenticate(drf_request)
        except exceptions.APIException:
            return None
        if result is not None:
            user = result[0]
            return user if getattr(user, "is_authenticated", False) else None
    return None


class IdempotencyMiddleware:
    """Replays retried POST/PUT requests that carry ``Idempotency-Key``, and runs any API
    request again that lost a deadlock (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        raw = request.headers.get(HEADER)
        keyed = (
            raw is not None and request.method in METHODS and request.path_info not in EXEMPT_PATHS
        )
        try:
            body = request.body  # read once: a retry parses the same bytes again
        except RequestDataTooBig:
            if keyed:
                return error(400, "invalid", "The request body is too large.")
            return self.get_response(request)  # the view refuses it as usual
        try:
            attempt: Callable[[], HttpResponse]
            if not keyed:
                attempt = partial(self._run, request)
            else:
                try:
                    key = parse_key(raw or "")
                except ValueError as exc:
                    return error(400, "invalid", str(exc))
                user = authenticated_user(request)
                if user is None:
                    return self.get_response(request)
                digest = fingerprint(request.content_type or "", body)
                attempt = partial(self._handle, request, user, endpoint_of(request), key, digest)
            return retry_transient(attempt)
        except (OperationalError, InterfaceError) as exc:
            if is_transient(exc):
                log.warning("deadlock or serialization failure on every try: %s", exc.__cause__)
                return _contended()
            # Raised here, outside any view, it would become a bare 500: answer as the API does.
            log.warning("database unavailable during an API request")
            return database_unavailable_page(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        """A deadlock or serialization failure in the view: kept for ``_run`` to raise again
        (Django turns a view's exception into a response before it reaches ``__call__``)."""
        if hasattr(request, _TRANSIENT) and isinstance(exc, DatabaseError) and is_transient(exc):
            setattr(request, _TRANSIENT, exc)
            return HttpResponse(status=503)  # never sent: _run raises instead
        return None

    def _run(self, request: HttpRequest) -> HttpResponse:
        """One try of the view; a transient database error in it is raised here."""
        setattr(request, _TRANSIENT, None)
        response = self.get_response(request)
        failed = getattr(request, _TRANSIENT)
        if failed is not None:
            raise failed
        return response

    def _handle(
        self, request: HttpRequest, user: Any, endpoint: str, key: str, digest: str
    ) -> HttpResponse:
        postgres = connection.vendor == "postgresql"
        with transaction.atomic():
            if postgres and not _try_lock(lock_id(user.pk, endpoint, key)):
                return _in_progress()
            now = db_now()
            record = IdempotencyRecord.objects.filter(user=user, endpoint=endpoint, key=key).first()
            if record is not None and record.expires_at > now:
                return _answer_existing(record, digest)
            if record is not None:
                record.delete()  # expired: the key is free again
            expires = now + timedelta(hours=settings.CC_IDEMPOTENCY_TTL_HOURS)
            claim = None
            if not postgres:
                try:
                    with transaction.atomic():
                        claim = IdempotencyRecord.objects.create(
                            user=user,
                            endpoint=endpoint,
                            key=key,
                            body_hash=digest,
                            status_code=IN_PROGRESS,
                            response_body=None,
                            created_at=now,
                            expires_at=expires,
                        )
                except IntegrityError:
                    return _in_progress()
            response = self._run(request)  # a transient error rolls all of this back
            if response.status_code >= 500 or _failed_transaction():
                # Nothing of a failed request is kept, nor its answer, nor the claim.
                transaction.set_rollback(True)
                return response
            stored = _storable_body(response)
            if stored is _NOT_STORABLE:
                if claim is not None:
                    claim.delete()
                return response
            if claim is None:
                claim = IdempotencyRecord(
                    user=user, endpoint=endpoint, key=key, created_at=now, expires_at=expires
                )
            claim.body_hash = digest
            claim.status_code = response.status_code
            claim.response_body = stored
            try:
                with transaction.atomic():
                    claim.save()
            except DataError:
                # A refusal that echoes what PostgreSQL's jsonb cannot hold (NUL, a lone
                # surrogate in an unknown field's name). It changed nothing, so not keeping it
                # only means a retry computes the same refusal again. A 2xx body comes from
                # stored rows and cannot contain such characters: let that one fail loudly.
                if response.status_code < 400:
                    raise
                if claim.pk is not None:
                    IdempotencyRecord.objects.filter(pk=claim.pk).delete()
            return response


_TRANSIENT = "_cc_transient_error"  # request attribute: set while a try of the view runs


def _failed_transaction() -> bool:
    """The view left the transaction unusable (an error outside any ``atomic()`` block of its
    own): it can only be rolled back."""
    if connection.needs_rollback:
        return True
    if connection.vendor != "postgresql" or connection.connection is None:
        return False
    return connection.connection.info.transaction_status == pq.TransactionStatus.INERROR


def _contended() -> HttpResponse:
    return error(
        409,
        "request_in_progress",
        "Concurrent requests kept conflicting with this one; nothing was changed. Retry.",
        **{"Retry-After": "1"},
    )


def _try_lock(lock: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock])
        return bool(cursor.fetchone()[0])


def _in_progress() -> HttpResponse:
    return error(
        409,
        "request_in_progress",
        "A request with this Idempotency-Key is still being processed; retry later.",
        **{"Retry-After": "1"},
    )


def _answer_existing(record: IdempotencyRecord, digest: str) -> HttpResponse:
    if record.status_code == IN_PROGRESS:
        return _in_progress()
    if record.body_hash != digest:
        return error(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request body.",
        )
    response = JsonResponse(record.response_body, status=record.status_code, safe=False)
    response["Idempotent-Replayed"] = "true"
    metrics.IDEMPOTENT_REPLAYS.get().inc()
    return response


_NOT_STORABLE = object()


def _storable_body(response: HttpResponse) -> Any:
    """The JSON body to keep for replays, or ``_NOT_STORABLE``."""
    code = response.status_code
    if not (200 <= code < 300 or 400 <= code < 500) or code in NOT_STORED:
        return _NOT_STORABLE
    if hasattr(response, "data"):  # a DRF Response: keep the JSON whatever was rendered
        return json.loads(JSONRenderer().render(response.data) or b"null")
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            return json.loads(response.content)
        except ValueError:
            return _NOT_STORABLE
    return _NOT_STORABLE


def purge_expired(now: Any = None) -> int:
    """Delete expired idempotency records; returns how many. Safe to run at any time."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or db_now()).delete()
    return deleted
