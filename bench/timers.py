"""Wrap-up timer benchmark: N deadlines on one real worker and one real beat (issue 5).

    python bench/timers.py [--n 2000] [--spread N/200] [--no-burst]

Against PostgreSQL (``DATABASE_URL``; default a separate database
``postgres://postgres@127.0.0.1:5432/cc_bench``, created and migrated on first use) and Redis
(``REDIS_URL``'s server, database ``--redis-db``, default 15, flushed at start so no other
worker can take its tasks). It starts ``celery worker --concurrency 2`` and ``celery beat``
(1 s sweep) as subprocesses, then:

1. spread run: creates N agents in ACW (rows in bulk) whose deadlines are spread uniformly at
   random over S seconds, sends each one's ETA wake-up after commit exactly as the service does
   (``wakeups.schedule_wrap_up``), waits until all fired, and prints p50/p99/max lateness
   (history row ``at`` - deadline) and how many fired exactly once (must be all N);
2. burst run: the same with every deadline inside one second, reported separately.

The goal (DECISIONS.md): p99 lateness < 1 s for the spread run at N = 10,000. Exit status 1
when a timer fired twice or not at all. Each run uses fresh agents; nothing is deleted.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DEFAULT_DB = common.database_url("cc_bench")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="timers per run (default 2000)")
    p.add_argument("--spread", type=float, default=None, help="seconds (default N/200)")
    p.add_argument("--redis-db", type=int, default=15, help="Redis database (default 15)")
    p.add_argument("--no-burst", action="store_true", help="skip the burst run")
    p.add_argument("--timeout", type=float, default=300, help="max wait per run after the last")
    args = p.parse_args()
    if args.spread is None:
        args.spread = args.n / 200
    return args


def setup_django(database_url: str, broker_url: str) -> None:
    os.environ["CC_SEND_WAKEUPS"] = "on"
    common.setup_django(database_url, broker_url)


class Celery:
    """One worker and one beat, each in its own process group, logging to one file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        celery = str(Path(sys.executable).with_name("celery"))
        self.log = workdir / "celery.log"
        self.argvs = {
            "worker": [
                *(celery, "-A", "cc_rules", "worker", "--concurrency", "2", "-l", "info"),
                *("--without-gossip", "--without-mingle", "--hostname", f"bench-{os.getpid()}@%h"),
            ],
            "beat": [
                *(celery, "-A", "cc_rules", "beat", "-l", "info"),
                *("-s", str(workdir / "schedule"), "--pidfile", str(workdir / "beat.pid")),
            ],
        }
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        with self.log.open("ab") as out:
            for name, argv in self.argvs.items():
                self.procs[name] = subprocess.Popen(
                    argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        deadline = time.monotonic() + 120
        while " ready." not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or any(
                p.poll() is not None for p in self.procs.values()
            ):
                raise SystemExit(f"the worker did not start; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs.values():
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=10)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


def run(label: str, n: int, spread: float, timeout: float) -> bool:
    """Create ``n`` due timers over ``spread`` seconds, wait for them, print the figures."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from cc_rules.models import Agent, AgentChannelState, Role, StatusChange
    from cc_rules.selectors import db_now
    from cc_rules.services import wakeups

    role = Role.objects.get(name="bench")
    User = get_user_model()
    prefix = f"bench-{label}-{time.time_ns()}-"
    rng = random.Random(n)
    offsets = sorted(rng.uniform(0, spread) for _ in range(n))
    # Time to create the rows and send the wake-ups (measured ~1 ms per timer), so that no
    # deadline is already due before its wake-up is sent.
    lead = 3 + n * 0.0015
    t_create = time.monotonic()
    with transaction.atomic():
        start = db_now() + timedelta(seconds=lead)
        users = User.objects.bulk_create([User(username=f"{prefix}{i}") for i in range(n)])
        agents = Agent.objects.bulk_create([Agent(user=u, role=role) for u in users])
        states = AgentChannelState.objects.bulk_create(
            [
                AgentChannelState(
                    agent=a,
                    channel_id="voice",
                    status="after_call_work",
                    since=start,
                    wrap_up_deadline=start + timedelta(seconds=off),
                )
                for a, off in zip(agents, offsets, strict=True)
            ],
            batch_size=2000,
        )
        for s in states:
            wakeups.schedule_wrap_up(s)  # on_commit: sent right after this block commits
    sent = db_now()
    deadlines = {s.agent_id: s.wrap_up_deadline for s in states}
    print(
        f"\n[{label}] {n} timers due from {start:%H:%M:%S.%f} over {spread:g} s; created and "
        f"wake-ups sent in {time.monotonic() - t_create:.1f} s"
        + ("" if sent < start else f" (LATE: {sent - start} after the first deadline)")
    )

    agent_ids = list(deadlines)
    last = max(deadlines.values())
    give_up = time.monotonic() + (last - db_now()).total_seconds() + timeout
    fired = 0
    while time.monotonic() < give_up:
        fired = StatusChange.objects.filter(agent_id__in=agent_ids, cause="wrap_up_timer").count()
        if fired >= n:
            break
        time.sleep(0.5)
    time.sleep(2)  # let any second (duplicate) firing land before counting
    rows = list(
        StatusChange.objects.filter(agent_id__in=agent_ids, cause="wrap_up_timer").values_list(
            "agent_id", "at", "request_id"
        )
    )
    per_agent = Counter(a for a, _, _ in rows)
    once = sum(1 for a in agent_ids if per_agent[a] == 1)
    twice = sum(1 for c in per_agent.values() if c > 1)
    first = {}
    for agent_id, at, rid in sorted(rows, key=lambda r: r[1]):
        first.setdefault(agent_id, (at, rid))
    late = sorted((at - deadlines[a]).total_seconds() for a, (at, _) in first.items())
    early = sum(1 for x in late if x < 0)
    paths = Counter(rid.split(":")[0] for _, rid in first.values())
    if late:
        print(
            f"[{label}] lateness p50 {common.percentile(late, 50) * 1000:.0f} ms, "
            f"p99 {common.percentile(late, 99) * 1000:.0f} ms, max {late[-1] * 1000:.0f} ms; "
            f"early {early}"
        )
    print(
        f"[{label}] fired exactly once: {once}/{n}; more than once: {twice}; never: "
        f"{n - len(per_agent)}; fired by wake-up {paths['timer']}, by sweeper {paths['sweep']}"
    )
    return once == n and early == 0


def ensure_bench_role() -> None:
    from cc_rules.models import Channel, Role, Rule, RulesVersion
    from cc_rules.reference_data import ensure_reference_data

    ensure_reference_data(Channel, RulesVersion)
    role, _ = Role.objects.get_or_create(name="bench", defaults={"label": "Benchmark agents"})
    role.visible_channels.set(Channel.objects.filter(code="voice"))
    for key, value in (("acw_enabled", True), ("acw_after_timer", "ready")):
        Rule.objects.update_or_create(
            scope="role", role=role, key=key, channel_id="voice", defaults={"value": value}
        )


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DB
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    broker_url = common.with_db(redis_url, args.redis_db)
    common.ensure_database(database_url)
    setup_django(database_url, broker_url)
    import redis

    redis.Redis.from_url(broker_url).flushdb()
    ensure_bench_role()
    print(f"database {urlsplit(database_url).path.lstrip('/')}, broker {broker_url}")

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "CC_SWEEP_INTERVAL": "1",
        "DEBUG": "off",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only"),
        "CC_HISTORY_KEY": os.environ.get(
            "CC_HISTORY_KEY", "bench-only-history-key-not-for-production-use"
        ),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    celery = Celery(env, workdir)
    ok = True
    try:
        celery.start()
        ok &= run("spread", args.n, args.spread, args.timeout)
        if not args.no_burst:
            ok &= run("burst", args.n, 1.0, args.timeout)
    finally:
        celery.stop()
        redis.Redis.from_url(broker_url).flushdb()
    print(f"\nworker and beat log: {celery.log}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
