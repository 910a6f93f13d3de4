"""The async create path's stores (leads/storing.py): the creates that are ready together
are stored in one transaction, the whole group's person locks taken first in ascending
order; a group that fails is stored again one create at a time.

Run against the real database through a real asyncpg pool, with a probe statement shaped
like the create statement (the advisory lock ids as its fourth parameter). The create
path's own guarantees (one parent for a person's simultaneous creates, a 200 only once
committed, the rate limit, SIGKILL) are proved end to end in test_concurrency.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from doorstep import db, pg
from doorstep.leads import storing
from tests.conftest import IS_POSTGRES, run_apart

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="the asyncpg path is PostgreSQL's")

# Inserts a probe row; reports its transaction and how many advisory locks the statement's
# transaction holds once its own are taken.
PROBE = """
WITH locked AS MATERIALIZED (
    SELECT count(pg_advisory_xact_lock(l)) AS n FROM unnest($4::bigint[]) AS l
)
INSERT INTO store_probe (v, email, phone, tx, locks)
SELECT $1, $2, $3, txid_current(), (SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND pid = pg_backend_pid())
FROM locked
RETURNING id, tx, locks
"""


def transactions() -> float:
    return REGISTRY.get_sample_value("doorstep_create_store_transactions_total") or 0.0


@pytest.fixture
def probe(engine) -> Iterator[None]:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS store_probe"))
        conn.execute(
            text(
                "CREATE TABLE store_probe (id serial PRIMARY KEY, v int NOT NULL,"
                " email text, phone text, tx bigint, locks int)"
            )
        )
    yield
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE store_probe"))


def stored(args: list[list[Any]]) -> list[Any]:
    """The creates stored, all ready before the first group started."""

    async def run() -> list[Any]:
        url = db.get_engine().url.set(drivername="postgresql")
        pool = await asyncpg.create_pool(
            url.render_as_string(hide_password=False), min_size=0, max_size=4, reset=pg._keep
        )
        try:
            asked = (storing.store(pool, PROBE, a) for a in args)
            found = await asyncio.wait_for(asyncio.gather(*asked, return_exceptions=True), 10)
            assert pool.get_idle_size() == pool.get_size()
            return found
        finally:
            await pool.close()

    return run_apart(run())


def test_creates_ready_together_are_stored_in_one_transaction(probe):
    before = transactions()
    rows = stored([[i, "a", "a", [10 + i, 100 - i]] for i in range(5)])
    assert transactions() == before + 1
    assert len({r["tx"] for r in rows}) == 1  # one transaction: one commit
    # The first statement took the whole group's locks (10 distinct ids), ascending: the
    # others found theirs held.
    assert [r["locks"] for r in rows] == [10] * 5
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)  # in arrival order


def test_a_group_that_fails_is_stored_one_create_at_a_time(probe):
    before = transactions()
    rows = stored([[1, "a", "a", [1]], [None, "b", "b", [2]], [3, "c", "c", [3]]])
    good = [rows[0], rows[2]]
    assert isinstance(rows[1], asyncpg.NotNullViolationError)  # its own error: a 4xx/5xx
    assert all(isinstance(r, asyncpg.Record) for r in good)
    assert good[0]["tx"] != good[1]["tx"]  # each its own transaction
    assert transactions() == before + 2  # the group's attempt rolled back, not counted
    with db.get_engine().connect() as conn:
        assert conn.execute(text("SELECT v FROM store_probe ORDER BY id")).scalars().all() == [1, 3]


def test_when_the_database_cannot_answer_every_create_of_the_group_gets_the_error(probe):
    async def run() -> list[Any]:
        url = db.get_engine().url.set(drivername="postgresql")
        pool = await asyncpg.create_pool(url.render_as_string(hide_password=False), min_size=0)
        await pool.close()
        asked = (storing.store(pool, PROBE, [i, "a", "a", [i]]) for i in range(3))
        return await asyncio.wait_for(asyncio.gather(*asked, return_exceptions=True), 10)

    errors = run_apart(run())
    assert len(errors) == 3 and all(isinstance(e, asyncpg.InterfaceError) for e in errors)
    assert all(s.task is None and not s.waiting for s in storing._streams.values())
