"""``make bench-windows``: creates from an empty, never-analysed database, window by window.

This machine's PostgreSQL runs with autovacuum off, so a new database is never analysed; a
young table, a bulk import or a paused autovacuum look the same to the planner. Doorstep's
create path must not slow down as the account's leads grow without statistics (issue 14 point
3): five consecutive windows (30 s each by default) of creates with varied bodies, each
window's throughput and the leads stored so far printed, the last window's throughput within
10% of the first. Nothing here runs ANALYZE; the report says whether anything else did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from bench import __main__ as core
from bench import bodies, load
from bench.databases import drop_database, fresh_database, libpq

TARGET = 0.9  # the last window's throughput over the first's


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.windows", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--windows", type=int, default=5, help="consecutive windows (5)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per window (30)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    p.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    p.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
        ),
        help="PostgreSQL server URL without a database name",
    )
    p.add_argument("--database", default="doorstep_bench_windows", help="database name")
    p.add_argument("--port", type=int, default=8310, help="Doorstep's port")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return p.parse_args(argv)


def stored(url: Any) -> tuple[int, bool]:
    """Leads stored, and whether the leads table was ever analysed (by anyone)."""
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM leads").fetchone()
        analysed = conn.execute(
            "SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL "
            "FROM pg_stat_user_tables WHERE relname = 'leads'"
        ).fetchone()
    return (int(row[0]) if row else 0), bool(analysed and analysed[0])


async def drive(target: load.Target, args: argparse.Namespace, url: Any) -> list[dict[str, Any]]:
    maker = bodies.BodyMaker(seed=7, tag=f"win{datetime.now(UTC):%H%M%S}")
    clients = load.Clients(target, args.clients)
    rows = []
    try:
        for w in range(args.windows):
            window_bodies = [orjson.dumps(maker.body()) for _ in range(40_000)]
            r = await clients.run(window_bodies, args.duration, ramp=1.0 if w == 0 else 0.0)
            leads, analysed = stored(url)
            row = {
                "window": w + 1,
                "throughput_rps": round(r.ok / r.elapsed_s, 1),
                "p50_ms": round(load.percentile(r.latencies_ms, 50), 2),
                "p99_ms": round(load.percentile(r.latencies_ms, 99), 2),
                "errors": sum(r.errors.values()),
                "leads_after": leads,
                "analysed": analysed,
                "loadavg": os.getloadavg()[0],
            }
            rows.append(row)
            print(
                f"  window {row['window']}: {row['throughput_rps']:>7.1f} req/s   "
                f"p50 {row['p50_ms']:>7.2f} ms   p99 {row['p99_ms']:>8.2f} ms   "
                f"errors {row['errors']:<4} leads {leads:>7,}   "
                f"{'ANALYSED' if analysed else 'never analysed'}   load {row['loadavg']:.1f}",
                flush=True,
            )
    finally:
        clients.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    core.RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = core.db_url(args.postgres, args.database)
    print(f"Setting up {url.database} (empty, never analysed) ...", flush=True)
    fresh_database(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
    env |= {
        "DOORSTEP_DATABASE_URL": url.render_as_string(hide_password=False),
        "DOORSTEP_ENVIRONMENT": "production",
        "DOORSTEP_SECRET_KEY": "bench-" + os.urandom(16).hex(),
    }
    token = core.set_up_doorstep(env)
    server = core.start(
        "doorstep",
        core.serve_command(args.port, args.workers),
        env,
        args.port,
        core.RESULTS / f"{stamp}-windows-doorstep.log",
    )
    target = load.Target("127.0.0.1", args.port, "/api/v103/leads", {"X-API-KEY": token})
    try:
        core.wait_ready(server, "/healthz")
        print(
            f"{args.windows} windows of {args.duration:g} s, {args.clients} clients, "
            f"{args.workers} workers, {os.cpu_count()} CPUs shared by everything",
            flush=True,
        )
        rows = asyncio.run(drive(target, args, url))
    finally:
        core.stop(server)
    ratio = rows[-1]["throughput_rps"] / max(rows[0]["throughput_rps"], 1e-9)
    within = ratio >= TARGET
    print(
        f"Last window {rows[-1]['throughput_rps']:.1f} req/s over the first "
        f"{rows[0]['throughput_rps']:.1f}: {ratio:.1%} (target >= {TARGET:.0%}): "
        f"{'met' if within else 'NOT met'}",
        flush=True,
    )
    out = core.RESULTS / f"{stamp}-windows.json"
    report = {
        "started": stamp,
        "parameters": vars(args),
        "machine": core.machine(),
        "windows": rows,
        "last_over_first": round(ratio, 3),
    }
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"Results: {out.relative_to(core.ROOT)}", flush=True)
    if not args.keep:
        drop_database(url)
    if not within:
        sys.exit(1)


if __name__ == "__main__":
    main()
