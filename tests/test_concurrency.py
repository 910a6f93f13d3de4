"""Simultaneous requests against a real server with two worker processes.

On PostgreSQL every test runs against both create paths: "async" (asyncpg on the event loop,
leads/create_pg.py, the default) and "thread" (SQLAlchemy on a database thread, as on
SQLite; DOORSTEP_DB_ASYNC=false)."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from doorstep.models import Job, Lead, RequestLog
from tests.conftest import IS_POSTGRES, lead_body
from tests.live import live_server

PATHS = ["async", "thread"] if IS_POSTGRES else ["thread"]


def path_env(path: str) -> dict[str, str]:
    return {"DOORSTEP_DB_ASYNC": "true" if path == "async" else "false"}


@pytest.fixture(scope="module", params=PATHS)
def server(request, engine):
    with live_server(workers=2, env=path_env(request.param)) as (base, _proc):
        yield base


@pytest.fixture(autouse=True)
def _settled(engine):
    """The live server writes each request's log row just after its response; the tables
    are emptied after each test, and must not race those writes (on PostgreSQL the two
    deadlock over the account row)."""
    yield
    from sqlalchemy import func

    from doorstep.models import RequestLog

    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            n = conn.scalar(select(func.count()).select_from(RequestLog))
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 0.5:
            return
        time.sleep(0.1)


def _fire(base, n, make_request):
    with ThreadPoolExecutor(max_workers=n) as pool, httpx.Client(base_url=base, timeout=60) as c:
        return list(pool.map(lambda i: make_request(c, i), range(n)))


# SQLite serialises every writer: 50 at once on a busy disk can outlast its 30 s lock wait,
# so it gets a smaller crowd; PostgreSQL, the production database, gets the full 50.
CROWD = 50 if IS_POSTGRES else 12


def test_simultaneous_creates_for_one_new_person_make_one_parent(server, owner, session):
    def create(c, i):
        body = lead_body(email="crowd@example.com", phone=f"0770090{i:04d}")
        return c.post("/api/v103/leads", json=body, headers=owner.headers)

    responses = _fire(server, CROWD, create)
    assert [r.status_code for r in responses] == [200] * CROWD
    logged = session.scalars(select(RequestLog.lead_id).where(RequestLog.lead_id.is_not(None)))
    assert sorted(logged) == sorted(r.json()["id"] for r in responses)  # committed with them
    leads = session.scalars(select(Lead).where(Lead.account_id == owner.account_id)).all()
    parents = [lead for lead in leads if lead.is_parent]
    assert len(leads) == CROWD and len(parents) == 1
    assert all(lead.parent_id == parents[0].id for lead in leads if not lead.is_parent)
    assert parents[0].parent_id is None


def test_simultaneous_uses_of_one_idempotency_key_create_one_lead(server, owner, session):
    body = lead_body(email="once@example.com")

    def create(c, i):
        headers = {**owner.headers, "Idempotency-Key": "order-7"}
        return c.post("/api/v103/leads", json=body, headers=headers)

    responses = _fire(server, 8, create)
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    count = len(session.scalars(select(Lead.id).where(Lead.account_id == owner.account_id)).all())
    assert count == 1


def test_the_rate_limit_holds_across_worker_processes(server, engine):
    from tests.conftest import make_agency

    agency = make_agency("Limited", (("Derby", "DE1 1JX", "DE1"),), rate_limit=20)
    if time.time() % 60 > 45:  # keep the burst inside one minute window
        time.sleep(61 - time.time() % 60)

    def hit(c, i):
        # Creates and reads count against the same limit, whichever path serves them.
        if i % 2:
            return c.get("/api/v103/offices", headers=agency.headers).status_code
        body = lead_body(email=f"burst{i}@example.com")
        return c.post("/api/v103/leads", json=body, headers=agency.headers).status_code

    codes = _fire(server, 40, hit)
    assert (codes.count(200), codes.count(429)) == (20, 20)


@pytest.mark.parametrize("path", PATHS)
def test_a_200_means_the_lead_is_committed(path, engine, owner, session):
    with live_server(workers=1, env=path_env(path)) as (base, proc):
        r = httpx.post(base + "/api/v103/leads", json=lead_body(), headers=owner.headers)
        assert r.status_code == 200
        proc.send_signal(signal.SIGKILL)  # crash right after the response
        proc.wait(10)
    lead_id = r.json()["id"]
    assert session.get(Lead, lead_id) is not None
    assert session.scalars(select(Job.kind).where(Job.lead_id == lead_id)).all() == ["lead.event"]
    assert session.scalars(
        select(RequestLog.status_code).where(RequestLog.lead_id == lead_id)
    ).all() == [200]
