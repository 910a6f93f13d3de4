"""The async create path's admission (leads/admission.py): the requests for one token that
arrive together are found and counted by one statement, and the limit stays exact.

Run against the real database through a real asyncpg pool. The limit across server
processes is proved end to end in test_concurrency.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from doorstep import db, pg
from doorstep.leads import admission
from doorstep.models import RateCounter
from doorstep.tokens.service import hash_token, revoke_token
from tests.conftest import IS_POSTGRES, Agency, make_agency, run_apart

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="the asyncpg path is PostgreSQL's")

T = TypeVar("T")
DERBY = (("Derby", "DE1 1JX", "DE"),)


def statements() -> float:
    return REGISTRY.get_sample_value("doorstep_create_admission_statements_total") or 0.0


def one_minute() -> None:
    """Keep a test's requests inside one minute's window of the counter."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def with_pool(test: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def run() -> T:
        url = db.get_engine().url.set(drivername="postgresql")
        pool = await asyncpg.create_pool(
            url.render_as_string(hide_password=False), min_size=0, max_size=12, reset=pg._keep
        )
        try:
            result = await test(pool)
            await asyncio.sleep(0.05)  # releases scheduled by cancelled requests
            assert pool.get_idle_size() == pool.get_size(), "a connection was not given back"
            return result
        finally:
            try:
                await asyncio.wait_for(pool.close(), 5)
            except TimeoutError:  # a failed test left a connection out
                pool.terminate()

    return run_apart(run())


async def admit_all(pool: asyncpg.Pool, agency: Agency, n: int) -> list[admission.Admission]:
    """``n`` requests for the agency's token, all arriving before any statement has run."""
    asked = (admission.admit(pool, hash_token(agency.token), 600) for _ in range(n))
    found = await asyncio.wait_for(asyncio.gather(*asked), 10)
    for a in found:
        if a.conn is not None:
            await pg.release(pool, a.conn)
    return found


def counted(agency: Agency) -> list[int]:
    with db.session_factory()() as s:
        return list(
            s.scalars(select(RateCounter.count).where(RateCounter.token_id == agency.token_id))
        )


def test_requests_arriving_together_are_admitted_by_one_statement(engine):
    agency = make_agency("Busy portal", DERBY, rate_limit=100)
    one_minute()
    before = statements()
    found = with_pool(lambda pool: admit_all(pool, agency, 10))
    assert statements() == before + 1
    rows = [a.row for a in found]
    assert all(r is not None and r[:2] == (agency.token_id, agency.account_id) for r in rows)
    # Each request has its own place in the minute, as with one statement a request.
    assert sorted(r[5] for r in rows if r is not None) == list(range(1, 11))
    assert counted(agency) == [10]


def test_the_statements_connection_is_handed_to_one_request_of_its_group(engine):
    agency = make_agency("Busy portal", DERBY, rate_limit=0)

    async def test(pool: asyncpg.Pool) -> list[Any]:
        found = await asyncio.gather(
            *(admission.admit(pool, hash_token(agency.token), 600) for _ in range(5))
        )
        conns = [a.conn for a in found]
        for conn in conns:
            if conn is not None:
                assert await conn.fetchval("SELECT 1") == 1  # usable for the create
                await pg.release(pool, conn)
        return conns

    conns = with_pool(test)
    assert sum(c is not None for c in conns) == 1
    assert counted(agency) == []  # unlimited: nothing counted


def test_a_group_too_big_for_what_is_left_is_admitted_one_by_one_up_to_the_limit(engine):
    agency = make_agency("Limited", DERBY, rate_limit=5)
    one_minute()

    async def test(pool: asyncpg.Pool) -> list[admission.Admission]:
        await admit_all(pool, agency, 1)
        await admit_all(pool, agency, 1)
        return await admit_all(pool, agency, 10)  # 3 places left for 10 requests

    found = with_pool(test)
    places = [a.row[5] for a in found if a.row is not None]
    assert len(places) == 10  # every request knows its token
    assert sorted(p for p in places if p is not None) == [3, 4, 5]
    assert places.count(None) == 7  # refused: 429
    assert counted(agency) == [5]


def test_a_revoked_key_is_refused_for_every_request_of_the_group(engine):
    agency = make_agency("Former customer", DERBY)
    with db.transaction() as s:
        revoke_token(s, agency.account_id, agency.token_id)
    found = with_pool(lambda pool: admit_all(pool, agency, 4))
    assert [a.row for a in found] == [None] * 4


async def cancel_first_of_four(pool: asyncpg.Pool, agency: Agency, in_flight: bool) -> list[Any]:
    """Four requests arrive together; the first is cancelled before its group's statement
    starts, or while it runs."""
    key = hash_token(agency.token)
    first = asyncio.ensure_future(admission.admit(pool, key, 600))
    others = [asyncio.ensure_future(admission.admit(pool, key, 600)) for _ in range(3)]
    await asyncio.sleep(0)  # all four have asked; the statement has not started
    if in_flight:
        token = admission._running[(id(pool), key)]
        while token.waiting:  # the group taken: its statement on the way
            await asyncio.sleep(0)
    first.cancel()
    found = await asyncio.wait_for(asyncio.gather(*others), 10)
    for a in found:
        if a.conn is not None:
            await pg.release(pool, a.conn)
    assert first.cancelled()
    return found


def test_a_request_cancelled_before_its_groups_statement_is_not_counted(engine):
    agency = make_agency("Busy portal", DERBY, rate_limit=100)
    one_minute()
    found = with_pool(lambda pool: cancel_first_of_four(pool, agency, in_flight=False))
    assert sorted(a.row[5] for a in found if a.row is not None) == [1, 2, 3]
    assert sum(a.conn is not None for a in found) == 1
    assert counted(agency) == [3]


def test_a_request_cancelled_while_its_group_is_admitted_takes_nothing_with_it(engine):
    agency = make_agency("Busy portal", DERBY, rate_limit=100)
    one_minute()
    # with_pool checks every connection is back in the pool afterwards.
    found = with_pool(lambda pool: cancel_first_of_four(pool, agency, in_flight=True))
    # Counted whole, the cancelled request's place spent (as a request cancelled after its
    # own statement always spent it); the statement's connection went to a live request.
    assert sorted(a.row[5] for a in found if a.row is not None) == [2, 3, 4]
    assert sum(a.conn is not None for a in found) == 1
    assert counted(agency) == [4]


def test_a_request_waits_for_a_pooled_connection_no_longer_than_the_acquire_timeout(
    engine, monkeypatch
):
    """An idle connection is taken without arming a timer; with every connection in use, the
    wait is still bounded (the request is then answered 503)."""
    monkeypatch.setattr(pg, "ACQUIRE_TIMEOUT", 0.2)

    async def test(pool: asyncpg.Pool) -> float:
        held = [await pg.acquire(pool) for _ in range(pool.get_max_size())]
        assert pool.get_idle_size() == 0
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pg.acquire(pool)
        waited = time.monotonic() - started
        for conn in held:
            await pg.release(pool, conn)
        assert pool.get_idle_size() == len(held)
        again = await asyncio.wait_for(pg.acquire(pool), 1)  # idle again: taken at once
        await pg.release(pool, again)
        return waited

    assert 0.2 <= with_pool(test) < 2


def test_when_the_database_cannot_answer_every_request_of_the_group_gets_the_error(engine):
    agency = make_agency("Busy portal", DERBY)

    async def test(pool: asyncpg.Pool) -> list[Any]:
        await pool.close()  # every connection gone: the statement cannot run
        asked = (admission.admit(pool, hash_token(agency.token), 600) for _ in range(3))
        return await asyncio.wait_for(asyncio.gather(*asked, return_exceptions=True), 10)

    async def run() -> list[Any]:
        url = db.get_engine().url.set(drivername="postgresql")
        pool = await asyncpg.create_pool(url.render_as_string(hide_password=False), min_size=0)
        return await test(pool)

    errors = run_apart(run())
    assert len(errors) == 3 and all(isinstance(e, asyncpg.InterfaceError) for e in errors)
    assert not admission._running  # nothing left waiting
