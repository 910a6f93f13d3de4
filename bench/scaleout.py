"""``make bench-scaleout``: two groups of ``doorstep serve`` processes (as two hosts would run)
behind HAProxy, against one PostgreSQL, proved correct under load and measured for a capacity
model (issue 14 point 6).

Starts a PostgreSQL of its own (bench/pgcluster.py, with pg_stat_statements), sets Doorstep up
through its command line, starts group A and group B (``doorstep serve --workers N`` each)
and HAProxy in front (round robin, health-checked on /readyz). Then, all through HAProxy:

1. load with varied bodies: throughput, p50/p99, CPU per create in the app processes and in
   PostgreSQL, statements and transactions per create (pg_stat_statements; the in-process
   job workers' handling of each lead's event included), WAL and request-log bytes per create;
2. the guarantees across both groups: 50 simultaneous creates for one new person give one
   group parent; one Idempotency-Key sent 8 times at once gives one lead; a token's rate limit
   is exact across the groups (N a minute: N answered 200, the rest 429); every request has
   its request-log row;
3. group A is SIGKILLed in the middle of a load: every 200 answered has its lead stored.

This machine has two cores: throughput cannot add up here, so the figures that size a
deployment are CPU per create and statements per create (README: capacity model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy.engine import make_url

from bench import __main__ as core
from bench import bodies, load
from bench.databases import libpq
from bench.pgcluster import own_cluster

HAPROXY_CONFIG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
frontend doorstep
    bind 127.0.0.1:{lb_port}
    default_backend groups
backend groups
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    server group_a 127.0.0.1:{port_a} check inter 500 fall 2 rise 2
    server group_b 127.0.0.1:{port_b} check inter 500 fall 2 rise 2
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load (20)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    p.add_argument("--workers", type=int, default=1, help="worker processes per group (1)")
    p.add_argument("--port", type=int, default=8330, help="HAProxy's port; groups +1, +2")
    p.add_argument("--rate-limit", type=int, default=120, help="the limited token's per minute")
    return p.parse_args(argv)


def haproxy_binary() -> str:
    for candidate in ("/usr/sbin/haproxy", "/usr/bin/haproxy"):
        if os.path.exists(candidate):
            return candidate
    raise SystemExit("HAProxy is missing: `make haproxy` installs Debian's package")


def pg_processes(postmaster: int) -> list[int]:
    """The postmaster and every backend and helper it forked."""
    out = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == postmaster:
            out.append(int(stat.parent.name))
    return out


def total_cpu(pids: list[int]) -> float:
    return sum(u + s for u, s in core.cpu_seconds(pids).values())


def statements(url: str) -> dict[str, int]:
    """Statement calls and transactions so far on Doorstep's database (the bench's own
    bookkeeping queries excluded)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        calls = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
            "AND query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%count(%'"
        ).fetchone()
        wal = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        log = conn.execute("SELECT pg_total_relation_size('request_logs')").fetchone()
        xacts = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return {
        "calls": int(calls[0]) if calls else 0,
        "xacts": int(xacts[0]) if xacts else 0,
        "wal": int(wal[0]) if wal else 0,
        "request_log_bytes": int(log[0]) if log else 0,
    }


def by_statement(url: str) -> dict[int, tuple[str, int, float]]:
    """pg_stat_statements so far on Doorstep's database: query id -> (text, calls, ms)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT queryid, query, calls, total_exec_time FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
        ).fetchall()
    return {int(q): (str(text), int(calls), float(ms)) for q, text, calls, ms in rows}


def top_statements(
    before: dict[int, tuple[str, int, float]], after: dict[int, tuple[str, int, float]], ok: int
) -> list[dict[str, Any]]:
    """Where PostgreSQL's time went during the load: the statements taking most of it, with
    calls and execution time per create."""
    out = []
    for qid, (text, calls, ms) in after.items():
        _, calls0, ms0 = before.get(qid, ("", 0, 0.0))
        if calls > calls0:
            out.append(
                {
                    "statement": " ".join(text.split())[:90],
                    "calls_per_create": round((calls - calls0) / ok, 2),
                    "exec_ms_per_create": round((ms - ms0) / ok, 3),
                }
            )
    out.sort(key=lambda r: -float(r["exec_ms_per_create"]))
    return out[:10]


def one(url: str, sql: str, *params: Any) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


async def together(
    base: str, requests: list[tuple[dict[str, Any], dict[str, str]]]
) -> list[httpx.Response]:
    """Send every request at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
        return await asyncio.gather(
            *(c.post("/api/v103/leads", json=b, headers=h) for b, h in requests)
        )


def guarantees(base: str, url: str, token: str, limited: str, limit: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    h = {"X-API-KEY": token}
    stamp = datetime.now(UTC).strftime("%H%M%S%f")

    # One new person, 50 creates at once, spread over both groups by the balancer.
    person = {"type": "sale", "first_name": "Ann", "last_name": "Lee", "phone": "07986 000111",
              "email": f"one.person.{stamp}@example.com", "advert_postcode": "NG1 5FS"}  # fmt: skip
    rs = asyncio.run(together(base, [(person, h)] * 50))
    parents = one(url, "SELECT count(*) FROM leads WHERE email_normalized = %s AND is_parent",
                  person["email"])  # fmt: skip
    out["one_person_50_at_once"] = {
        "answers": dict(Counter(r.status_code for r in rs)),
        "parents": parents,
        "ok": parents == 1 and all(r.status_code == 200 for r in rs),
    }

    # One Idempotency-Key, 8 at once: one lead; every 200 names it.
    body = {**person, "email": f"idem.{stamp}@example.com"}
    rs = asyncio.run(together(base, [(body, {**h, "Idempotency-Key": f"k-{stamp}"})] * 8))
    ids = {r.json()["id"] for r in rs if r.status_code == 200}
    stored = one(url, "SELECT count(*) FROM leads WHERE email_normalized = %s", body["email"])
    out["one_key_8_at_once"] = {
        "answers": dict(Counter(r.status_code for r in rs)),
        "leads": stored,
        "ok": stored == 1 and len(ids) == 1 and {r.status_code for r in rs} <= {200, 409},
    }

    # The limited token: limit + 30 creates, 10 at a time, through both groups.
    n = limit + 30
    answers: list[int] = []
    for i in range(0, n, 10):
        batch = [({**person, "email": f"rate.{stamp}.{j}@example.com"}, {"X-API-KEY": limited})
                 for j in range(i, min(i + 10, n))]  # fmt: skip
        answers += [r.status_code for r in asyncio.run(together(base, batch))]
    time.sleep(1.0)  # refused requests' log rows are written just after their answers
    logged = one(
        url,
        "SELECT count(*) FROM request_logs l JOIN api_tokens t ON t.id = l.token_id "
        "WHERE t.name = 'Limited'",
    )
    counts = Counter(answers)
    out["rate_limit_across_groups"] = {
        "limit_per_minute": limit,
        "answers": dict(counts),
        "ok": counts[200] == limit and counts[429] == n - limit,
    }
    out["request_log_rows"] = {"requests": n, "rows": logged, "ok": logged == n}
    return out


async def drive(
    target: load.Target, n: int, requests: list[bytes], seconds: float, kill: int | None = None
) -> load.LoadResult:
    """Load for ``seconds``; with ``kill``, that process group is SIGKILLed 3 s in."""
    clients = load.Clients(target, n)
    try:
        run = asyncio.create_task(clients.run(requests, seconds, ramp=1.0))
        if kill is not None:
            await asyncio.sleep(3.0)
            os.killpg(kill, signal.SIGKILL)
        return await run
    finally:
        clients.close()


def tagged_leads(url: str, tag: str) -> int:
    return one(url, "SELECT count(*) FROM leads WHERE email_normalized LIKE %s", f"%.{tag}@%")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    haproxy = haproxy_binary()
    core.RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Durable as in production (the outage test's cluster is not): WAL flushed on commit.
    settings = {
        "shared_preload_libraries": "pg_stat_statements",
        "max_connections": "200",
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
    }
    report: dict[str, Any] = {"started": stamp, "parameters": vars(args), "machine": core.machine()}
    with own_cluster(settings) as pg:
        url = make_url(pg.url).set(database="doorstep").render_as_string(hide_password=False)
        with psycopg.connect(libpq(pg.url), autocommit=True) as conn:
            conn.execute("CREATE DATABASE doorstep")
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
        env |= {
            "DOORSTEP_DATABASE_URL": url,
            "DOORSTEP_ENVIRONMENT": "production",
            "DOORSTEP_SECRET_KEY": "bench-" + os.urandom(16).hex(),
        }
        print("Setting up Doorstep in a PostgreSQL of its own ...", flush=True)
        token = core.set_up_doorstep(env)
        limited = core.doorstep_cli(
            env, "tokens", "create", "--account", "1", "--name", "Limited",
            "--rate-limit", str(args.rate_limit),
        )["token"]  # fmt: skip
        lb_port, port_a, port_b = args.port, args.port + 1, args.port + 2
        groups = {
            name: core.start(
                name,
                core.serve_command(port, args.workers),
                env,
                port,
                core.RESULTS / f"{stamp}-scaleout-{name}.log",
            )
            for name, port in (("group_a", port_a), ("group_b", port_b))
        }
        config = Path(tempfile.mkdtemp()) / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(lb_port=lb_port, port_a=port_a, port_b=port_b))
        lb = subprocess.Popen([haproxy, "-db", "-f", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        base = f"http://127.0.0.1:{lb_port}"
        try:
            for g in groups.values():
                core.wait_ready(g, "/readyz")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            target = load.Target("127.0.0.1", lb_port, "/api/v103/leads", {"X-API-KEY": token})
            app_pids = [p for g in groups.values() for p in g.pids()]
            print(f"Two groups of {args.workers} worker(s) behind HAProxy on {base}; "
                  f"{args.clients} clients for {args.duration:g} s ...", flush=True)  # fmt: skip

            # 1. Load, measured.
            maker = bodies.BodyMaker(seed=11, tag="load")
            run_bodies = [orjson.dumps(maker.body()) for _ in range(40_000)]
            per0 = by_statement(url)
            s0, app0, db0 = (
                statements(url),
                total_cpu(app_pids),
                total_cpu(pg_processes(pg.postmaster_pid())),
            )
            result = asyncio.run(drive(target, args.clients, run_bodies, args.duration))
            s1, app1, db1 = (
                statements(url),
                total_cpu(app_pids),
                total_cpu(pg_processes(pg.postmaster_pid())),
            )
            ok = max(result.ok, 1)
            measured = {
                "throughput_rps": round(result.ok / result.elapsed_s, 1),
                "p50_ms": round(load.percentile(result.latencies_ms, 50), 2),
                "p99_ms": round(load.percentile(result.latencies_ms, 99), 2),
                "errors": sum(result.errors.values()),
                "app_cpu_ms_per_create": round((app1 - app0) * 1000 / ok, 2),
                "db_cpu_ms_per_create": round((db1 - db0) * 1000 / ok, 2),
                "statements_per_create": round((s1["calls"] - s0["calls"]) / ok, 2),
                "transactions_per_create": round((s1["xacts"] - s0["xacts"]) / ok, 2),
                "wal_bytes_per_create": round((s1["wal"] - s0["wal"]) / ok),
                "request_log_bytes_per_create": round(
                    (s1["request_log_bytes"] - s0["request_log_bytes"]) / ok
                ),
                "loadavg": os.getloadavg()[0],
            }
            report["load"] = measured
            print(f"  load: {measured}", flush=True)
            report["top_statements"] = top_statements(per0, by_statement(url), ok)
            for row in report["top_statements"]:
                print(f"    {row['exec_ms_per_create']:7.3f} ms {row['calls_per_create']:5.2f}x"
                      f"  {row['statement']}", flush=True)  # fmt: skip

            # 2. The guarantees across the groups.
            checks = guarantees(base, url, token, limited, args.rate_limit)
            report["guarantees"] = checks
            for name, c in checks.items():
                print(f"  {name}: {'ok' if c['ok'] else 'FAILED'} {c}", flush=True)

            # 3. Group A killed in the middle of a load.
            maker = bodies.BodyMaker(seed=12, tag="kill")
            kill_bodies = [orjson.dumps(maker.body()) for _ in range(40_000)]
            killed = asyncio.run(
                drive(target, args.clients, kill_bodies, 8.0, kill=groups["group_a"].proc.pid)
            )
            time.sleep(1.0)
            stored = tagged_leads(url, "kill")
            report["kill"] = {
                "answered_200": killed.ok,
                "errors": dict(killed.errors),
                "stored": stored,
                "ok": stored >= killed.ok,
            }
            print(f"  group A killed under load: {report['kill']}", flush=True)
        finally:
            lb.terminate()
            lb.wait(10)
            for g in groups.values():
                core.stop(g)
    problems = [n for n, c in report["guarantees"].items() if not c["ok"]]
    if not report["kill"]["ok"]:
        problems.append("kill")
    out = core.RESULTS / f"{stamp}-scaleout.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"Results: {out.relative_to(core.ROOT)}", flush=True)
    if problems:
        sys.exit("FAILED: " + ", ".join(problems))


if __name__ == "__main__":
    main()
