#!/usr/bin/env python3
"""Bench: export 1,000,000 status-history rows as CSV in constant memory (issues 6 and 14).

    .venv/bin/python bench/export_csv.py [--rows 1000000] [--agents 1000]
        [--database-url postgres://postgres@127.0.0.1:5432/cc_bench_audit] [--max-rss-mb 200]

Uses its own database (created if missing, migrated), never the development one. The rows are
made in one ``INSERT … SELECT generate_series`` (a year of history for ``--agents`` agents);
their hashes are placeholders, so ``verify_history`` would rightly call this ledger broken —
the bench measures the export, not the chain. Re-runs reuse the rows when the count matches.

``GET /api/v1/audit/status-changes/?format=csv`` answers within one request only up to
``CC_AUDIT_CSV_MAX_ROWS`` rows (issue 14): the bench times one agent's CSV through Django's
test client and checks that the whole ledger is refused at once (400 ``export_too_large``).
The whole ledger is then exported the way it is meant to be: an export job, run in this process
by the task's body (``audit_jobs.run``), writing its file; it prints rows exported, seconds,
throughput and the process's peak RSS (``VmHWM``), which must stay under ``--max-rss-mb``. Also
times a one-day time-in-status report over the same ledger.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common


def ensure_rows(rows: int, agents: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from cc_rules.models import Agent, Role, StatusChange

    call_command("migrate", verbosity=0)
    User = get_user_model()
    role, _ = Role.objects.get_or_create(name="bench", defaults={"label": "Bench"})
    have = set(User.objects.filter(username__startswith="bench").values_list("username", flat=True))
    names = [f"bench{i:05d}" for i in range(agents)]
    User.objects.bulk_create([User(username=n) for n in names if n not in have])
    users = User.objects.filter(username__in=names).exclude(agent__isnull=False)
    Agent.objects.bulk_create([Agent(user=u, role=role) for u in users])
    agent_ids = list(
        Agent.objects.filter(user__username__in=names).order_by("id").values_list("id", flat=True)
    )
    if StatusChange.objects.count() == rows:
        print(f"reusing {rows:,} rows")
        return agent_ids
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # the bench's own database, as its superuser: triggers skipped (docs/audit.md)
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {StatusChange._meta.db_table}")
        cursor.execute("SET LOCAL session_replication_role = origin")
        cursor.execute(
            f"""
            INSERT INTO {StatusChange._meta.db_table}
                (seq, agent_id, channel_id, event, from_status, to_status, reason, cause, rule,
                 actor_id, actor_name, request_id, interaction_id, at, prev_hash, hash)
            SELECT (g - 1) / %(n)s + 1,
                   (%(ids)s::bigint[])[((g - 1) %% %(n)s) + 1],
                   (ARRAY['voice', 'chat', 'email'])[(g %% 3) + 1],
                   'status',
                   (ARRAY['ready', 'not_ready', 'after_call_work'])[(g %% 3) + 1],
                   (ARRAY['not_ready', 'after_call_work', 'ready'])[(g %% 3) + 1],
                   CASE WHEN g %% 3 = 0 THEN 'break' ELSE '' END,
                   (ARRAY['agent', 'wrap_up_timer', 'after_done'])[(g %% 3) + 1],
                   'R2 rule #' || (g %% 40),
                   NULL, '', substr(md5(g::text), 1, 16), NULL,
                   timestamptz '2025-01-01 00:00:00+00' + g * interval '31.536 seconds',
                   repeat('0', 64),
                   md5(g::text) || md5((g + 1)::text)
            FROM generate_series(1, %(rows)s) AS g
            """,
            {"n": len(agent_ids), "ids": agent_ids, "rows": rows},
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {StatusChange._meta.db_table}")
    print(
        f"inserted {rows:,} rows for {len(agent_ids):,} agents in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return agent_ids


def export(expected: int, max_rss_mb: float) -> None:
    import tempfile
    from pathlib import Path

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from cc_rules.models import AuditJob
    from cc_rules.permissions_setup import COMPLIANCE, ensure_groups
    from cc_rules.services import audit_jobs

    groups = ensure_groups()
    cora, _ = get_user_model().objects.get_or_create(
        username="bench_compliance", defaults={"is_staff": True}
    )
    cora.groups.set([groups[COMPLIANCE]])
    client = Client()
    client.force_login(cora)

    url = "/api/v1/audit/status-changes/?format=csv"
    started = time.perf_counter()
    response = client.get(url + "&agent=bench00000")
    assert response.status_code == 200, response.status_code
    one = b"".join(response.streaming_content).count(b"\n") - 1
    one_s = time.perf_counter() - started
    started = time.perf_counter()
    refused = client.get(url)
    refused_ms = (time.perf_counter() - started) * 1000
    assert refused.status_code == 400, refused.status_code
    print(
        f"one agent's CSV: {one:,} rows in {one_s:.2f} s (sync, bound "
        f"{settings.CC_AUDIT_CSV_MAX_ROWS:,} rows)"
    )
    print(f"whole ledger:    {refused.status_code} {refused.json()['code']} in {refused_ms:.0f} ms")

    settings.CC_AUDIT_EXPORT_DIR = Path(tempfile.mkdtemp(prefix="cc-export-bench-"))
    job = AuditJob.objects.create(kind=AuditJob.Kind.EXPORT, parameters={}, requested_by=cora)
    before = common.rss_mb("VmRSS")
    peak_before = common.rss_mb("VmHWM")
    started = time.perf_counter()
    assert audit_jobs.run(job.pk) == "done"
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    path = audit_jobs.export_path(job)
    with path.open("rb") as f:
        first = f.readline()
    exported = job.result["rows"]
    peak = common.rss_mb("VmHWM")
    print(f"header:          {first.decode().strip()}")
    print(f"rows exported:   {exported:,} (export job, run in this process)")
    print(f"bytes:           {job.result['bytes'] / 1e6:,.1f} MB of CSV")
    print(f"seconds:         {seconds:.1f}  ({exported / seconds:,.0f} rows/s)")
    print(f"RSS before:      {before:.1f} MB (peak so far {peak_before:.1f} MB)")
    print(f"peak RSS:        {peak:.1f} MB (VmHWM of this process, limit {max_rss_mb:.0f} MB)")
    path.unlink()
    assert exported == expected, f"exported {exported} rows, expected {expected}"
    assert peak < max_rss_mb, f"peak RSS {peak:.1f} MB is over {max_rss_mb} MB"


def time_in_status_day() -> None:
    from datetime import UTC, datetime, timedelta

    from cc_rules.services.audit import time_in_status

    since = datetime(2025, 6, 1, tzinfo=UTC)
    started = time.perf_counter()
    rows = time_in_status(since=since, until=since + timedelta(days=1))
    print(
        f"time in status:  one day, all agents: {len(rows):,} entries in "
        f"{time.perf_counter() - started:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cc_bench_audit"
        ),
    )
    parser.add_argument("--max-rss-mb", type=float, default=200.0)
    args = parser.parse_args()
    common.ensure_database(args.database_url)
    common.setup_django(args.database_url, migrate=False)
    ensure_rows(args.rows, args.agents)
    export(args.rows, args.max_rss_mb)
    time_in_status_day()


if __name__ == "__main__":
    main()
