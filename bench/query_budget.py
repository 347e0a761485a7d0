"""SQL queries per hot-path request, with an empty history and with a large one (issue 8).

    .venv/bin/python bench/query_budget.py [--reps 5] [--show-sql]

Two databases on the benchmark server (``BENCH_DATABASE_URL``, see bench/README.md):

- ``cc_bench_small``: the demo plus 10 demo-like agents, no history (made afresh every run);
- ``cc_bench_scale``: the demo plus 10,000 demo-like agents, all logged in and ready on their
  work channel, 1,000 of them with 1,000 history rows each over 30 days (1,000,000 rows).
  Built on first use (about a minute), reused afterwards.

In each, a new blended agent logs in, goes ready on chat, and runs the hot-path steps of
``bench/hot_paths.py`` (GET /me/, a status change, an offer decision, an offer, accept, end,
done, and a routed offer) once to warm up and then ``--reps`` times, through Django's test client
with the production settings; every SQL statement is counted. Each database runs in its own
process. The figures must be equal per step (exit status 1 otherwise): nothing on the hot path
grows with history or with the number of agents. ``tests/api/test_query_budget.py`` holds the
same budgets as a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.hot_paths import STEPS


def measure(db: dict, reps: int) -> dict:
    """In this process: set up ``db`` and count the queries of each step, ``reps`` times."""
    from bench.hot_paths import counting, measured_session, token_of

    sess = measured_session(db, "qb")  # sets Django up: models import after it
    from cc_rules.models import Agent, StatusChange

    counts: dict[str, list[int]] = {name: [] for name in STEPS}
    sql: dict[str, list[str]] = {}
    for rep in range(reps + 1):  # the first round warms caches up and is not counted
        for name in STEPS:
            with counting() as statements:
                sess.step(name)
            if rep:
                counts[name].append(len(statements()))
                sql[name] = statements()
            sess.settle(name, token_of)
    return {
        "history_rows": StatusChange.objects.count(),
        "agents": Agent.objects.count(),
        "counts": counts,
        "sql": sql,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--show-sql", action="store_true", help="print each step's statements")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        common.child_result(measure(common.database_named(args.child), args.reps))
        return 0

    print(f"query budget — {common.machine()}", flush=True)
    small, large = common.in_each_database(__file__, ["--reps", str(args.reps)])
    print(
        f"\n{'step':<16} {'queries, empty':>16} {'queries, large':>16}  flat\n"
        f"{'':<16} {small['agents']:>9,} agents {large['agents']:>9,} agents\n"
        f"{'':<16} {small['history_rows']:>10,} rows {large['history_rows']:>10,} rows"
    )
    flat = True
    for name in STEPS:
        a, b = small["counts"][name], large["counts"][name]
        same = len(set(a) | set(b)) == 1
        flat &= same
        show = lambda xs: str(xs[0]) if len(set(xs)) == 1 else "/".join(map(str, xs))  # noqa: E731
        print(f"{name:<16} {show(a):>16} {show(b):>16}  {'yes' if same else 'NO'}")
        if args.show_sql:
            for statement in large["sql"][name]:
                print(f"    {statement[:160]}")
    print("\nflat from empty to large history: " + ("yes" if flat else "NO"))
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
