"""``make bench-signin``: API creates while many failed sign-ins run (issue 13 point 2).

Before, on SQLite, a sign-in ran argon2 inside the request's write transaction, holding the
database's one write lock, and 60 parallel failed sign-ins pushed API creates from 2-5 ms to
650-700 ms. Now the hash is checked with no transaction open. This starts ``doorstep serve``
on a fresh SQLite database (and, with --postgres, on PostgreSQL), measures create latency
with no sign-ins, then again while N clients fail sign-ins as fast as they can, each from its
own address (``X-Forwarded-For`` from the trusted local proxy) and e-mail, so the limits never
refuse them and every attempt pays for its hash. Prints p50/p95/p99 of both runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import __main__ as core
from bench.load import percentile


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.signin", description=__doc__.split("\n\n")[0])
    p.add_argument("--attackers", type=int, default=60, help="parallel failed sign-ins (60)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    p.add_argument("--port", type=int, default=8340)
    p.add_argument("--postgres", help="also on this PostgreSQL database URL (it is emptied)")
    return p.parse_args(argv)


def creates(
    base: str, token: str, seconds: float, stop: threading.Event | None = None
) -> list[float]:
    """One client creating leads back to back; latencies in ms."""
    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=30) as c:
        i = 0
        while time.monotonic() < end:
            i += 1
            email = f"c{i}.{time.time_ns()}@example.com"
            body = {"type": "sale", "first_name": "A", "last_name": "B", "phone": "01623000000",
                    "email": email, "advert_postcode": "NG1 5FS"}  # fmt: skip
            t0 = time.perf_counter()
            r = c.post("/api/v103/leads", json=body, headers={"X-API-KEY": token})
            out.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"create failed: {r.status_code} {r.text[:200]}")
    return out


def attacker(base: str, n: int, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        page = c.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "no CSRF token on the sign-in page"
        i = 0
        while not stop.is_set():
            i += 1
            r = c.post(
                "/login",
                data={
                    "email": f"x{n}.{i}@example.com",
                    "password": "wrong-password-1",
                    "csrf_token": token[1],
                },
                headers={"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"},
            )
            counts[n] += 1
            if r.status_code == 429:
                raise SystemExit("the sign-in limits refused the bench's attempts")


def run(url: str, args: argparse.Namespace, label: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
    env |= {"DOORSTEP_DATABASE_URL": url, "DOORSTEP_ENVIRONMENT": "production",
            "DOORSTEP_SECRET_KEY": "bench-" + os.urandom(16).hex()}  # fmt: skip
    token = core.set_up_doorstep(env)
    log = Path(tempfile.mkdtemp()) / "serve.log"
    server = core.start(
        "doorstep",
        [*core.serve_command(args.port, 2), "--no-worker", "--forwarded-allow-ips", "127.0.0.1"],
        env,
        args.port,
        log,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        core.wait_ready(server, "/healthz")
        creates(base, token, 2.0)  # warm up
        alone = creates(base, token, args.duration)
        stop = threading.Event()
        counts = [0] * args.attackers
        threads = [threading.Thread(target=attacker, args=(base, n, stop, counts), daemon=True)
                   for n in range(args.attackers)]  # fmt: skip
        for t in threads:
            t.start()
        time.sleep(2.0)
        busy = creates(base, token, args.duration)
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        core.stop(server)

    def line(name: str, xs: list[float]) -> str:
        return (f"  {name:<34} {len(xs):>5} creates   p50 {percentile(xs, 50):7.1f} ms   "
                f"p95 {percentile(xs, 95):7.1f} ms   p99 {percentile(xs, 99):7.1f} ms")  # fmt: skip

    print(f"{label}:")
    print(line("alone", alone))
    print(line(f"with {args.attackers} failing sign-ins", busy))
    print(
        f"  failed sign-ins meanwhile: {sum(counts):,} ({sum(counts) / (args.duration + 2):.0f}/s)"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        run(f"sqlite:///{d}/signin.db", args, "SQLite")
    if args.postgres:
        from bench.databases import fresh_database

        fresh_database(args.postgres)
        run(args.postgres, args, "PostgreSQL")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
