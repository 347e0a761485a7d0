"""Throughput of the hot paths over HTTP, as ratios to a one-row baseline, in one run (issue 8).

    .venv/bin/python bench/throughput.py [--agents 1000] [--seconds 20] [--concurrency 8]

Starts gunicorn (``--workers 2`` sync workers, production settings: DEBUG off, persistent
database connections) on a free local port against a fresh PostgreSQL database
``cc_bench_load`` and Redis (``REDIS_URL``'s server, database ``--redis-db``, default 14,
flushed), with ``bench/settings.py`` (the API plus the bench-only baseline endpoint). The
database holds the demo plus ``--agents`` demo-like agents (the demo's roles in the demo's
proportions), each logged in and ready on its work channel. An asyncio load generator (aiohttp)
on the same machine keeps ``--concurrency`` requests in flight, each worker with its own share
of the agents, for ``--seconds`` per scenario after a warm-up of ``--warmup`` seconds, the three
scenarios taking turns ``--rounds`` times (the machine's speed drifts over minutes; a ratio is
taken within a round, and the median over rounds is reported):

(c) baseline: ``POST /bench/baseline/`` as an agent: token authentication, permission, the
    write throttle, JSON parsing and validation, one INSERT in a transaction, a 201 (the
    cheapest authenticated DRF endpoint that writes one row);
(a) status toggles: ``PUT /me/channels/{channel}/status/``, not_ready (reason break) and ready
    in turn, each agent its own;
(b) interaction cycles: the router offers the agent's channel to the agent, who accepts, ends
    and marks it done (4 requests; 1 by the router). The demo's voice agents are left out: their
    calls end in a 10 s wrap-up, and the bench would measure that timer, not the engine.

Prints each round's rates and ratios, then over all rounds: requests/s, p50/p99/max latency per
request (and per cycle), errors, the CPU milliseconds each process group (web workers,
PostgreSQL, Redis, this load generator; read from /proc) spent per request or cycle, and the
median ratios (a)/(c) and (b)/(c), where (b) counts cycles per second. Targets (issue 8):
(a)/(c) >= 0.5, (b)/(c) >= 0.15. No Celery worker runs: the offer expiry wake-ups are published
to Redis (their cost is in (b)) but nobody consumes them during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "cc_bench_load"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(agents: int, broker_url: str) -> tuple[list[dict], str, int]:
    """A fresh database with the demo and ``agents`` agents ready; the router's token and the
    id of a contact."""
    url = common.database_url(DB)
    common.ensure_database(url, fresh=True)
    common.setup_django(url, broker_url)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bench.urls import CREATE_TABLE
    from cc_rules.models import ApiToken, Contact

    rows = common.ensure_population(agents, 0, 0)
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
    router = get_user_model().objects.get(username="router")
    _, router_token = ApiToken.issue(router, device="bench")
    contact = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    connection.close()
    return rows, router_token, contact


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = free_port()
        self.log = log
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        argv = [
            *(gunicorn, "cc_rules.wsgi:application", "--workers", str(workers)),
            *("--bind", f"127.0.0.1:{self.port}", "--chdir", str(common.ROOT)),
            *("--backlog", "2048", "--timeout", "60"),
        ]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start; see {log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the web workers, PostgreSQL, Redis and this load generator
    (``/proc``; Linux), to show where a scenario's time goes."""
    tick = os.sysconf("SC_CLK_TCK")
    out = dict.fromkeys(("web", "postgres", "redis", "client"), 0.0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(proc.name) == os.getpid():
            out["client"] += used
        elif b"gunicorn" in cmd:
            out["web"] += used
        elif comm.startswith("postgres") or cmd.startswith(b"postgres"):
            out["postgres"] += used
        elif comm.startswith("redis-server"):
            out["redis"] += used
    return out


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds per request
        self.units: list[float] = []  # seconds per unit of work (a request, or a cycle)
        self.errors: list[str] = []


async def run_scenario(name, base, agents, router, contact, concurrency, warmup, seconds):
    """Drive one scenario; return (Stats, measured seconds)."""
    import aiohttp

    stats = Stats()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    shares = [agents[i::concurrency] for i in range(concurrency)]

    async def call(session, method, path, token, body):
        t0 = time.perf_counter()
        async with session.request(
            method,
            base + path,
            data=json.dumps(body),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        ) as response:
            payload = await response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} → {response.status} {payload[:200]!r}")
        t1 = time.perf_counter()
        if t0 >= measure_from and t1 <= stop_at:
            stats.latencies.append(t1 - t0)
        return json.loads(payload)

    async def worker(share):
        connector = aiohttp.TCPConnector(limit=1)
        toggled = dict.fromkeys((a["id"] for a in share), False)
        async with aiohttp.ClientSession(connector=connector) as session:
            i = 0
            while time.perf_counter() < stop_at:
                agent = share[i % len(share)]
                i += 1
                t0 = time.perf_counter()
                try:
                    if name == "baseline":
                        await call(
                            session, "POST", "/bench/baseline/", agent["token"], {"note": "x"}
                        )
                    elif name == "toggle":
                        toggled[agent["id"]] = not toggled[agent["id"]]
                        body = (
                            {"status": "not_ready", "reason": "break"}
                            if toggled[agent["id"]]
                            else {"status": "ready"}
                        )
                        path = f"/api/v1/me/channels/{agent['channel']}/status/"
                        await call(session, "PUT", path, agent["token"], body)
                    else:
                        offer = {
                            "channel": agent["channel"],
                            "contact": contact,
                            "direction": "inbound",
                            "agent": agent["username"],
                        }
                        pk = (await call(session, "POST", "/api/v1/interactions/", router, offer))[
                            "id"
                        ]
                        how = "chat_ended" if agent["channel"] == "chat" else "sent"
                        for action, body in (("accept", {}), ("end", {"how": how}), ("done", {})):
                            path = f"/api/v1/interactions/{pk}/{action}/"
                            await call(session, "POST", path, agent["token"], body)
                except (RuntimeError, aiohttp.ClientError) as exc:
                    stats.errors.append(str(exc))
                    continue
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop_at:
                    stats.units.append(t1 - t0)
            for agent in share:  # after the clock: every agent ready again for the next scenario
                if toggled[agent["id"]]:
                    path = f"/api/v1/me/channels/{agent['channel']}/status/"
                    await call(session, "PUT", path, agent["token"], {"status": "ready"})

    await asyncio.gather(*(worker(share) for share in shares if share))
    return stats, seconds


def report(label: str, stats: Stats, seconds: float, unit: str) -> float:
    lat = sorted(stats.latencies)
    units = sorted(stats.units)
    rps = len(lat) / seconds
    ups = len(units) / seconds
    ms = lambda xs, p: common.percentile(xs, p) * 1000 if xs else float("nan")  # noqa: E731
    line = (
        f"{label:<22} {rps:8.1f} req/s  p50 {ms(lat, 50):6.1f} ms  p99 {ms(lat, 99):6.1f} ms  "
        f"max {(lat[-1] * 1000 if lat else 0):6.1f} ms  errors {len(stats.errors)}"
    )
    if unit != "request":
        line += (
            f"\n{'':<22} {ups:8.1f} {unit}s/s  p50 {ms(units, 50):6.1f} ms  "
            f"p99 {ms(units, 99):6.1f} ms"
        )
    print(line, flush=True)
    for error in stats.errors[:3]:
        print(f"    {error}")
    return ups


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per scenario")
    p.add_argument("--rounds", type=int, default=3, help="times the scenarios take turns")
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--redis-db", type=int, default=14)
    args = p.parse_args()

    broker = common.with_db(
        os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0", args.redis_db
    )
    import redis

    redis.Redis.from_url(broker).flushdb()
    print(f"throughput — {common.machine()}", flush=True)
    t = time.perf_counter()
    agents, router, contact = prepare(args.agents, broker)
    print(f"database {DB}: demo + {len(agents):,} agents ready ({time.perf_counter() - t:.0f} s)")
    cycling = [a for a in agents if a["role"] != "voice_only"]
    env = {
        **os.environ,
        **common.production_env(common.database_url(DB), broker),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "CONN_MAX_AGE": "600",
    }
    log = Path(tempfile.mkdtemp(prefix="cc-throughput-")) / "gunicorn.log"
    server = Gunicorn(env, args.workers, log)
    base = f"http://127.0.0.1:{server.port}"
    print(
        f"gunicorn: {args.workers} sync workers on {base}; load: {args.concurrency} in flight, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s per scenario, {args.rounds} rounds\n",
        flush=True,
    )
    scenarios = (
        ("baseline", "(c) baseline", agents, "request"),
        ("toggle", "(a) status toggle", agents, "request"),
        ("cycle", "(b) interaction cycle", cycling, "cycle"),
    )
    # The three scenarios take turns, --rounds times: this machine's speed drifts by tens of
    # per cent over minutes, and a ratio is only fair between runs that saw the same machine.
    pooled = {name: Stats() for name, *_ in scenarios}
    cpu = {name: dict.fromkeys(("web", "postgres", "redis", "client"), 0.0) for name in pooled}
    ratios: list[tuple[float, float]] = []
    try:
        for round_no in range(1, args.rounds + 1):
            rate = {}
            for name, _label, pool, _unit in scenarios:
                before = cpu_seconds()
                stats, seconds = asyncio.run(
                    run_scenario(
                        name,
                        base,
                        pool,
                        router,
                        contact,
                        args.concurrency,
                        args.warmup,
                        args.seconds,
                    )
                )
                after = cpu_seconds()
                # CPU over the whole run, warm-up included, scaled to the measured window
                scale = seconds / (args.warmup + seconds)
                for k in after:
                    cpu[name][k] += (after[k] - before[k]) * scale
                rate[name] = len(stats.units) / seconds
                for field in ("latencies", "units", "errors"):
                    getattr(pooled[name], field).extend(getattr(stats, field))
            ratios.append((rate["toggle"] / rate["baseline"], rate["cycle"] / rate["baseline"]))
            print(
                f"round {round_no}: baseline {rate['baseline']:.1f} req/s, toggle "
                f"{rate['toggle']:.1f} req/s, cycle {rate['cycle']:.1f} cycles/s; "
                f"(a)/(c) {ratios[-1][0]:.2f}, (b)/(c) {ratios[-1][1]:.2f}",
                flush=True,
            )
    finally:
        server.stop()
        redis.Redis.from_url(broker).flushdb()
    total = args.rounds * args.seconds
    print(f"\nall rounds ({total:g} s per scenario):")
    for name, label, _pool, unit in scenarios:
        report(label, pooled[name], total, unit)
        done = len(pooled[name].units)
        if done:
            per = "  ".join(f"{k} {v / done * 1000:.1f}" for k, v in cpu[name].items())
            print(f"{'':<22} CPU ms per {unit}: {per}", flush=True)
    a = statistics.median(r[0] for r in ratios)
    b = statistics.median(r[1] for r in ratios)
    print(
        f"\n(a)/(c) status toggle / baseline      = {a:.2f}  (median of {len(ratios)} rounds; "
        f"target >= 0.5)"
        f"\n(b)/(c) interaction cycle / baseline  = {b:.2f}  (median of {len(ratios)} rounds; "
        f"target >= 0.15)"
        f"\ngunicorn log: {log}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
