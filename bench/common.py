"""What every benchmark shares: its own PostgreSQL database, Django set up production-like,
demo-like agents made in bulk, history rows made in bulk, and percentiles.

Benchmarks never touch the development database: each uses ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432``) with its own database name, created on first use.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
# The demo's agent roles, in the demo's proportions (fixtures/demo.json: alice and sam are
# blended; bob, erin, tom and sofia one each).
DEMO_AGENT_ROLES = ("blended", "voice_only", "email_specialist", "blended", "single_task", "social")
# The channel each role's agent works in a toggle or an interaction cycle: visible to the role,
# no wrap-up timer after it, so a cycle can start again at once.
WORK_CHANNEL = {
    "blended": "chat",
    "voice_only": "voice",
    "email_specialist": "email",
    "single_task": "chat",
    "social": "chat",
}


def database_url(name: str) -> str:
    """``name`` on the benchmark server (``BENCH_DATABASE_URL``)."""
    parts = urlsplit(SERVER)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def with_db(url: str, db: int) -> str:
    """A Redis URL with another database number."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def ensure_database(url: str, *, fresh: bool = False) -> bool:
    """Create the database if missing (dropped first when ``fresh``). True when created."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            return True
    return False


BENCH_HISTORY_KEY = "bench-only-history-key-not-for-production-use"


def production_env(url: str, broker_url: str | None = None) -> dict[str, str]:
    """Settings as in production (DEBUG off: no query log, no browsable API), on ``url``."""
    env = {
        "DATABASE_URL": url,
        "DEBUG": "off",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-not-for-production"),
        "CC_HISTORY_KEY": os.environ.get("CC_HISTORY_KEY", BENCH_HISTORY_KEY),
        "SECURE_SSL_REDIRECT": "off",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "cc_rules.settings",
    }
    if broker_url:
        env |= {"REDIS_URL": broker_url, "CELERY_BROKER_URL": broker_url}
    return env


def setup_django(url: str, broker_url: str | None = None, *, migrate: bool = True) -> None:
    """Set Django up in this process against ``url`` (migrated unless told otherwise)."""
    for key, value in production_env(url, broker_url).items():
        if key == "DJANGO_SETTINGS_MODULE":
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def seed_demo() -> None:
    """The demo configuration (roles, rules, users, contacts); idempotent."""
    from django.core.management import call_command
    from django.test import override_settings

    from cc_rules.models import Channel, RulesVersion
    from cc_rules.reference_data import ensure_reference_data

    ensure_reference_data(Channel, RulesVersion)
    with override_settings(DEBUG=True):  # seed_demo refuses to write demo passwords otherwise
        call_command("seed_demo", "--quiet")


def create_agents(n: int, prefix: str, roles=DEMO_AGENT_ROLES) -> list[dict]:
    """``n`` agents with the demo's roles in turn, each with a user, an API token and channel
    states (logged off), made in bulk. Returns ``{"id", "username", "token", "role",
    "channel"}`` per agent; existing agents with these names are reused."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from cc_rules.models import Agent, AgentChannelState, ApiToken, Role
    from cc_rules.models.tokens import PREFIX_LENGTH, default_expiry, digest_of, new_secret
    from cc_rules.selectors import effective_rules

    User = get_user_model()
    by_name = {r.name: r for r in Role.objects.filter(name__in=set(roles))}
    names = [f"{prefix}{i:05d}" for i in range(n)]
    with transaction.atomic():
        have = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        password = make_password("demo")
        User.objects.bulk_create(
            [User(username=u, password=password) for u in names if u not in have], batch_size=5000
        )
        users = {u.username: u for u in User.objects.filter(username__in=names)}
        with_agent = set(
            Agent.objects.filter(user__username__in=names).values_list("user__username", flat=True)
        )
        Agent.objects.bulk_create(
            [
                Agent(user=users[u], role=by_name[roles[i % len(roles)]])
                for i, u in enumerate(names)
                if u not in with_agent
            ],
            batch_size=5000,
        )
        agents = list(Agent.objects.filter(user__username__in=names).select_related("user", "role"))
        # Secrets are shown once: a fresh token per agent and run (the last run's are dropped).
        ApiToken.objects.filter(user__in=users.values(), device="bench").delete()
        tokens = {a.user_id: new_secret() for a in agents}
        expires = default_expiry()
        ApiToken.objects.bulk_create(
            [
                ApiToken(
                    user_id=user_id,
                    digest=digest_of(secret),
                    prefix=secret[:PREFIX_LENGTH],
                    device="bench",
                    expires=expires,
                )
                for user_id, secret in tokens.items()
            ],
            batch_size=5000,
        )
        now = timezone.now()
        AgentChannelState.objects.bulk_create(
            [
                AgentChannelState(agent=a, channel_id=code, status="logged_off", since=now)
                for a in agents
                for code in sorted(effective_rules(a).visible)
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
    rows = [
        {
            "id": a.pk,
            "username": a.user.username,
            "token": tokens[a.user_id],
            "role": a.role.name,
            "channel": WORK_CHANNEL[a.role.name],
        }
        for a in agents
    ]
    return sorted(rows, key=lambda r: r["username"])


def fill_history(agent_ids: list[int], per_agent: int, *, days: float = 30) -> float:
    """``per_agent`` status rows for each agent, evenly over the ``days`` before now, in one
    ``INSERT … SELECT generate_series``: each row follows its channel's previous one (voice,
    e-mail and chat in turn; ready, not_ready, ready, after_call_work), so time-in-status has
    real intervals to add up. Agents must have no history yet. Hashes are placeholders
    (``verify_history`` would rightly call these chains broken): the benchmarks measure reads
    and writes next to history, not the chain. Returns the seconds taken."""
    from django.db import connection, transaction

    from cc_rules.models import Agent, StatusChange

    table = StatusChange._meta.db_table
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (seq, agent_id, channel_id, event, from_status, to_status, reason, cause, rule,
                 actor_id, actor_name, request_id, interaction_id, at, prev_hash, hash)
            SELECT j, a.id,
                   (ARRAY['voice', 'email', 'chat'])[j %% 3 + 1],
                   'status',
                   CASE WHEN j <= 3 THEN 'logged_off'
                        ELSE (ARRAY['after_call_work', 'ready', 'not_ready', 'ready'])
                             [(j / 3) %% 4 + 1] END,
                   (ARRAY['ready', 'not_ready', 'ready', 'after_call_work'])[(j / 3) %% 4 + 1],
                   CASE WHEN (j / 3) %% 4 = 1 THEN 'break' ELSE '' END,
                   (ARRAY['agent', 'agent', 'wrap_up_timer', 'agent'])[(j / 3) %% 4 + 1],
                   'R2:status@global', NULL, '', md5(a.id::text || ':' || j::text), NULL,
                   now() - %(span)s * interval '1 second'
                       + (j - 1) * (%(span)s / %(n)s) * interval '1 second'
                       + (a.id %% 997) * interval '1 millisecond',
                   repeat('0', 64), md5(a.id::text || '/' || j::text) || repeat('0', 32)
            FROM unnest(%(ids)s::bigint[]) AS a(id), generate_series(1, %(n)s) AS j
            """,
            {"ids": agent_ids, "n": per_agent, "span": days * 86400.0},
        )
        # the heads onto each agent's last row (the head trigger wants that row to exist)
        cursor.execute(
            f"UPDATE {Agent._meta.db_table} SET history_seq = %(n)s, "
            f"history_head = md5(id::text || '/' || %(n)s::text) || repeat('0', 32) "
            f"WHERE id = ANY(%(ids)s::bigint[])",
            {"ids": agent_ids, "n": per_agent},
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def rss_mb(field: str = "VmHWM") -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss is KiB on Linux, bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """One line: when, on what (for RESULTS.md)."""
    cpus = os.cpu_count()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {cpus} cores ({model}); "
        f"Python {platform.python_version()}; load {load}"
    )


def elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


SMALL = {"name": "cc_bench_small", "agents": 10, "history_agents": 0, "per_agent": 0}
LARGE = {"name": "cc_bench_scale", "agents": 10_000, "history_agents": 1_000, "per_agent": 1_000}


def ensure_population(agents: int, history_agents: int, per_agent: int) -> list[dict]:
    """The demo, plus ``agents`` demo-like agents ``fill…``, all logged in and ready on their
    work channel since a random time in the last hour (states set in bulk), the first
    ``history_agents`` of them with ``per_agent`` history rows over 30 days. Re-runs reuse
    what is there."""
    import random

    from django.db import connection

    from cc_rules.models import AgentChannelState, StatusChange

    seed_demo()
    rows = create_agents(agents, "fill")
    ids = [r["id"] for r in rows]
    by_channel: dict[str, list[int]] = {}
    for r in rows:
        by_channel.setdefault(r["channel"], []).append(r["id"])
    rng = random.Random(7)
    with connection.cursor() as cursor:
        for channel, agent_ids in by_channel.items():
            cursor.execute(
                f"""
                UPDATE {AgentChannelState._meta.db_table} AS s
                   SET status = 'ready', reason = NULL, since = now() - (v.age * interval '1 s'),
                       idle_since = now() - (v.age * interval '1 s')
                  FROM unnest(%s::bigint[], %s::float8[]) AS v(agent_id, age)
                 WHERE s.agent_id = v.agent_id AND s.channel_id = %s
                   AND s.status = 'logged_off'
                """,
                [agent_ids, [rng.uniform(60, 3600) for _ in agent_ids], channel],
            )
        cursor.execute(f"ANALYZE {AgentChannelState._meta.db_table}")  # as autovacuum would
    want = history_agents * per_agent
    have = StatusChange.objects.filter(agent_id__in=ids[:history_agents]).count()
    if want and have != want:
        if have:
            raise SystemExit(f"{have:,} history rows where {want:,} were expected: drop the db")
        print(f"writing {want:,} history rows …", flush=True)
        seconds = fill_history(ids[:history_agents], per_agent)
        print(f"wrote {want:,} history rows in {seconds:.1f} s", flush=True)
    return rows


def database_named(name: str) -> dict:
    return SMALL if name == SMALL["name"] else LARGE


def in_each_database(script: str, args: list[str]) -> tuple[dict, dict]:
    """Run ``script --child <db> args`` for SMALL, then LARGE, each in its own process (Django
    is set up once per process); their ``RESULT {json}`` lines, and the rest echoed."""
    results = {}
    for db in (SMALL, LARGE):
        out = subprocess.run(
            [sys.executable, script, "--child", db["name"], *args],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        for line in out.splitlines():
            if line.startswith("RESULT "):
                results[db["name"]] = json.loads(line[len("RESULT ") :])
            else:
                print(f"  [{db['name']}] {line}", flush=True)
    return results[SMALL["name"]], results[LARGE["name"]]


def child_result(result: dict) -> None:
    print("RESULT " + json.dumps(result))
