"""``/healthz`` (this process is alive) and ``/readyz`` (it and what it depends on can work).

``/healthz`` answers 200 without touching anything: a load balancer or supervisor restarts a
process whose ``/healthz`` does not answer. ``/readyz`` runs the checks below and answers 200,
or 503 with the failed ones named in ``failed`` (and, in ``skipped``, those that could not be
judged because what they read is down)::

    {"status": "fail", "failed": ["worker"], "skipped": [],
     "checks": {"database": {"ok": true, "detail": "…"}, "worker": {"ok": false, …}, …}}

Checks: ``database`` (a query), ``migrations`` (none unapplied), ``redis`` (PING), ``worker``
(a Celery ping answered by at least one worker; the answer is cached
``CC_READYZ_CACHE_SECONDS`` per process so a busy ``/readyz`` does not flood the broker),
``beat`` (its heartbeat younger than ``CC_READYZ_SWEEP_MAX_AGE``), ``sweeper`` (the last timer
sweep, by any process, younger than ``CC_READYZ_SWEEP_MAX_AGE``) and ``timers`` (no wrap-up
timer or offer overdue by more than ``CC_READYZ_OVERDUE_SECONDS``). ``?only=database,redis``
runs only the named checks (e.g. for a load balancer that should not take every web node out
because the beat died). No authentication, no throttling; the body never carries exception
text, URLs or credentials, only check names, ages and counts.

A small module rather than django-health-check: that package answers 500 (not 503) and its
JSON names checks by class, it has no cached Celery ping, and the checks that matter here
(the sweeper's age, overdue timers, the beat's heartbeat) would be custom plugins anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

# -- the checks ---------------------------------------------------------------------------------
# Each takes the running context and returns (ok, detail). A check whose prerequisite failed
# (e.g. ``migrations`` when the database is down) is skipped, reported under ``skipped``.


class _Skip(Exception):
    """This check cannot be judged: what it needs failed (named in the message)."""


class _Context:
    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}
        self.db_now = None
        self._redis = None

    def need(self, check: str) -> None:
        result = self.results.get(check)
        if result is not None and not result["ok"]:
            raise _Skip(f"not checked: {check} failed")

    @property
    def redis(self):
        if self._redis is None:
            from cc_rules.sweeper import redis_client

            self._redis = redis_client()
        return self._redis


def _failure(exc: BaseException) -> str:
    # The class only: messages can carry host names, user names or URLs.
    return f"unreachable ({type(exc).__name__})"


def check_database(ctx: _Context) -> tuple[bool, str]:
    from cc_rules.selectors import db_now

    started = time.monotonic()
    try:
        ctx.db_now = db_now() if connection.vendor == "postgresql" else _sqlite_now()
    except Exception as exc:
        return False, _failure(exc)
    return True, f"answered in {(time.monotonic() - started) * 1000:.0f} ms"


def _sqlite_now():
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return timezone.now()


_migrations_ok = False  # once all are applied, code and schema cannot drift in this process


def check_migrations(ctx: _Context) -> tuple[bool, str]:
    global _migrations_ok
    ctx.need("database")
    if _migrations_ok:
        return True, "all applied"
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return False, _failure(exc)
    if plan:
        names = [f"{m.app_label}.{m.name}" for m, _ in plan[:5]]
        return False, f"{len(plan)} unapplied: " + ", ".join(names)
    _migrations_ok = True
    return True, "all applied"


def check_redis(ctx: _Context) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        ctx.redis.ping()
    except Exception as exc:
        return False, _failure(exc)
    return True, f"answered in {(time.monotonic() - started) * 1000:.0f} ms"


_ping_lock = threading.Lock()
_ping_cache: tuple[float, bool, str] | None = None  # (monotonic time, ok, detail)


def check_worker(ctx: _Context) -> tuple[bool, str]:
    global _ping_cache
    ctx.need("redis")
    with _ping_lock:
        cached = _ping_cache
        if cached and time.monotonic() - cached[0] < settings.CC_READYZ_CACHE_SECONDS:
            return cached[1], cached[2]
        from cc_rules.celery import app

        timeout = settings.CC_READYZ_PING_TIMEOUT
        try:
            replies = app.control.ping(timeout=timeout, limit=1)
        except Exception as exc:
            ok, detail = False, _failure(exc)
        else:
            ok = bool(replies)
            detail = (
                f"{next(iter(replies[0]))} answered"
                if ok
                else f"no worker answered a ping within {timeout:g} s"
            )
        _ping_cache = (time.monotonic(), ok, detail)
        return ok, detail


def _stamp_age(ctx: _Context, key: str) -> tuple[float, str] | None:
    from cc_rules.sweeper import read_stamp

    stamp = read_stamp(ctx.redis, key)
    if stamp is None:
        return None
    return time.time() - float(stamp["at"]), str(stamp.get("by", "?"))


def _young(ctx: _Context, key: str, what: str) -> tuple[bool, str]:
    ctx.need("redis")
    limit = settings.CC_READYZ_SWEEP_MAX_AGE
    try:
        found = _stamp_age(ctx, key)
    except Exception as exc:
        return False, _failure(exc)
    if found is None:
        return False, f"no {what} in the last hour"
    age, by = found
    return age <= limit, f"last {what} {max(age, 0):.1f} s ago by {by} (limit {limit:g} s)"


def check_beat(ctx: _Context) -> tuple[bool, str]:
    from cc_rules.sweeper import beat_key

    return _young(ctx, beat_key(), "beat heartbeat")


def check_sweeper(ctx: _Context) -> tuple[bool, str]:
    from cc_rules.sweeper import last_sweep_key

    return _young(ctx, last_sweep_key(), "sweep")


def check_timers(ctx: _Context) -> tuple[bool, str]:
    """No wrap-up timer or offer deadline passed more than M seconds ago and still unfired
    (two index reads: the deadlines have partial indexes)."""
    from cc_rules.choices import Status
    from cc_rules.models import AgentChannelState, Interaction

    ctx.need("database")
    limit = settings.CC_READYZ_OVERDUE_SECONDS
    cutoff = ctx.db_now - timedelta(seconds=limit)
    try:
        wrap_up = (
            AgentChannelState.objects.filter(
                wrap_up_deadline__lt=cutoff, status=Status.AFTER_CALL_WORK
            )
            .order_by("wrap_up_deadline")
            .values_list("wrap_up_deadline", flat=True)
            .first()
        )
        offer = (
            Interaction.objects.filter(offer_deadline__lt=cutoff, state="offered")
            .order_by("offer_deadline")
            .values_list("offer_deadline", flat=True)
            .first()
        )
    except Exception as exc:
        return False, _failure(exc)
    late = [
        f"a {what} {(ctx.db_now - when).total_seconds():.0f} s overdue"
        for what, when in (("wrap-up timer", wrap_up), ("offer", offer))
        if when is not None
    ]
    if late:
        return False, "; ".join(late) + f" (limit {limit:g} s)"
    return True, f"none overdue by more than {limit:g} s"


CHECKS: dict[str, Callable[[_Context], tuple[bool, str]]] = {
    "database": check_database,
    "migrations": check_migrations,
    "redis": check_redis,
    "worker": check_worker,
    "beat": check_beat,
    "sweeper": check_sweeper,
    "timers": check_timers,
}


def run_checks(only: list[str] | None = None) -> dict[str, Any]:
    """Run the checks (all, or ``only`` those named, with what they depend on reported too)."""
    ctx = _Context()
    wanted = [name for name in CHECKS if not only or name in only]
    if "timers" in wanted and "database" not in wanted:
        wanted.insert(0, "database")  # the timers check needs the database's clock
    failed, skipped = [], []
    for name in wanted:
        try:
            ok, detail = CHECKS[name](ctx)
        except _Skip as skip:
            ctx.results[name] = {"ok": None, "detail": str(skip)}
            skipped.append(name)
            continue
        ctx.results[name] = {"ok": ok, "detail": detail}
        if not ok:
            failed.append(name)
    ok = not failed and not skipped
    return {
        "status": "ok" if ok else "fail",
        "failed": failed,
        "skipped": skipped,
        "checks": ctx.results,
    }


# -- the views ----------------------------------------------------------------------------------
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: this process answers HTTP. Touches no database, Redis or broker."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    only = [n.strip() for n in request.GET.get("only", "").split(",") if n.strip()]
    unknown = sorted(set(only) - set(CHECKS))
    if unknown:
        body = {
            "code": "unknown_check",
            "detail": f"Unknown check(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}.",
            "rule": None,
        }
        return JsonResponse(body, status=400)
    result = run_checks(only or None)
    return JsonResponse(result, status=200 if result["status"] == "ok" else 503)
