"""Dashboard inbox at scale: 100,000 leads in one account, every page timed through the app.

    python -m bench.dashboard [--url DATABASE_URL] [--leads 100000] [--runs 7]

Seeds a fresh database (SQLite file by default, or the PostgreSQL database in --url, which
is dropped and re-created), then requests inbox pages in-process, as a signed-in admin and an
agent, through the whole stack: middleware, session, queries and templates. Prints the median
and the slowest time of each page and exits 1 when a median is over the budget (300 ms)."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BUDGET_MS = 300.0
RESULTS = Path(__file__).parent / "results"

FIRST = [
    "Marla",
    "Tyler",
    "Robert",
    "Jane",
    "Aisha",
    "Tom",
    "Priya",
    "Oliver",
    "Grace",
    "Liam",
    "Noah",
    "Emma",
    "Sophie",
    "Harry",
    "Mia",
    "Zara",
    "Omar",
    "Chloe",
    "Jack",
    "Ruby",
]
LAST = [
    "Singer",
    "Durden",
    "Paulson",
    "Doe",
    "Khan",
    "Baker",
    "Patel",
    "Smith",
    "Jones",
    "Brown",
    "Taylor",
    "Wilson",
    "Evans",
    "Walker",
    "Hughes",
    "Wright",
    "Green",
    "Hall",
    "Wood",
    "Clarke",
]
SOURCES = [
    "rightmove",
    "zoopla",
    "onthemarket",
    "homepage",
    "ivt",
    "gumtree",
    "rightmove_valuation",
]
TYPES = ["sale", "let", "vendor", "landlord", "mortgage_request"]
OFFICES = [
    ("Nottingham", "NG1 5FS", "NG1,NG2,NG3"),
    ("Derby", "DE1 1JX", "DE1,DE21,DE22"),
    ("Oxford", "OX1 1AA", "OX1,OX2,OX3"),
    ("Banbury", "OX16 5AA", "OX15,OX16"),
    ("Wimbledon", "SW19 1AA", "SW19,SW20"),
    ("Newcastle", "NE1 1EE", "NE1,NE2"),
    ("Manchester", "M1 1AD", "M"),
]
POSTCODES = ["NG1 5FS", "NG2 4AA", "DE1 1JX", "DE22 3AB", "OX1 1AA", "OX16 5AA", "SW19 1AA",
             "NE1 1EE", "M1 1AD", "M20 2AB"]  # fmt: skip
MESSAGES = [
    "I'd like to arrange a viewing this weekend if possible, mornings are best for us.",
    "Please call me about a valuation of my three-bedroom semi; we are thinking of moving.",
    "Is this property still available? We are chain free and have a mortgage agreed.",
]
STATUS_STAGE = [(1, 50), (2, 100), (3, 100), (4, 150), (5, 150)]


def seed(n_leads: int, rng: random.Random) -> dict[str, Any]:
    from sqlalchemy import insert

    from doorstep import db
    from doorstep.accounts.service import create_account
    from doorstep.models import Lead
    from doorstep.offices.service import create_office
    from doorstep.users.service import create_user

    with db.transaction() as s:
        account = create_account(s, "Bench Estates")
        office_ids = [create_office(s, account.id, n, pc, [c]).id for n, pc, c in OFFICES]
        create_user(s, account.id, "admin@bench.example.com", "bench-password-1", "admin")
        create_user(
            s, account.id, "agent@bench.example.com", "bench-password-1", "agent", office_ids[:2]
        )
        account_id = account.id
    now = datetime.now(UTC)
    created = sorted(now - timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(n_leads))
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    people: list[tuple[int, str, str, str, str]] = []  # (parent id, first, last, email, phone)
    for i, at in enumerate(created):
        lead_id = i + 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status_id, stage_id = (
            STATUS_STAGE[0] if at > now - timedelta(days=7) else rng.choice(STATUS_STAGE)
        )
        phone = f"07{rng.randint(100000000, 999999999)}"
        email = f"{first.lower()}.{last.lower()}{i}@example.com"
        parent_id = None
        if people and rng.random() < 0.15:
            # A returning person: the lead joins the group of their first lead.
            parent_id, first, last, email, phone = rng.choice(people)
        elif len(people) < 20_000:
            people.append((lead_id, first, last, email, phone))
        rows.append(
            {
                "id": lead_id,
                "account_id": account_id,
                "office_id": rng.choice(office_ids),
                "status_id": status_id,
                "stage_id": stage_id,
                "type": rng.choice(TYPES),
                "first_name": first,
                "last_name": last,
                "email": email,
                "email_normalized": email,
                "phone": phone,
                "phone_normalized": "+44" + phone[1:],
                "phone_callable": True,
                # Rows as wide as real ones: a search reads every lead of the account.
                "message": rng.choice(MESSAGES),
                "questionnaire": [
                    ["Do you have a property to sell?", rng.choice(["Yes", "No"])],
                    ["Mortgage in principle?", rng.choice(["Yes", "No"])],
                ],
                "meta": {"campaign": rng.choice(["spring", "summer", "autumn"]), "ref": str(i)},
                "advert_address": f"{rng.randint(1, 200)} {rng.choice(LAST)} Road",
                "address": f"{rng.randint(1, 200)} {rng.choice(FIRST)} Street",
                "advert_url": f"https://www.example.com/property/{i}",
                "postcode": rng.choice(POSTCODES),
                "advert_postcode": rng.choice(POSTCODES),
                "source": rng.choice(SOURCES),
                "is_parent": parent_id is None,
                "parent_id": parent_id,
                "international": False,
                "created_at": at,
                "updated_at": at,
                "first_status_change_at": at + timedelta(minutes=rng.randint(5, 3000))
                if status_id != 1
                else None,
            }
        )
        if len(rows) == 5000:
            with db.transaction() as s:
                s.execute(insert(Lead), rows)
            rows = []
    if rows:
        with db.transaction() as s:
            s.execute(insert(Lead), rows)
    with db.get_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval('leads_id_seq', (SELECT max(id) FROM leads))")
        conn.exec_driver_sql("ANALYZE")
    return {
        "account_id": account_id,
        "office_ids": office_ids,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _client(email: str) -> Any:
    import re

    from fastapi.testclient import TestClient

    from doorstep.app import create_app

    c = TestClient(create_app())
    c.__enter__()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert token
    r = c.post(
        "/login",
        data={"email": email, "password": "bench-password-1", "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def measure(client: Any, path: str, runs: int) -> dict[str, Any]:
    r = client.get(path)  # warm: the first request of a query shape pays for planning
    assert r.status_code == 200, (path, r.status_code)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return {
        "path": path,
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "rows": r.text.count("data-lead-id="),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="Database URL (default: a temp SQLite file)")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    url = args.url or "sqlite:///" + os.path.join(tempfile.gettempdir(), "doorstep-bench-dash.db")
    os.environ["DOORSTEP_DATABASE_URL"] = url
    os.environ.setdefault("DOORSTEP_LOG_JSON", "false")
    os.environ.setdefault("DOORSTEP_LOG_LEVEL", "WARNING")

    import logging

    logging.getLogger("doorstep.access").setLevel(logging.WARNING)
    from bench.databases import fresh_database
    from doorstep import db, migrate
    from doorstep.config import get_settings

    get_settings.cache_clear()
    fresh_database(url)
    engine = db.build_engine(url)
    db.set_engine(engine)
    migrate.upgrade(engine)
    rng = random.Random(103)
    info = seed(args.leads, rng)
    backend = engine.dialect.name
    print(f"{backend}: seeded {args.leads:,} leads in {info['seconds']} s", flush=True)

    month_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    office = info["office_ids"][2]
    last_page = -(-args.leads // 50)
    admin_pages = [
        "/leads",
        "/leads?page=2",
        f"/leads?page={last_page // 2}",
        f"/leads?page={last_page}",
        "/leads?stage=50",
        "/leads?stage=100&page=20",
        "/leads?type=vendor&source=zoopla",
        f"/leads?office={office}",
        "/leads?status=4",
        f"/leads?from={month_ago}",
        "/leads?q=durden",
        "/leads?q=marla.singer12",
        "/leads?q=07912",
        "/leads?q=NG1 5FS",
        "/leads?q=singer&type=let&stage=150",
    ]
    agent_pages = ["/leads", "/leads?page=100", "/leads?q=patel", "/leads?stage=100"]
    results = []
    admin = _client("admin@bench.example.com")
    for p in admin_pages:
        results.append({"user": "admin", **measure(admin, p, args.runs)})
    agent = _client("agent@bench.example.com")
    for p in agent_pages:
        results.append({"user": "agent", **measure(agent, p, args.runs)})
    # Other pages over the same 100,000 leads, measured for information (no budget).
    newest = admin.get("/leads").text.split('data-lead-id="', 1)[1].split('"', 1)[0]
    extra = [
        {"user": "admin", **measure(admin, f"/leads/{newest}", 3)},
        {"user": "admin", **measure(admin, "/reports", 3)},
        {"user": "admin", **measure(admin, "/statuses", 3)},
        {"user": "admin", **measure(admin, "/offices", 3)},
    ]

    width = max(len(r["path"]) for r in results + extra) + 2
    print(f"{'user':6} {'page':{width}} {'median ms':>10} {'max ms':>8} {'rows':>5}")
    for r in results + extra:
        flag = "  OVER BUDGET" if r in results and r["median_ms"] > BUDGET_MS else ""
        print(
            f"{r['user']:6} {r['path']:{width}} {r['median_ms']:10.1f} {r['max_ms']:8.1f} "
            f"{r['rows']:5}{flag}"
        )
    worst = max(r["median_ms"] for r in results)
    over = [r for r in results if r["median_ms"] > BUDGET_MS]
    print(f"{backend}: slowest inbox median {worst:.1f} ms (budget {BUDGET_MS:.0f} ms)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dashboard-{backend}.json"
    out.write_text(
        json.dumps(
            {"backend": backend, "leads": args.leads, "pages": results, "extra": extra}, indent=2
        )
    )
    db.set_engine(None)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
