"""asyncpg, for the one request that must be fastest: creating a lead on PostgreSQL.

Every other database call goes through SQLAlchemy on a database thread (db.py). Creating a
lead is the hot path (portals and web forms post leads all day), and there the thread
hand-offs, SQLAlchemy's execution layer and psycopg cost four times what PostgreSQL spends
(``make bench``). asyncpg runs on the event loop: no thread, a prepared statement per
connection, binary parameters.

Each server process opens its pool in the app's lifespan (``open_pool``) on the process's
own loop; without one (SQLite, ``DOORSTEP_DB_ASYNC=false``, an app whose lifespan did not
run) the create takes the thread path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import ClauseElement, text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from doorstep import db
from doorstep.config import get_settings

log = logging.getLogger("doorstep.pg")

# How long a request waits for a free pooled connection before it is answered 503.
ACQUIRE_TIMEOUT = 10.0
# A connection that cannot be made in this time counts as a database outage (a 503).
CONNECT_TIMEOUT = 5.0


def positional(
    statement: ClauseElement | str, column_keys: Sequence[str] = ()
) -> tuple[str, list[str]]:
    """A statement written for SQLAlchemy (``text()`` with ``:name`` parameters, or Core) as
    asyncpg runs it: the SQL with ``$1, $2 ...``, and the parameter names in that order."""
    clause = text(statement) if isinstance(statement, str) else statement
    compiled = cast(
        SQLCompiler, clause.compile(dialect=_DIALECT, column_keys=list(column_keys) or None)
    )
    return compiled.string, list(compiled.positiontup or [])


_DIALECT = asyncpg_dialect.dialect()


async def _init(conn: asyncpg.Connection) -> None:
    # JSON(B) values are Python objects, as SQLAlchemy's JSON type has them.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep(conn: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool: the create path's
    statements each run in a transaction of their own and leave no session state (their
    advisory locks and settings are the transaction's). asyncpg's default reset costs a
    round trip on every release."""


async def acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    """A pooled connection; when none is free within ACQUIRE_TIMEOUT, TimeoutError (a 503).
    With a connection idle, none is waited for: taken without arming the timeout (a timer
    and a task a request, on the create path's hot loop). Making a new connection is
    bounded on its own (CONNECT_TIMEOUT)."""
    if pool.get_idle_size():
        return await pool.acquire()
    return await pool.acquire(timeout=ACQUIRE_TIMEOUT)


async def release(pool: asyncpg.Pool, conn: asyncpg.Connection, *, broken: bool = False) -> None:
    """Back to the pool. ``broken``: the connection may be mid-way through a statement (it
    failed, or the request was cancelled), so it is closed instead of being handed to the
    next request. A connection that cannot go back is closed too, and that is no concern
    of the request, whose answer is decided."""
    try:
        if broken:
            with contextlib.suppress(asyncpg.InterfaceError):  # already detached: closed
                conn.terminate()
        await pool.release(conn)
    except Exception as e:
        log.warning("a pooled connection was dropped: %s", e)


async def open_pool() -> asyncpg.Pool | None:
    """The process's pool, when the database is PostgreSQL and the async path is on. Its
    connections are made on first use: a server starts while the database is still away."""
    settings = get_settings()
    engine = db.get_engine()
    if engine.dialect.name != "postgresql" or not settings.db_async:
        return None
    pool = asyncpg.create_pool(
        # libpq's form of the URL: postgresql+psycopg:// -> postgresql://
        engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
        min_size=0,
        max_size=settings.db_async_pool_size,
        init=_init,
        reset=_keep,
        timeout=CONNECT_TIMEOUT,
        # A connection is dropped after a minute idle, as a burst's extra connections are.
        max_inactive_connection_lifetime=60,
    )
    await pool  # min_size=0: nothing to connect yet
    return pool


def attach(state: Any, pool: asyncpg.Pool | None) -> None:
    """Keep the pool for requests served on the running loop. An asyncpg pool belongs to
    the loop it was made on: a server process has one loop, but tests may run the same app
    on several at once (two test clients)."""
    if pool is not None:
        pools: dict[Any, asyncpg.Pool] | None = getattr(state, "pg_pools", None)
        if pools is None:
            pools = state.pg_pools = {}
        pools[asyncio.get_running_loop()] = pool


def detach(state: Any) -> None:
    pools = getattr(state, "pg_pools", None)
    if pools:
        pools.pop(asyncio.get_running_loop(), None)


def pool_of(state: Any) -> asyncpg.Pool | None:
    """The pool of the running loop, if its lifespan opened one."""
    pools = getattr(state, "pg_pools", None)
    return pools.get(asyncio.get_running_loop()) if pools else None


async def close_pool(pool: asyncpg.Pool | None) -> None:
    if pool is None:
        return
    try:
        await asyncio.wait_for(pool.close(), timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        pool.terminate()


def unavailable(error: BaseException) -> bool:
    """Whether an asyncpg error means the database cannot serve just now (see
    ``db.unavailable``): down, restarting, refusing connections, the connection lost, no
    connection free in time."""
    if isinstance(error, TimeoutError | OSError):  # connect refused or timed out; pool wait
        return True
    if isinstance(error, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        return closed(error)
    if isinstance(error, asyncpg.PostgresError):
        # 08: connection faults; 57P01-57P03: shutting down, crashed, cannot connect now;
        # 53300: too many connections.
        state = str(getattr(error, "sqlstate", "") or "")
        return state.startswith(("08", "57P")) or state == "53300"
    return False


def closed(error: BaseException) -> bool:
    """The connection was closed under the statement, or before it (a database restart):
    asyncpg then detaches it from its pool; an idle connection that the server told it was
    being terminated is left in a state that refuses the next statement."""
    if isinstance(error, asyncpg.ConnectionDoesNotExistError):
        return True
    message = str(error)
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        return "another operation" in message
    return isinstance(error, asyncpg.InterfaceError) and (
        "closed" in message or "released back to the pool" in message
    )
