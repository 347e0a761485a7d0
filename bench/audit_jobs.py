#!/usr/bin/env python3
"""Bench: verify 2,000,000 history rows as an audit job while the API keeps answering (issue 14).

    .venv/bin/python bench/audit_jobs.py [--rows 2000000] [--agents 1000] [--no-export]
        [--database-url postgres://postgres@127.0.0.1:5432/cc_bench_jobs]
        [--redis-url redis://127.0.0.1:6379/13]

Uses its own database (created if missing, migrated). The history is made fast but valid:
``--agents`` chains of ``rows / agents`` rows each, every hash computed with the project's own
``cc_rules.services.history.row_hash`` (so a change of the hash, e.g. to an HMAC, is followed),
and loaded with ``COPY``; re-runs reuse the rows when the count matches. Then it starts, as in
production: gunicorn (2 sync workers), the timer worker and beat (the default queue, 1 s
sweep) and the audit worker (``--queues audit``, one process); all on the Redis database of
``--redis-url`` (only its Celery keys are touched, nothing is flushed).

It measures ``GET /api/v1/me/`` latency (an agent's token, one request in flight) for a few
seconds with nothing else running, then asks for a verify job over the whole ledger through
``POST /api/v1/audit/verify/jobs/`` and keeps measuring until the job is done, polling the job
once a second for its progress; then the same for a CSV export job of every row (unless
``--no-export``). Prints the job's rows/s and the API's latency before and during each job,
the sweeps the timer worker ran meanwhile, and what ``GET /audit/verify/`` answers now (the
sync bound: 400 ``verify_too_large`` at once).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from bench.throughput import Gunicorn

T0 = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = (
    "seq, agent_id, channel_id, event, from_status, to_status, reason, cause, rule, actor_id, "
    "actor_name, request_id, interaction_id, at, prev_hash, hash"
)


class Row:
    """What ``row_hash`` reads of a ``StatusChange`` (attributes only; no model instance)."""

    __slots__ = (
        "actor_id",
        "actor_name",
        "agent_id",
        "at",
        "cause",
        "channel_id",
        "event",
        "from_status",
        "interaction_id",
        "prev_hash",
        "reason",
        "request_id",
        "rule",
        "seq",
        "to_status",
    )


def ensure_chains(rows: int, agents: int) -> None:
    """``agents`` valid hash chains of ``rows // agents`` rows each (COPY), chain heads set."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from cc_rules.models import Agent, Role, StatusChange
    from cc_rules.models.agents import GENESIS_HASH
    from cc_rules.services.history import row_hash

    per_agent = rows // agents
    User = get_user_model()
    role, _ = Role.objects.get_or_create(name="bench", defaults={"label": "Bench"})
    names = [f"chain{i:05d}" for i in range(agents)]
    have = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n) for n in names if n not in have])
    users = User.objects.filter(username__in=names, agent__isnull=True)
    Agent.objects.bulk_create([Agent(user=u, role=role) for u in users])
    ids = list(
        Agent.objects.filter(user__username__in=names).order_by("id").values_list("id", flat=True)
    )
    table = StatusChange._meta.db_table
    if StatusChange.objects.count() == per_agent * agents:
        print(f"reusing {per_agent * agents:,} history rows", flush=True)
        return
    started = time.perf_counter()
    heads: dict[int, str] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        # Only to reset the bench's own database: triggers off for the TRUNCATE (superuser;
        # the ledger's triggers refuse it otherwise, docs/audit.md).
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {table}")
        cursor.execute("SET LOCAL session_replication_role = origin")
        with cursor.cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
            row = Row()
            row.event, row.cause, row.rule = "status", "agent", "R2:status@global"
            row.actor_id, row.actor_name, row.interaction_id = None, "", None
            for n, agent_id in enumerate(ids):
                prev = GENESIS_HASH
                row.agent_id = agent_id
                for seq in range(1, per_agent + 1):
                    ready = seq % 2 == 0
                    row.seq = seq
                    row.channel_id = ("voice", "chat", "email")[seq % 3]
                    row.from_status = "not_ready" if ready else "ready"
                    row.to_status = "ready" if ready else "not_ready"
                    row.reason = "" if ready else "break"
                    row.request_id = f"bench-{n}-{seq}"
                    row.at = T0 + timedelta(seconds=seq * 30, milliseconds=n)
                    row.prev_hash = prev
                    prev = row_hash(row)
                    copy.write_row(
                        (
                            seq,
                            agent_id,
                            row.channel_id,
                            "status",
                            row.from_status,
                            row.to_status,
                            row.reason,
                            "agent",
                            row.rule,
                            None,
                            "",
                            row.request_id,
                            None,
                            row.at,
                            row.prev_hash,
                            prev,
                        )
                    )
                heads[agent_id] = prev
                if (n + 1) % 100 == 0:
                    print(f"  {(n + 1) * per_agent:,} rows …", flush=True)
        cursor.execute(
            f"""UPDATE {Agent._meta.db_table} AS a SET history_seq = %s, history_head = v.head
                FROM unnest(%s::bigint[], %s::text[]) AS v(id, head) WHERE a.id = v.id""",
            [per_agent, list(heads), list(heads.values())],
        )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"wrote {per_agent * agents:,} chained rows ({agents:,} agents) in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )


def tokens() -> tuple[str, str]:
    """An agent's token (for ``GET /me/``) and a compliance user's (for the jobs)."""
    from django.contrib.auth import get_user_model

    from cc_rules.permissions_setup import COMPLIANCE, ensure_groups
    from cc_rules.services import tokens as token_service

    common.seed_demo()
    agent = common.create_agents(1, "jobapi")[0]
    groups = ensure_groups()
    cora, _ = get_user_model().objects.get_or_create(username="bench_compliance")
    cora.groups.set([groups[COMPLIANCE]])
    _, secret = token_service.issue(cora, device="bench")
    return agent["token"], secret


class Probe(threading.Thread):
    """``GET /me/`` in a closed loop, one request in flight; latencies in ms, errors counted."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        import requests

        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.url = f"{base}/api/v1/me/"
        self.samples: list[tuple[float, float]] = []  # (monotonic start, ms)
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                ok = self.session.get(self.url, timeout=30).status_code == 200
            except Exception:
                ok = False
            if ok:
                self.samples.append((started, (time.monotonic() - started) * 1000))
            else:
                self.errors += 1
            time.sleep(0.01)

    def between(self, lo: float, hi: float) -> list[float]:
        return sorted(ms for at, ms in self.samples if lo <= at < hi)


def figures(ms: list[float]) -> str:
    if not ms:
        return "no samples"
    p = common.percentile
    return (
        f"{len(ms):5d} requests  p50 {p(ms, 50):6.1f}  p95 {p(ms, 95):6.1f}  "
        f"p99 {p(ms, 99):6.1f}  max {ms[-1]:7.1f} ms"
    )


def run_job(base: str, token: str, path: str, body: dict) -> dict:
    import requests

    headers = {"Authorization": f"Token {token}"}
    response = requests.post(f"{base}{path}", json=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    url = response.headers["Location"]
    last = ""
    while True:
        job = requests.get(url, headers=headers, timeout=30).json()
        line = f"  {job['state']:8s} {job['rows_done']:>10,} / {job['rows_total'] or 0:,}"
        if line != last:
            print(line, flush=True)
            last = line
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(1.0)


def seconds(job: dict, a: str, b: str) -> float:
    return (datetime.fromisoformat(job[b]) - datetime.fromisoformat(job[a])).total_seconds()


def sweeps_since(log: Path, offset: int) -> int:
    """Sweeps the timer worker finished since ``offset`` of its log (the log has no times)."""
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return len(re.findall(r"cc_rules\.sweep\[[^\]]*\] succeeded", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--before", type=float, default=10.0, help="seconds of baseline")
    parser.add_argument("--no-export", action="store_true", help="skip the CSV export job")
    parser.add_argument("--fill-only", action="store_true", help="build the ledger and stop")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_JOBS_DATABASE_URL", common.database_url("cc_bench_jobs")),
    )
    parser.add_argument(
        "--redis-url",
        default=common.with_db(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0", 13),
    )
    args = parser.parse_args()
    print(common.machine(), flush=True)
    common.ensure_database(args.database_url)
    common.setup_django(args.database_url, args.redis_url)
    ensure_chains(args.rows, args.agents)
    if args.fill_only:
        return
    agent_token, cora_token = tokens()
    from django.db import connection

    connection.close()

    import redis
    import requests

    redis.Redis.from_url(args.redis_url).delete("audit", "celery")  # stale messages of a past run
    workdir = Path(tempfile.mkdtemp(prefix="cc-audit-jobs-"))
    env = common.production_env(args.database_url, args.redis_url) | {
        "CC_AUDIT_EXPORT_DIR": str(workdir / "exports"),
        "CC_SWEEP_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    celery = str(Path(sys.executable).with_name("celery"))
    procs: dict[str, subprocess.Popen] = {}
    logs = {name: workdir / f"{name}.log" for name in ("worker", "audit", "beat")}
    argvs = {
        "worker": [celery, "-A", "cc_rules", "worker", "--concurrency", "2", "-l", "info"],
        "audit": [
            *(celery, "-A", "cc_rules", "worker", "--queues", "audit"),
            "-c",
            "1",
            "-l",
            "info",
        ],
        "beat": [celery, "-A", "cc_rules", "beat", "-l", "info", "-s", str(workdir / "schedule")],
    }
    web = Gunicorn(env, 2, workdir / "gunicorn.log")
    base = f"http://127.0.0.1:{web.port}"
    try:
        for name, argv in argvs.items():
            argv += ["--hostname", f"bench-{name}-{os.getpid()}@%h"] if name != "beat" else []
            with logs[name].open("ab") as out:
                procs[name] = subprocess.Popen(
                    argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        deadline = time.monotonic() + 120
        while not all(
            " ready." in logs[n].read_text(errors="replace") for n in ("worker", "audit")
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"a worker did not start; see {workdir}")
            time.sleep(0.5)

        probe = Probe(base, agent_token)
        probe.start()
        t0 = time.monotonic()
        time.sleep(args.before)
        baseline = probe.between(t0, time.monotonic())

        started = time.perf_counter()
        sync = requests.get(
            f"{base}/api/v1/audit/verify/",
            headers={"Authorization": f"Token {cora_token}"},
            timeout=60,
        )
        sync_ms = (time.perf_counter() - started) * 1000

        results = []
        jobs = [("verify", "/api/v1/audit/verify/jobs/", {})]
        if not args.no_export:
            jobs.append(("export", "/api/v1/audit/status-changes/jobs/", {}))
        for kind, path, body in jobs:
            print(f"{kind} job over the whole ledger:", flush=True)
            lo, offset = time.monotonic(), logs["worker"].stat().st_size
            job = run_job(base, cora_token, path, body)
            hi = time.monotonic()
            results.append(
                (
                    kind,
                    job,
                    probe.between(lo, hi),
                    sweeps_since(logs["worker"], offset),
                    hi - lo,
                )
            )
        probe.stop.set()
        probe.join()
    finally:
        web.stop()
        for proc in procs.values():
            try:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=20)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)

    print("\n=== audit jobs ===")
    print(f"ledger:             {args.rows:,} rows, {args.agents:,} agents (valid chains)")
    print(f"GET /audit/verify/: {sync.status_code} {sync.json().get('code')} in {sync_ms:.0f} ms")
    print(f"GET /me/ before:    {figures(baseline)}")
    for kind, job, during, sweeps, span in results:
        run = seconds(job, "started_at", "finished_at")
        queued = seconds(job, "created_at", "started_at")
        rows = job["rows_done"]
        print(
            f"{kind} job:         {job['state']}, {rows:,} rows in {run:.1f} s "
            f"({rows / run:,.0f} rows/s; {queued:.1f} s queued); result {job['result']}"
        )
        print(f"GET /me/ during:    {figures(during)}")
        print(f"sweeps meanwhile:   {sweeps} in {span:.0f} s (beat sends one a second)")
    print(f"API errors:         {probe.errors}")
    print(f"logs:               {workdir}")


if __name__ == "__main__":
    main()
