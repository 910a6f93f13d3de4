"""Instant-valuation benchmark: 5 million sales in PostgreSQL, then 1,000 valuation requests.

    python -m bench.valuation            (or: make bench-valuation)

1. Creates a fresh PostgreSQL database (``--database``, default ``doorstep_bench_valuation`` on
   127.0.0.1) and imports every unit postcode of ``../shared/data/geo`` (NSPL May 2025).
2. Writes a bulk Price Paid Data file of at least ``--rows`` sales: the three real samples in
   ``../shared/data/price-paid`` replayed onto other real districts. Each replica keeps a
   sample's prices, dates, property types, tenures and categories row for row, and moves each
   of its sectors onto a sector of the target district and each unit postcode onto a real unit
   of that sector, so local price distributions and density stay those of real data.
3. Imports it with ``doorstep prices import`` in a child process (import rows/s, index and
   calibration time, peak memory of the importer).
4. Serves the API (``doorstep serve`` on ``--port``) and times ``--requests`` sequential
   ``POST /api/v103/leads/valuation`` calls at random postcodes of the replicated districts,
   after ``--warmup`` untimed ones: p50, p95, p99 latency as the client sees it.

Prints one JSON object and writes it to bench/results/valuation.json."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.databases import fresh_database

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SAMPLES = [
    "pp_london_sw19_2010-2018.csv.gz",
    "pp_greater_manchester_2019.csv.gz",
    "pp_newcastle_ne_2022.csv.gz",
]
UNITS = SHARED / "geo" / "uk_postcode_units_nspl_may2025.csv.gz"
RESULTS = ROOT / "bench" / "results"
DOORSTEP = str(Path(sys.executable).parent / "doorstep")
TYPES = ["detached", "semi-detached", "terraced", "flat-maisonette", None]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM). Read from /proc because ru_maxrss
    of a forked child still counts the parent's pages it had before exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_cli(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float, int]:
    """Run a doorstep command with --json; (its output, seconds, peak RSS in KiB)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen([DOORSTEP, *args, "--json"], env=env, stdout=out_f, stderr=err_f)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _high_water_kib(proc.pid))
            time.sleep(0.2)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read().decode(), err_f.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"doorstep {' '.join(args)} failed:\n{err}")
    return json.loads(out), time.perf_counter() - started, peak


def units_by_sector() -> dict[str, list[str]]:
    by: dict[str, list[str]] = defaultdict(list)
    with gzip.open(UNITS, "rt", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for pc, lat, _lon in reader:
            if lat and " " in pc:
                by[pc[:-2]].append(pc)
    return by


def generate(path: Path, target_rows: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    samples = []
    for name in SAMPLES:
        with gzip.open(SHARED / "price-paid" / name, "rt", encoding="utf-8") as f:
            samples.append(list(csv.reader(f)))
    sectors = units_by_sector()
    districts: dict[str, list[str]] = defaultdict(list)
    for sector, units in sectors.items():
        if len(units) >= 20:
            districts[sector.split()[0]].append(sector)
    # Districts with enough sectors to take a sample's, anywhere in Great Britain.
    pool = sorted(d for d, s in districts.items() if len(s) >= 4 and d[:2] not in ("BT", "GY"))
    rnd.shuffle(pool)
    written = replicas = 0
    targets: list[str] = []
    n = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1, newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        while written < target_rows:
            rows = samples[replicas % len(samples)]
            district = pool[replicas % len(pool)]
            replicas += 1
            mine = districts[district]
            sector_map: dict[str, str] = {}
            unit_map: dict[str, str] = {}
            for row in rows:
                src = row[3]
                if src and src not in unit_map:
                    src_sector = src[:-2]
                    if src_sector not in sector_map:
                        sector_map[src_sector] = rnd.choice(mine)
                    unit_map[src] = rnd.choice(sectors[sector_map[src_sector]])
                n += 1
                out = list(row)
                out[0] = "{" + str(uuid.UUID(int=(seed << 64) + n)).upper() + "}"
                out[3] = unit_map.get(src, "")
                w.writerow(out)
                written += 1
            # Valuation requests go to postcodes that hold sales (a sample per replica).
            targets.extend(rnd.sample(sorted(unit_map.values()), min(50, len(unit_map))))
    return {"rows": written, "replicas": replicas, "districts": min(replicas, len(pool)),
            "targets": targets}  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_valuation",
    )
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--port", type=int, default=8150)
    p.add_argument("--seed", type=int, default=20251126)
    p.add_argument("--keep-file", action="store_true", help="Keep the generated PPD file.")
    p.add_argument(
        "--requests-only",
        action="store_true",
        help="Reuse the database a previous run loaded; time the requests only.",
    )
    args = p.parse_args()  # fmt: skip

    RESULTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DOORSTEP_DATABASE_URL": args.database, "DOORSTEP_LOG_LEVEL": "WARNING"}
    result: dict[str, Any] = {"database": args.database.rsplit("/", 1)[1]}

    if args.requests_only:
        targets = previous_targets(args.database, args.seed)
    else:
        targets = load(args, env, result)
    result["valuation_requests"] = time_requests(args, env, targets)
    result["bench_process_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    name = "valuation-requests-only.json" if args.requests_only else "valuation.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def previous_targets(url: str, seed: int) -> list[str]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT DISTINCT postcode FROM sales WHERE eligible ORDER BY postcode"
        ).fetchall()
    rnd = random.Random(seed)
    return rnd.sample([r[0] for r in rows], min(20_000, len(rows)))


def load(args: argparse.Namespace, env: dict[str, str], result: dict[str, Any]) -> list[str]:
    log("fresh database")
    fresh_database(args.database)
    subprocess.run([DOORSTEP, "db", "upgrade"], env=env, check=True, capture_output=True)

    log(f"importing unit postcodes from {UNITS.name}")
    geo, secs, _ = run_cli(env, "geo", "import", str(UNITS), "--quiet")
    result["geo_import"] = {"postcodes": geo["imported"], "seconds": round(secs, 1)}

    ppd = RESULTS / "bench-ppd.csv.gz"
    log(f"generating at least {args.rows:,} sales into {ppd}")
    started = time.perf_counter()
    gen = generate(ppd, args.rows, args.seed)
    targets = gen.pop("targets")
    result["generated"] = {
        **gen,
        "file_bytes": ppd.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }

    log("doorstep prices import (this is the measured import)")
    imp, secs, rss_kib = run_cli(env, "prices", "import", str(ppd), "--quiet")
    load_secs = imp["files"][0]["seconds"]
    result["import"] = {
        "rows": imp["rows"],
        "eligible": imp["eligible"],
        "load_seconds": load_secs,
        "rows_per_second": round(imp["rows"] / load_secs),
        "index_seconds": imp["model"]["index"]["seconds"],
        "calibration_seconds": imp["model"]["calibration"]["seconds"],
        "total_seconds": round(secs, 1),
        "peak_rss_mib": round(rss_kib / 1024, 1),  # sampled every 0.2 s
    }
    if not args.keep_file:
        ppd.unlink()
    return targets


def time_requests(
    args: argparse.Namespace, env: dict[str, str], targets: list[str]
) -> dict[str, Any]:
    acc, _, _ = run_cli(env, "accounts", "create", "Bench Estates")
    run_cli(env, "offices", "create", "--account", str(acc["id"]), "--name", "Head office",
            "--postcode", "SW19 1AA", "--coverage", "SW19")  # fmt: skip
    tok, _, _ = run_cli(env, "tokens", "create", "--account", str(acc["id"]), "--name", "bench",
                        "--rate-limit", "0")  # fmt: skip

    log(f"serving on 127.0.0.1:{args.port}")
    server = subprocess.Popen(
        [DOORSTEP, "serve", "--host", "127.0.0.1", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        with httpx.Client(base_url=base, headers={"X-API-KEY": tok["token"]}, timeout=30) as c:
            for _ in range(100):
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            rnd = random.Random(args.seed)
            latencies: list[float] = []
            statuses: dict[str, int] = defaultdict(int)
            for i in range(args.warmup + args.requests):
                body = {
                    "type": rnd.choice(["vendor", "vendor", "vendor", "landlord"]),
                    "first_name": "Bench",
                    "last_name": f"Person{i}",
                    "email": f"bench{i}@example.com",
                    "phone": f"07700{900000 + i}",
                    "postcode": rnd.choice(targets),
                }
                if ptype := rnd.choice(TYPES):
                    body["property_type"] = ptype
                t0 = time.perf_counter()
                r = c.post("/api/v103/leads/valuation", json=body)
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise SystemExit(f"request {i}: {r.status_code} {r.text}")
                if i >= args.warmup:
                    latencies.append(elapsed)
                    statuses[r.json()["valuation_status"]] += 1
            # For reference: the same server creating plain leads (no valuation).
            plain: list[float] = []
            for i in range(200):
                body = {"type": "vendor", "first_name": "Plain", "last_name": f"P{i}",
                        "email": f"plain{i}@example.com", "phone": "07700900000",
                        "postcode": rnd.choice(targets)}  # fmt: skip
                t0 = time.perf_counter()
                r = c.post("/api/v103/leads", json=body)
                plain.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "requests": len(latencies),
        "warmup_requests": args.warmup,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "mean_ms": round(statistics.mean(latencies), 1),
        "statuses": dict(statuses),
        "reference_create_lead_p50_ms": round(percentile(plain, 0.50), 1),
        "reference_create_lead_p95_ms": round(percentile(plain, 0.95), 1),
    }


if __name__ == "__main__":
    main()
