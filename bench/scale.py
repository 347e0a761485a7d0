"""Scale: hot-path latency with 10 agents vs 10,000 agents and 1,000,000 history rows, and the
time-in-status report for 1,000 agents over 30 days (issue 8).

    .venv/bin/python bench/scale.py [--n 1000]

Same two databases as ``query_budget.py`` (``cc_bench_small``: the demo plus 10 agents, made
afresh; ``cc_bench_scale``: 10,000 agents all ready, 1,000 of them with 1,000 rows each over 30
days). In each, in its own process, through Django's test client with the production settings:

1. the offer decision (``POST /decisions/offer/`` by the router for a ready agent): ``--n``
   timed calls after 50 untimed ones; p50, p99 and mean;
2. the routed offer (``POST /interactions/`` without an agent: the engine picks the
   longest-ready eligible agent among all of them; the chosen agent then works it through,
   untimed): ``--n`` / 5 timed calls;

and prints the large/small ratio of each. Then, in the large database, times
``GET /audit/time-in-status/?since=…&until=…`` as the compliance user over the 30 days that
hold the 1,000 agents' history (three runs; the rows it returns and the rows it read).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)


def summary(ms: list[float]) -> dict:
    return {
        "n": len(ms),
        "p50": common.percentile(ms, 50),
        "p99": common.percentile(ms, 99),
        "mean": statistics.fmean(ms),
    }


def measure(db: dict, n: int) -> dict:
    from bench.hot_paths import measured_session, token_of

    sess = measured_session(db, "sc")  # sets Django up: models import after it
    from rest_framework.test import APIClient

    from cc_rules.models import Agent, StatusChange

    def routed() -> None:
        sess.step("routed offer")

    def settle() -> None:
        sess.settle("routed offer", token_of)

    for _ in range(50):
        sess.step("offer decision")
    decision = timed(lambda: sess.step("offer decision"), n)
    route_ms = []
    for _ in range(max(10, n // 5)):
        t0 = time.perf_counter()
        routed()
        route_ms.append((time.perf_counter() - t0) * 1000)
        settle()
    result = {
        "agents": Agent.objects.count(),
        "history_rows": StatusChange.objects.count(),
        "offer decision": summary(decision),
        "routed offer": summary(sorted(route_ms)),
    }
    if db["history_agents"]:
        auditor = APIClient()
        auditor.credentials(HTTP_AUTHORIZATION=f"Token {token_of('cora')}")
        first = StatusChange.objects.order_by("at").values_list("at", flat=True).first()
        since = first.replace(microsecond=0)
        until = since + timedelta(days=30, hours=1)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            response = auditor.get(
                "/api/v1/audit/time-in-status/",
                {"since": since.isoformat(), "until": until.isoformat()},
            )
            runs.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.content[:300]
        body = response.json()
        rows = body if isinstance(body, list) else body.get("results", body)
        window = StatusChange.objects.filter(at__gte=since, at__lt=until)
        result["time-in-status"] = {
            "seconds": runs,
            "report_rows": len(rows),
            "agents": len({r["agent"] for r in rows}),
            "history_rows_in_window": window.count(),
            "since": since.isoformat(),
            "until": until.isoformat(),
        }
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="timed offer decisions per database")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        common.child_result(measure(common.database_named(args.child), args.n))
        return 0

    print(f"scale — {common.machine()}", flush=True)
    small, large = common.in_each_database(__file__, ["--n", str(args.n)])
    print(
        f"\n{'':<16} {small['agents']:>7,} agents, {small['history_rows']:>9,} rows   "
        f"{large['agents']:>7,} agents, {large['history_rows']:>9,} rows   ratio (p50)"
    )
    for name in ("offer decision", "routed offer"):
        a, b = small[name], large[name]
        print(
            f"{name:<16} p50 {a['p50']:6.2f} ms  p99 {a['p99']:6.2f} ms        "
            f"p50 {b['p50']:6.2f} ms  p99 {b['p99']:6.2f} ms        {b['p50'] / a['p50']:.2f}"
        )
    tis = large["time-in-status"]
    runs = ", ".join(f"{s:.2f}" for s in tis["seconds"])
    print(
        f"\ntime-in-status, {tis['agents']:,} agents over 30 days ({tis['since'][:10]} to "
        f"{tis['until'][:10]}; {tis['history_rows_in_window']:,} history rows): {runs} s "
        f"(best {min(tis['seconds']):.2f} s), {tis['report_rows']:,} report rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
