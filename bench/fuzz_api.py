#!/usr/bin/env python3
"""Nightly API fuzzing: schemathesis with many examples per operation (issue 7).

    .venv/bin/python bench/fuzz_api.py [--examples 200] [--callers agent,supervisor,compliance]
        [-k EXPR] [--workers N] [pytest args…]

Runs ``tests/api/test_schemathesis.py`` (the same checks CI runs: no 5xx, response schema
conformance, documented status codes only, as an agent, a supervisor and compliance) with
``CC_FUZZ_EXAMPLES`` examples per operation and caller, randomized rather than CI's
derandomized run, so every night explores new inputs. A failure prints the falsifying case as
a curl command and a Hypothesis blob to reproduce it.

Needs what the tests need: ``DATABASE_URL`` (PostgreSQL; default the one in settings) and a
Redis at ``REDIS_URL`` (IM and throttling). ``--workers N`` spreads operations over N pytest
workers (pytest-xdist). At 200 examples a run takes roughly 15-30 minutes on one worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/api/test_schemathesis.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="per operation and caller")
    parser.add_argument(
        "--callers", default="agent,supervisor,compliance", help="comma-separated subset"
    )
    parser.add_argument("-k", dest="keyword", help="pytest -k expression (e.g. 'interactions')")
    parser.add_argument("--workers", type=int, default=1, help="pytest-xdist workers")
    args, rest = parser.parse_known_args(argv)

    callers = [c.strip() for c in args.callers.split(",") if c.strip()]
    selection = " or ".join(f"-{caller}]" for caller in callers)
    keyword = f"({selection})" + (f" and ({args.keyword})" if args.keyword else "")
    env = {**os.environ, "CC_FUZZ_EXAMPLES": str(args.examples)}
    command = [sys.executable, "-m", "pytest", TEST, "-q", "-k", keyword, "-p", "no:cacheprovider"]
    if args.workers > 1:
        command += ["-n", str(args.workers)]
    command += rest
    print(f"schemathesis: {args.examples} examples per operation as {', '.join(callers)}")
    print(" ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
