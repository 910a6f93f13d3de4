"""Webhook deliveries per second: one `doorstep worker` process sending to a local receiver.

    python -m bench.webhooks [--deliveries 3000] [--concurrency N] [--only sqlite|postgresql]

For each database (a fresh SQLite file, and the PostgreSQL database in --postgres, dropped
and re-created), seeds an account with one endpoint and N new leads through the service
(each writes its lead.created event), then measures two runs of a real `doorstep worker`:

* deliveries: the events fanned out beforehand, the worker only sends (N webhook.deliver
  jobs: read, sign, POST, log the attempt, finish);
* with fan-out: N more leads, the worker fans their events out and sends (2N jobs).

The receiver is a minimal ASGI app under uvicorn in its own process. The rate is counted
between the receiver's first and last request (the worker's start-up is not in it), and
checked: every delivery delivered with one attempt, every webhook-id received once. The
target is 200 deliveries/s on the 2-core development machine (worker, receiver and
PostgreSQL all on it). Results are also written to bench/results/. With BENCH_PROFILE=DIR
(and py-spy on the PATH: `pip install py-spy`) the worker is sampled into DIR."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.databases import drop_database, fresh_database

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
TARGET = 200.0

# -- the receiver (its own process: python -m uvicorn bench.webhooks:receiver) ------------

_seen: dict[str, Any] = {"count": 0, "first": None, "last": None, "ids": set(), "bad": 0}


async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "DELETE":  # a new run
        _seen.update(count=0, first=None, last=None, ids=set(), bad=0)
        body = b"{}"
    elif scope["method"] == "GET":
        stats = {k: v for k, v in _seen.items() if k != "ids"}
        body = json.dumps({**stats, "unique_ids": len(_seen["ids"])}).encode()
    else:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        now = time.time()
        headers = dict(scope["headers"])
        msg_id = headers.get(b"webhook-id", b"")
        if not (msg_id and headers.get(b"webhook-signature", b"").startswith(b"v1,")):
            _seen["bad"] += 1
        _seen["ids"].add(msg_id)
        _seen["count"] += 1
        _seen["first"] = _seen["first"] or now
        _seen["last"] = now
        body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _stats(port: int, method: str = "GET") -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        return dict(json.loads(r.read()))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_receiver() -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "bench.webhooks:receiver", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--lifespan", "on",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            _stats(port)
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the receiver did not start") from None
            time.sleep(0.1)


# -- seeding ------------------------------------------------------------------------------


def _seed_leads(account_id: int, n: int) -> None:
    from doorstep import db
    from doorstep.auth.principal import Actor
    from doorstep.leads import service as leads
    from doorstep.leads.schemas import LeadCreate

    actor = Actor(account_id)
    done = 0
    while done < n:
        with db.transaction() as s:
            for i in range(done, min(n, done + 500)):
                data = LeadCreate.model_validate(
                    {
                        "type": "sale",
                        "first_name": "Marla",
                        "last_name": f"Singer{i}",
                        "email": f"marla{i}@example.com",
                        "phone": f"07700 9{i % 100000:05d}",
                        "advert_postcode": "NG1 5FS",
                    }
                )
                leads.create_lead(s, actor, data)
        done = min(n, done + 500)


def _fan_out_here(engine: Any, n: int) -> None:
    """The lead events' fan-out, in this process: only deliveries are left for the worker."""
    from doorstep.jobs import queue
    from doorstep.jobs.worker import Worker

    w = Worker(engine, 1, name="bench-fan-out")
    jobs = queue.claim(engine, w.name, n + 10, timedelta(minutes=30))
    assert all(j.kind == "lead.event" for j in jobs), "only the lead events are due"
    for j in jobs:
        w.run_one(j)


# -- one run ------------------------------------------------------------------------------


def _run_worker(url: str, port: int, expected: int, concurrency: int | None) -> dict[str, Any]:
    _stats(port, "DELETE")
    env = {
        **os.environ,
        "DOORSTEP_DATABASE_URL": url,
        "DOORSTEP_WEBHOOKS_ALLOW_PRIVATE": "true",
        "DOORSTEP_LOG_LEVEL": "WARNING",
        "DOORSTEP_PRUNE_INTERVAL_MINUTES": "0",
    }
    cmd = [str(BIN / "doorstep"), "worker"]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env)
    spy = None
    if os.environ.get("BENCH_PROFILE"):  # a folder: py-spy's samples of the worker go there
        out = Path(os.environ["BENCH_PROFILE"]) / f"worker-{proc.pid}.txt"
        spy = subprocess.Popen(
            ["py-spy", "record", "--gil", "--pid", str(proc.pid), "-r", "200", "-f", "raw",
             "-o", str(out)]
        )  # fmt: skip
    try:
        deadline = started + 600
        while (st := _stats(port))["count"] < expected:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the worker stopped short: {st}")
            time.sleep(0.1)
        wall = time.monotonic() - started
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        proc.send_signal(signal.SIGTERM)
        cpu = _cpu_at_exit(proc)
    st = _stats(port)
    span = st["last"] - st["first"]
    return {
        "received": st["count"],
        "rate": round((st["count"] - 1) / span, 1) if span > 0 else None,
        "wall_s": round(wall, 2),
        "wall_rate": round(st["count"] / wall, 1),
        "unique_ids": st["unique_ids"],
        "bad": st["bad"],
        # The worker process's CPU time in all (its start-up included) per delivery: steadier
        # than the rate on a machine shared with other work.
        "worker_cpu_ms_per_delivery": round(cpu * 1000 / max(1, st["count"]), 2),
    }


def _cpu_at_exit(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Reap the process; its user + system CPU seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_utime + usage.ru_stime)
        time.sleep(0.05)
    proc.kill()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


def _check(engine: Any, expected: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from doorstep.models import Job, WebhookAttempt, WebhookDelivery

    with engine.connect() as c:
        states = dict(
            c.execute(
                select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
            ).all()
        )
        attempts = c.scalar(select(func.count()).select_from(WebhookAttempt))
        jobs = dict(c.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    ok = states == {"delivered": expected} and attempts == expected and set(jobs) == {"done"}
    return {"ok": ok, "deliveries": states, "attempts": attempts, "jobs": jobs}


def bench(url: str, n: int, concurrency: int | None) -> dict[str, Any]:
    fresh_database(url)
    os.environ["DOORSTEP_DATABASE_URL"] = url
    os.environ["DOORSTEP_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    from doorstep import db, migrate
    from doorstep.accounts.service import create_account
    from doorstep.config import get_settings
    from doorstep.offices.service import create_office
    from doorstep.webhooks import service

    get_settings.cache_clear()
    engine = db.build_engine(url)
    db.set_engine(engine)
    migrate.upgrade(engine)
    receiver_proc, port = _start_receiver()
    try:
        with db.transaction() as s:
            account = create_account(s, "Bench Estates")
            create_office(s, account.id, "Nottingham", "NG1 5FS", ["NG1"])
            service.create_endpoint(
                s, account.id, f"http://127.0.0.1:{port}/hooks", ["lead.created"]
            )
            account_id = account.id
        t = time.monotonic()
        _seed_leads(account_id, n)
        _fan_out_here(engine, n)
        seed_s = time.monotonic() - t
        deliveries = _run_worker(url, port, n, concurrency)
        deliveries["check"] = _check(engine, n)

        _seed_leads(account_id, n)
        pipeline = _run_worker(url, port, n, concurrency)
        pipeline["check"] = _check(engine, 2 * n)
    finally:
        receiver_proc.terminate()
        receiver_proc.wait(10)
        db.set_engine(None)
    return {
        "database": engine.dialect.name,
        "deliveries": n,
        "seed_s": round(seed_s, 1),
        "send_only": deliveries,
        "with_fan_out": pipeline,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.split("\n")[0])
    p.add_argument("--deliveries", type=int, default=3000, help="deliveries per run (3000)")
    p.add_argument("--concurrency", type=int, default=None, help="worker threads (setting's)")
    p.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    p.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_WEBHOOKS_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_webhooks",
        ),
    )
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="doorstep-bench-webhooks-")
    urls = {"sqlite": f"sqlite:///{tmp}/bench.db", "postgresql": args.postgres}
    results = []
    failed = False
    for name, url in urls.items():
        if args.only and args.only != name:
            continue
        try:
            r = bench(url, args.deliveries, args.concurrency)
        finally:
            drop_database(url)
        results.append(r)
        for label in ("send_only", "with_fan_out"):
            run = r[label]
            failed |= (
                not run["check"]["ok"] or run["bad"] > 0 or run["unique_ids"] != run["received"]
            )
            print(
                f"{r['database']:<10} {label:<12} {run['received']} deliveries: "
                f"{run['rate'] or run['wall_rate']} /s between first and last request, "
                f"{run['wall_rate']} /s from the worker's start ({run['wall_s']} s), "
                f"worker CPU {run['worker_cpu_ms_per_delivery']} ms a delivery"
                f"  check: {'ok' if run['check']['ok'] else run['check']}"
            )
    best = [r["send_only"]["rate"] or 0 for r in results]
    print(f"target {TARGET:.0f} deliveries/s: " + ("met" if min(best) >= TARGET else "NOT met"))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"webhooks-{stamp}.json"
    out.write_text(
        json.dumps(
            {"at": stamp, "machine": platform.platform(), "cpus": os.cpu_count(), "runs": results},
            indent=2,
        )
    )
    print(f"written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
