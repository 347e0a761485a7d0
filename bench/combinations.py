#!/usr/bin/env python3
"""The rule-combination state machine at scale (issue 13): thousands of random rule sets and
event sequences through the services, every invariant checked after every step.

    .venv/bin/python bench/combinations.py [--examples 2000] [--steps 30] [--seed N]
        [pytest args…]

Runs ``tests/services/test_combination_machine.py`` (the machine lives in
``tests/combination_machine.py``; CI runs it derandomized with 25 examples) with
``CC_COMBO_EXAMPLES`` examples of up to ``CC_COMBO_STEPS`` steps, randomized (``--seed`` to
repeat a run), and prints one summary line: examples and steps run, time, pass or the failure.
A failure also prints hypothesis's shrunk step sequence and a blob to reproduce it.

Database: ``BENCH_DATABASE_URL``'s server (default ``postgres://postgres@127.0.0.1:5432``),
``cc_bench_combo`` with the test database ``test_cc_bench_combo`` made afresh by pytest-django;
Redis: ``REDIS_URL`` (default ``redis://127.0.0.1:6379/13``; the machine sends no wake-ups).
About 1.2 s per example on the 2-core VM: 2,000 examples take roughly 40 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import common

TEST = "tests/services/test_combination_machine.py"
DATABASE = "cc_bench_combo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=30, help="steps per example, at most")
    parser.add_argument("--seed", type=int, help="hypothesis seed (default: random)")
    args, rest = parser.parse_known_args(argv)

    url = common.database_url(DATABASE)
    common.ensure_database(url)
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as report:
        path = report.name
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TEST_DATABASE_NAME": f"test_{DATABASE}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CC_SEND_WAKEUPS": "off",
        "CC_COMBO_EXAMPLES": str(args.examples),
        "CC_COMBO_STEPS": str(args.steps),
        "CC_COMBO_REPORT": path,
        "DJANGO_SETTINGS_MODULE": "cc_rules.settings",
    }
    env.setdefault("CELERY_BROKER_URL", env["REDIS_URL"])
    command = [sys.executable, "-m", "pytest", TEST, "-q", "-x", "-p", "no:cacheprovider"]
    if args.seed is not None:
        command.append(f"--hypothesis-seed={args.seed}")
    command += rest
    print(f"combinations: {args.examples} examples of up to {args.steps} steps", flush=True)
    print(" ".join(command), flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=common.ROOT, env=env)
    elapsed = time.monotonic() - started
    try:
        with open(path) as found:
            summary = json.load(found)
    except (OSError, ValueError):
        summary = {"examples": 0, "steps": 0, "seconds": elapsed, "outcomes": {}}
    finally:
        os.unlink(path)
    examples = summary["examples"]
    print("\noutcomes (action: result, over all examples):")
    for text, count in sorted(summary["outcomes"].items()):
        print(f"  {count:7d}  {text}")
    per = summary["seconds"] / examples * 1000 if examples else 0
    verdict = "PASS" if code == 0 else "FAIL (see the falsifying example above)"
    print(
        f"\ncombinations: {examples} examples, {summary['steps']} steps, "
        f"{summary['seconds']:.0f} s in the machine ({per:.0f} ms/example), "
        f"{elapsed:.0f} s in all: {verdict}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
