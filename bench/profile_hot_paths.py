"""Profile the hot paths with pyinstrument, in this process (issue 8, "profile and fix").

    .venv/bin/python bench/profile_hot_paths.py [--rounds 300] [--path toggle|cycle|both]
        [--html DIR]

Against ``cc_bench_small`` (bench/README.md), with the production settings and Django's test
client: a new blended agent, logged in and ready on chat, runs ``--rounds`` status toggles
(not_ready / ready) and ``--rounds`` interaction cycles (offer by the router → accept → end →
done). Prints the time per request of each path and pyinstrument's call tree (frames under 2 %
hidden); ``--html`` also writes an interactive page per path. Everything but the HTTP server is
in the profile: middleware, authentication, throttles (Redis), the service, SQL round trips.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

PATHS = {
    "toggle": ("status change",),
    "cycle": ("offer", "accept", "end", "done"),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--path", choices=[*PATHS, "both"], default="both")
    p.add_argument("--html", type=Path, help="also write pyinstrument HTML pages here")
    args = p.parse_args()

    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    from bench.hot_paths import measured_session

    sess = measured_session(common.SMALL, "prof")
    print(f"profile — {common.machine()}")

    for name, steps in PATHS.items():
        if args.path not in (name, "both"):
            continue
        for _ in range(20):  # warm-up: caches, connections, imports
            for step in steps:
                sess.step(step)
                sess.settle(step, lambda u: "")
        profiler = Profiler(interval=0.0005)
        requests = 0
        started = time.perf_counter()
        for _ in range(args.rounds):
            for step in steps:
                profiler.start()
                sess.step(step)
                profiler.stop()
                requests += 1
                sess.settle(step, lambda u: "")
        seconds = time.perf_counter() - started
        session = profiler.last_session
        per_request = session.duration / requests * 1000 if session else float("nan")
        print(
            f"\n== {name}: {requests} requests, {per_request:.2f} ms per request in the profile "
            f"({seconds:.1f} s wall with the untimed clean-up) =="
        )
        renderer = ConsoleRenderer(
            unicode=True,
            color=False,
            time="percent_of_total",
            processor_options={"filter_threshold": 0.02},
        )
        print(renderer.render(session))
        if args.html:
            args.html.mkdir(parents=True, exist_ok=True)
            page = args.html / f"{name}.html"
            page.write_text(profiler.output_html())
            print(f"(html: {page})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
