"""``make bench``: Doorstep's full create-lead against the reference, same run.

Creates fresh PostgreSQL databases, sets Doorstep up through its own command line (an agency
with the demo offices and coverage, unit coordinates for the bench postcodes, a token with a
high explicit rate limit so the limit is still checked), starts ``doorstep serve`` and, with
the same number of uvicorn workers, the reference (``bench/reference_app.py``: the same body
validation, one INSERT with asyncpg, the fastest honest way this stack does the job) and the
older minimal endpoint (``bench/minimal_app.py``: the same, with SQLAlchemy and psycopg in a
thread pool), then drives each in turn with the same bodies. With several rounds the order
alternates (A B C, C B A) so drift on a shared machine does not favour one side. Nothing runs
ANALYZE: the databases are as young as a new installation's. Prints throughput, p50/p99
latency, errors and CPU per request, and Doorstep's ratio to the reference, and writes
everything to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from bench import bodies, load, minimal_app
from bench.databases import drop_database, fresh_database, libpq
from doorstep.tokens.service import MAX_RATE_LIMIT

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
# Per minute: the highest a token may have, but explicit, so every request still counts.
RATE_LIMIT = MAX_RATE_LIMIT
SIDES = ("reference", "minimal", "doorstep")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=20.0, help="seconds per run (20)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    p.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first (3)")
    # Two rounds by default: A B B A, so a drift in the shared machine's speed during the run
    # weighs on both sides alike.
    p.add_argument("--rounds", type=int, default=2, help="runs per side, alternating ABBA (2)")
    p.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
        ),
        help="PostgreSQL server URL without a database name",
    )
    p.add_argument("--database", default="doorstep_bench", help="database name prefix")
    p.add_argument("--port", type=int, default=8300, help="Doorstep's port; minimal: +1")
    p.add_argument(
        "--only",
        choices=SIDES,
        action="append",
        help="drive only this side (repeat for several)",
    )
    p.add_argument("--profile", action="store_true", help="py-spy flame graph of Doorstep")
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="serve without the in-process job worker: the create path alone (each lead's "
        "lead.event job is stored, and left pending)",
    )
    p.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    return p.parse_args(argv)


# -- databases ---------------------------------------------------------------------------


def db_url(server: str, name: str) -> URL:
    return make_url(server).set(drivername="postgresql+psycopg", database=name)


def doorstep_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN / "doorstep"), *args, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def set_up_doorstep(env: dict[str, str]) -> str:
    """Through the administrator's command line, like an operator would."""
    from doorstep.demo import DEMO_OFFICES

    account = doorstep_cli(env, "accounts", "create", "Bench Estates")
    for name, postcode, coverage in DEMO_OFFICES:
        doorstep_cli(
            env,
            "offices",
            "create",
            "--account",
            str(account["id"]),
            "--name",
            name,
            "--postcode",
            postcode,
            "--coverage",
            coverage,
        )
    doorstep_cli(env, "geo", "import", str(bodies.POSTCODES_CSV), "--quiet")
    token = doorstep_cli(
        env,
        "tokens",
        "create",
        "--account",
        str(account["id"]),
        "--name",
        "Bench",
        "--rate-limit",
        str(RATE_LIMIT),
    )
    return str(token["token"])


def set_up_minimal(url: URL) -> None:
    engine = create_engine(url)
    minimal_app.metadata.create_all(engine)
    engine.dispose()


# -- servers -----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        """The uvicorn parent and its worker processes."""
        out = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    out.append(int(stat.parent.name))
        return out


def start(name: str, cmd: list[str], env: dict[str, str], port: int, log: Path) -> Server:
    f = log.open("wb")
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Server(name, port, proc, log)


def serve_command(port: int, workers: int) -> list[str]:
    return [str(BIN / "doorstep"), "serve", "--production", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers)]  # fmt: skip


def wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited; see {server.log}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=2),
        ):
            return
        time.sleep(0.2)
    raise SystemExit(f"{server.name} did not start in {timeout:.0f} s; see {server.log}")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


def smoke(target: load.Target, body: dict[str, Any]) -> None:
    """One request before the clock starts: a setup mistake should not look like a result."""
    req = urllib.request.Request(
        f"http://{target.host}:{target.port}{target.path}",
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", **target.headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            created = json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"smoke request failed: {e.code} {e.read()[:500]!r}") from None
    if not isinstance(created.get("id"), int):
        raise SystemExit(f"smoke request returned no id: {created}")


# -- measurement -------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> dict[int, tuple[float, float]]:
    """(user, system) CPU seconds of each process so far."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def backend_pids(url: URL) -> list[int]:
    with psycopg.connect(libpq(url.set(database="postgres")), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (url.database,)
        ).fetchall()
    return [r[0] for r in rows]


@contextlib.contextmanager
def cpu_meter(server: Server, url: URL) -> Iterator[dict[str, Any]]:
    """CPU seconds the server's processes and its database backends spent meanwhile.
    Backends that come and go during the run are missed, so "db" is a lower bound."""
    out: dict[str, Any] = {}
    app0 = cpu_seconds(server.pids())
    db0 = cpu_seconds(backend_pids(url))
    yield out
    app1 = cpu_seconds(server.pids())
    db1 = cpu_seconds(backend_pids(url))
    app = {
        p: (u - app0.get(p, (0, 0))[0], s - app0.get(p, (0, 0))[1]) for p, (u, s) in app1.items()
    }
    per_process = sorted((u + s for u, s in app.values()), reverse=True)
    out["app_cpu_s"] = sum(per_process)
    out["app_sys_s"] = sum(s for _, s in app.values())
    out["app_cpu_split_s"] = [round(v, 2) for v in per_process if v >= 0.01]
    out["db_cpu_s"] = sum(u + s - sum(db0.get(p, (0, 0))) for p, (u, s) in db1.items())


@contextlib.contextmanager
def profiler(server: Server, duration: float, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    py_spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    procs = [
        subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(duration)),
                "--rate",
                "200",
                "--gil",
                "--format",
                "raw",
                "--output",
                str(RESULTS / f"profile-{stamp}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in server.pids()[1:]
    ]
    yield
    for p in procs:
        p.wait()


async def run_side(
    server: Server,
    target: load.Target,
    url: URL,
    args: argparse.Namespace,
    warm_bodies: list[bytes],
    run_bodies: list[bytes],
    *,
    profile: bool,
) -> tuple[load.LoadResult, int, dict[str, Any]]:
    """Warm up (clients ramping up one by one), then measure on the same connections.
    Returns the measured run, the warm-up's successes (they create leads too) and CPU."""
    clients = load.Clients(target, args.clients)
    warm_ok = 0
    try:
        if args.warmup > 0:
            warm_ok = (await clients.run(warm_bodies, args.warmup, ramp=args.warmup / 2)).ok
        with cpu_meter(server, url) as cpu, profiler(server, args.duration, profile):
            result = await clients.run(run_bodies, args.duration)
    finally:
        clients.close()
    return result, warm_ok, cpu


def summarise(name: str, r: load.LoadResult, cpu: dict[str, Any]) -> dict[str, Any]:
    ok = max(r.ok, 1)
    return {
        "server": name,
        "requests": r.requests,
        "ok": r.ok,
        "errors": sum(r.errors.values()),
        "error_kinds": dict(r.errors),
        "elapsed_s": round(r.elapsed_s, 3),
        "throughput_rps": round(r.ok / r.elapsed_s, 1),
        "p50_ms": round(load.percentile(r.latencies_ms, 50), 2),
        "p99_ms": round(load.percentile(r.latencies_ms, 99), 2),
        "app_cpu_ms_per_request": round(cpu["app_cpu_s"] * 1000 / ok, 3),
        "app_sys_share": round(cpu["app_sys_s"] / max(cpu["app_cpu_s"], 1e-9), 2),
        "db_cpu_ms_per_request": round(cpu["db_cpu_s"] * 1000 / ok, 3),
        "loadgen_cpu_ms_per_request": round(r.client_cpu_s * 1000 / ok, 3),
        "app_cpu_s_by_process": cpu["app_cpu_split_s"],
    }


def steadier_measures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """This machine's speed drifts between runs, and a side's throughput with it. Two
    measures that drift less: Doorstep's ratio to the reference within each round (the two
    ran a minute apart), and the server CPU each spends a request, which the load does not
    decide."""
    by = {(r["server"], r["round"]): r for r in runs}
    rounds = sorted({r["round"] for r in runs})
    ratio_by_round = [
        by[("doorstep", n)]["throughput_rps"] / by[("reference", n)]["throughput_rps"]
        for n in rounds
        if ("doorstep", n) in by and ("reference", n) in by
    ]

    def cpu(side: str) -> float:
        mine = [r for r in runs if r["server"] == side]
        return sum(r["app_cpu_ms_per_request"] + r["db_cpu_ms_per_request"] for r in mine) / max(
            len(mine), 1
        )

    doorstep, reference = cpu("doorstep"), cpu("reference")
    return {
        "ratio_by_round": [round(r, 3) for r in ratio_by_round],
        "doorstep_cpu_ms": round(doorstep, 3),
        "reference_cpu_ms": round(reference, 3),
        "cpu_ratio": round(reference / doorstep, 3) if doorstep else 0.0,
    }


METRICS_TOKEN = "bench-metrics-" + os.urandom(8).hex()


def admissions(server: Server) -> tuple[float, ...]:
    """Doorstep's grouping counters, all processes: the create path admits the requests for
    one token that arrive together in one statement (requests, statements), and stores the
    creates that are ready together in one transaction (creates, transactions)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        values[name] = float(value) if value and not line.startswith("#") else 0.0
    return (
        values.get("doorstep_create_admission_requests_total", 0.0),
        values.get("doorstep_create_admission_statements_total", 0.0),
        values.get("doorstep_create_store_creates_total", 0.0),
        values.get("doorstep_create_store_transactions_total", 0.0),
    )


def admission_groups(before: tuple[float, ...], after: tuple[float, ...]) -> dict[str, Any]:
    """Over the run and its warm-up: requests admitted, statements, and the mean group; the
    same for the stores."""
    deltas = (a - b for a, b in zip(after, before, strict=True))
    requests, statements, creates, transactions = deltas
    return {
        "requests": int(requests),
        "statements": int(statements),
        "mean_group": round(requests / statements, 2) if statements else None,
        "stored": int(creates),
        "store_transactions": int(transactions),
        "mean_store_group": round(creates / transactions, 2) if transactions else None,
    }


def print_run(row: dict[str, Any]) -> None:
    print(
        f"  {row['server']:<9} {row['throughput_rps']:>8.1f} req/s   "
        f"p50 {row['p50_ms']:>7.2f} ms   p99 {row['p99_ms']:>7.2f} ms   "
        f"errors {row['errors']:<4} "
        f"cpu/req app {row['app_cpu_ms_per_request']:.2f} ms, "
        f"db {row['db_cpu_ms_per_request']:.2f} ms; app sys {row['app_sys_share']:.0%}, "
        f"app cpu s by process "
        f"{row['app_cpu_s_by_process']}",
        flush=True,
    )
    if row.get("admission"):
        a = row["admission"]
        print(
            f"            admission: {a['requests']} requests in {a['statements']} statements "
            f"(mean group {a['mean_group']}); stored: {a['stored']} creates in "
            f"{a['store_transactions']} transactions (mean group {a['mean_store_group']})",
            flush=True,
        )


def integrity(url: URL) -> dict[str, int]:
    """What Doorstep stored: leads, request-log rows, and person groups with two parents
    (which must never happen: a parent's email and phone are unique among parents)."""
    with psycopg.connect(libpq(url)) as conn:

        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0

        return {
            "leads": one("SELECT count(*) FROM leads"),
            "request_logs": one("SELECT count(*) FROM request_logs"),
            "duplicate_parents": one(
                "SELECT count(*) FROM (SELECT email_normalized FROM leads WHERE is_parent "
                "GROUP BY account_id, email_normalized HAVING count(*) > 1) d"
            )
            + one(
                "SELECT count(*) FROM (SELECT phone_normalized FROM leads WHERE is_parent "
                "AND phone_normalized IS NOT NULL "
                "GROUP BY account_id, phone_normalized HAVING count(*) > 1) d"
            ),
            "orphans": one(
                "SELECT count(*) FROM leads c LEFT JOIN leads p ON p.id = c.parent_id "
                "WHERE NOT c.is_parent AND (p.id IS NULL OR NOT p.is_parent)"
            ),
        }


def lost(answered: int, stored: dict[str, int]) -> list[str]:
    """What went wrong with the stored leads, if anything. Every 200 names a lead that must
    be stored (a request that timed out on the client may have created one more); each lead
    was created by a logged request; no person has two parents, no child lacks one."""
    problems = []
    if stored["leads"] < answered:
        problems.append(f"{answered} leads answered with 200 but {stored['leads']} stored")
    if stored["request_logs"] < stored["leads"]:
        problems.append(f"{stored['leads']} leads but {stored['request_logs']} log rows")
    if stored["duplicate_parents"]:
        problems.append(f"{stored['duplicate_parents']} people with two parent leads")
    if stored["orphans"]:
        problems.append(f"{stored['orphans']} child leads without their parent")
    return problems


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_before": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    sides = [s for s in SIDES if args.only is None or s in args.only]
    d_url = db_url(args.postgres, args.database)
    m_url = db_url(args.postgres, f"{args.database}_minimal")
    r_url = db_url(args.postgres, f"{args.database}_reference")
    info = machine()

    print(f"Setting up {d_url.database}, {r_url.database} and {m_url.database} ...", flush=True)
    fresh_database(d_url)
    fresh_database(m_url)
    fresh_database(r_url)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
    d_env = {
        **base_env,
        "DOORSTEP_DATABASE_URL": d_url.render_as_string(hide_password=False),
        "DOORSTEP_ENVIRONMENT": "production",
        "DOORSTEP_SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "DOORSTEP_METRICS_TOKEN": METRICS_TOKEN,
    }
    token = set_up_doorstep(d_env)
    set_up_minimal(m_url)
    set_up_minimal(r_url)  # the same table

    servers = {
        "doorstep": start(
            "doorstep",
            serve_command(args.port, args.workers) + (["--no-worker"] if args.no_worker else []),
            d_env,
            args.port,
            RESULTS / f"{stamp}-doorstep.log",
        ),
        "minimal": start(
            "minimal",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.minimal_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port + 1),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {**base_env, "BENCH_MINIMAL_DATABASE_URL": m_url.render_as_string(False)},
            args.port + 1,
            RESULTS / f"{stamp}-minimal.log",
        ),
        "reference": start(
            "reference",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.reference_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port + 2),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {**base_env, "BENCH_REFERENCE_DATABASE_URL": libpq(r_url)},
            args.port + 2,
            RESULTS / f"{stamp}-reference.log",
        ),
    }
    targets = {
        "doorstep": load.Target("127.0.0.1", args.port, "/api/v103/leads", {"X-API-KEY": token}),
        "minimal": load.Target("127.0.0.1", args.port + 1, "/leads", {"X-API-KEY": token}),
        "reference": load.Target("127.0.0.1", args.port + 2, "/leads", {"X-API-KEY": token}),
    }
    urls = {"doorstep": d_url, "minimal": m_url, "reference": r_url}
    runs: list[dict[str, Any]] = []
    try:
        wait_ready(servers["doorstep"], "/healthz")
        wait_ready(servers["minimal"], "/openapi.json")
        wait_ready(servers["reference"], "/openapi.json")
        first = bodies.BodyMaker(seed=0, tag="smoke").body()
        for side in sides:
            smoke(targets[side], first)

        print(
            f"{args.clients} clients, {args.duration:g} s per run, {args.workers} workers "
            f"each, {args.rounds} round(s), {os.cpu_count()} CPUs shared by everything",
            flush=True,
        )
        for rnd in range(args.rounds):
            order = sides if rnd % 2 == 0 else sides[::-1]
            maker = bodies.BodyMaker(seed=rnd + 1, tag=f"r{rnd}")
            run_bodies = [orjson.dumps(maker.body()) for _ in range(60_000)]
            warm = bodies.BodyMaker(seed=1000 + rnd, tag=f"w{rnd}")
            warm_bodies = [orjson.dumps(warm.body()) for _ in range(5_000)]
            print(f"round {rnd + 1}:", flush=True)
            for side in order:
                before = admissions(servers[side]) if side == "doorstep" else None
                result, warm_ok, cpu = asyncio.run(
                    run_side(
                        servers[side],
                        targets[side],
                        urls[side],
                        args,
                        warm_bodies,
                        run_bodies,
                        profile=args.profile and side == "doorstep",
                    )
                )
                row = {"round": rnd + 1, **summarise(side, result, cpu), "warmup_ok": warm_ok}
                if before is not None:
                    row["admission"] = admission_groups(before, admissions(servers[side]))
                runs.append(row)
                print_run(row)
    finally:
        for s in servers.values():
            stop(s)

    report: dict[str, Any] = {
        "started": stamp,
        "parameters": {
            "duration_s": args.duration,
            "clients": args.clients,
            "workers": args.workers,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
        },
        "machine": {**info, "loadavg_after": os.getloadavg()},
        "runs": runs,
    }
    totals = {}
    for side in sides:
        mine = [r for r in runs if r["server"] == side]
        ok = sum(r["ok"] for r in mine)
        totals[side] = {
            "throughput_rps": round(ok / sum(r["elapsed_s"] for r in mine), 1),
            "errors": sum(r["errors"] for r in mine),
        }
    report["totals"] = totals
    if "doorstep" in totals:
        for base in ("reference", "minimal"):
            if base not in totals:
                continue
            ratio = totals["doorstep"]["throughput_rps"] / totals[base]["throughput_rps"]
            report[f"ratio_to_{base}"] = round(ratio, 3)
            target = " (target 50%)" if base == "reference" else ""
            print(
                f"Doorstep {totals['doorstep']['throughput_rps']:.1f} req/s, {base} "
                f"{totals[base]['throughput_rps']:.1f} req/s: ratio {ratio:.1%}{target}, "
                f"errors {totals['doorstep']['errors']} / {totals[base]['errors']}",
                flush=True,
            )
    if "doorstep" in totals and "reference" in totals:
        steadier = steadier_measures(runs)
        report["steadier_measures"] = steadier
        print(
            "Per round, Doorstep / reference throughput: "
            + ", ".join(f"{r:.1%}" for r in steadier["ratio_by_round"])
            + "; server CPU a request (app + PostgreSQL): Doorstep "
            f"{steadier['doorstep_cpu_ms']:.2f} ms, "
            f"reference {steadier['reference_cpu_ms']:.2f} ms ({steadier['cpu_ratio']:.1%})",
            flush=True,
        )
    problems: list[str] = []
    if "doorstep" in sides:
        time.sleep(0.5)  # failed requests' log rows are written just after their responses
        stored = integrity(d_url)
        mine = [r for r in runs if r["server"] == "doorstep"]
        answered = 1 + sum(r["ok"] + r["warmup_ok"] for r in mine)  # the smoke request too
        report["doorstep_integrity"] = {"answered_200": answered, **stored}
        print(f"Doorstep stored: {report['doorstep_integrity']}", flush=True)
        problems = lost(answered, stored)
        report["integrity_problems"] = problems
    out = RESULTS / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Results: {out.relative_to(ROOT)}", flush=True)
    if not args.keep:
        drop_database(d_url)
        drop_database(m_url)
        drop_database(r_url)
    if problems:
        raise SystemExit("Doorstep lost or mangled leads: " + "; ".join(problems))


if __name__ == "__main__":
    main()
