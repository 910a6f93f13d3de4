"""Address look-up benchmark: ``GET /api/v103/addresses?postcode=`` on the 5 million sale
database of bench/valuation.py.

    python -m bench.addresses            (or: make bench-addresses)

1. Loads the database as bench/valuation.py does (fresh PostgreSQL database, every unit
   postcode, at least ``--rows`` replicated Price Paid sales, ``doorstep prices import``);
   ``--reuse`` keeps a database an earlier run loaded (brought up to date with
   ``doorstep db upgrade``).
2. Serves the API (``doorstep serve`` on ``--port``) and times ``--requests`` sequential
   look-ups of random postcodes that hold sales, after ``--warmup`` untimed ones: with a
   secret token, and with a publishable token from a listed origin (which also checks the
   origin and counts the client address). p50, p95, p99 as the client sees them.

Prints one JSON object and writes it to bench/results/addresses.json."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from bench.valuation import DOORSTEP, RESULTS, load, log, percentile, run_cli

ORIGIN = "https://www.bench-agency.example"


def sales_in_database(url: str) -> int:
    try:
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            return int(conn.execute("SELECT count(*) FROM sales").fetchone()[0])
    except psycopg.Error:
        return 0


def postcodes(url: str, seed: int, n: int = 20_000) -> list[str]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT DISTINCT postcode FROM sales WHERE postcode IS NOT NULL")
        found = [r[0] for r in rows]
    return random.Random(seed).sample(found, min(n, len(found)))


def timed(
    client: httpx.Client, targets: list[str], n: int, warmup: int, rnd: random.Random
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    homes: list[int] = []
    for i in range(warmup + n):
        postcode = rnd.choice(targets)
        t0 = time.perf_counter()
        r = client.get("/api/v103/addresses", params={"postcode": postcode})
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise SystemExit(f"look-up {i} ({postcode}): {r.status_code} {r.text}")
        if i >= warmup:
            latencies.append(elapsed)
            homes.append(r.json()["homes"])
    return latencies, homes


def summary(latencies: list[float], homes: list[int]) -> dict[str, Any]:
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "mean_ms": round(statistics.mean(latencies), 1),
        "homes_per_postcode_mean": round(statistics.mean(homes), 1),
        "homes_per_postcode_max": max(homes),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_addresses",
    )
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--port", type=int, default=8151)
    p.add_argument("--seed", type=int, default=20251126)
    p.add_argument("--reuse", action="store_true", help="Keep a database already loaded.")
    p.add_argument("--keep-file", action="store_true", help="Keep the generated PPD file.")
    args = p.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DOORSTEP_DATABASE_URL": args.database, "DOORSTEP_LOG_LEVEL": "WARNING"}
    result: dict[str, Any] = {"database": args.database.rsplit("/", 1)[1]}
    if args.reuse and sales_in_database(args.database):
        log("reusing the loaded database")
        subprocess.run([DOORSTEP, "db", "upgrade"], env=env, check=True, capture_output=True)
    else:
        load(args, env, result)
    result["sales"] = sales_in_database(args.database)
    targets = postcodes(args.database, args.seed)
    result["postcodes_sampled"] = len(targets)

    acc, _, _ = run_cli(env, "accounts", "create", "Bench Estates")
    secret, _, _ = run_cli(env, "tokens", "create", "--account", str(acc["id"]), "--name",
                           "bench", "--rate-limit", "0")  # fmt: skip
    public, _, _ = run_cli(env, "tokens", "create", "--account", str(acc["id"]), "--name",
                           "bench site", "--rate-limit", "0", "--publishable", "--origin",
                           ORIGIN, "--address-rate-limit", "0")  # fmt: skip
    log(f"serving on 127.0.0.1:{args.port}")
    server = subprocess.Popen(
        [DOORSTEP, "serve", "--host", "127.0.0.1", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        runs: dict[str, Callable[[], httpx.Client]] = {
            "secret_token": lambda: httpx.Client(
                base_url=base, headers={"X-API-KEY": secret["token"]}, timeout=30
            ),
            "publishable_token_from_its_origin": lambda: httpx.Client(
                base_url=base,
                headers={"X-API-KEY": public["token"], "Origin": ORIGIN},
                timeout=30,
            ),
        }
        for name, make in runs.items():
            with make() as c:
                for _ in range(100):
                    try:
                        if c.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.2)
                log(f"timing {args.requests} look-ups ({name})")
                rnd = random.Random(args.seed)
                result[name] = summary(*timed(c, targets, args.requests, args.warmup, rnd))
    finally:
        server.terminate()
        server.wait(timeout=30)
    (RESULTS / "addresses.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
