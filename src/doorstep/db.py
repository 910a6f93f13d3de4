"""Engine and session factory. The request's session dependency owns the transaction:
services flush, the dependency commits before the response is sent, so a 200 means committed."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import get_settings

T = TypeVar("T")

_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def build_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue the BEGIN: pysqlite's own deferred BEGIN
            # lets two writers read the same snapshot and then race to write.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A read-only unit of work (``reader(engine)``) takes no write lock: in WAL
            # mode it reads beside the writer instead of queueing behind it.
            read_only = conn.get_execution_options().get("doorstep_read_only")
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    settings = get_settings()
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("max_overflow", settings.db_max_overflow)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # SQLAlchemy's pool_pre_ping, but skipped where the caller's first statement serves
        # as the ping (see unpinged): a pooled connection may have been closed by a
        # database restart since it was last used; SQLAlchemy then connects afresh.
        if not _ping_on_checkout.get() or record.fresh:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as e:
            if not engine.dialect.is_disconnect(e, dbapi_conn, None):
                raise
            alive = False
        if not alive:
            raise exc.DisconnectionError("The pooled connection was closed.")

    return engine


_ping_on_checkout: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ping_on_checkout", default=True
)


def without_pings() -> None:
    """From now on, in the calling thread, pooled connections are handed out without the
    ping. For the job worker's own threads: a connection closed under them fails one
    statement, and what it was doing is tried again (a claim shortly, a job on its backoff),
    while a ping costs a round trip on every one of their many short transactions."""
    _ping_on_checkout.set(False)


@contextmanager
def unpinged(engine: Engine) -> Iterator[Connection]:
    """A connection from the pool without the usual ping: the caller's first statement must
    touch the database and be safe to run again, for on a connection that turns out to be
    closed it is retried once on a fresh one (``retry_closed``)."""
    token = _ping_on_checkout.set(False)
    try:
        conn = engine.connect()
    finally:
        _ping_on_checkout.reset(token)
    with conn:
        yield conn


def retry_closed(conn: Connection, first: Callable[[Connection], T]) -> T:
    """``first(conn)``; if ``conn`` turns out to have been closed under us (a database
    restart), ``first`` runs again on a fresh connection, which ``conn`` then holds."""
    driver = conn.connection.driver_connection
    try:
        return first(conn)
    except conn.dialect.loaded_dbapi.Error as e:
        if not conn.dialect.is_disconnect(e, driver, None):
            raise
        if not conn.invalidated:
            conn.invalidate(e)
        return first(conn)  # conn checks out a fresh connection on this first use


def reader(engine: Engine) -> Engine:
    """The engine for transactions that only read (same pool). On SQLite they begin
    deferred, without the write lock every other transaction takes at once; a write in one
    would fail rather than race."""
    return engine.execution_options(doorstep_read_only=True)


def get_engine() -> Engine:
    if _engine is None:
        set_engine(build_engine(get_settings().database_url))
    assert _engine is not None
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Swap the process engine (tests, CLI with an explicit URL)."""
    global _engine, _factory
    if _engine is not None and _engine is not engine:
        _engine.dispose()
    _engine = engine
    _factory = sessionmaker(engine, expire_on_commit=False, autoflush=False) if engine else None


def session_factory() -> sessionmaker[Session]:
    get_engine()
    assert _factory is not None
    return _factory


@contextmanager
def transaction() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with session_factory()() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# Blocking database work called from async code (an API request's unit of work, a dashboard
# session's commit, a request log written after the response) runs on these threads: a trip
# through asyncio's executor costs a third of one through AnyIO's thread pool, and a commit
# never queues behind the endpoints that fill that pool, some of them waiting for this very
# transaction's locks.
@functools.cache
def _executor() -> ThreadPoolExecutor:
    settings = get_settings()
    threads = max(1, settings.db_pool_size + settings.db_max_overflow)
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="doorstep-db")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a database thread, with the caller's context (its request id)."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(_executor(), call)


async def _end(session: Session, commit: bool) -> None:
    if not session.in_transaction():
        session.close()  # it holds no connection: nothing to wait for
        return
    # Shielded: a client that goes away cannot cut the commit (or rollback) short; _finish
    # closes the session on its thread whatever happens here.
    await asyncio.shield(in_thread(_finish, session, commit))


async def _request_session() -> AsyncIterator[Session]:
    # A Session touches the database only when first used, so it is made here on the event
    # loop; only the commit (or rollback) needs a worker thread, and only if work was done.
    session = session_factory()()
    try:
        yield session
    except BaseException:
        await _end(session, commit=False)
        raise
    await _end(session, commit=True)


# scope="function": the commit happens before the response is sent, never after it.
SessionDep = Annotated[Session, Depends(_request_session, scope="function")]


class Unavailable(Exception):
    """The database could not serve a request made outside SQLAlchemy (the asyncpg create
    path, pg.py): raised from the driver's own error, answered like SQLAlchemy's."""


def unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot serve just now (down, restarting, failing
    over, the connection lost, no connection free in the pool, SQLite's file locked), so the
    same request may succeed if sent again shortly: a 503, not a 500."""
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError):
        return True
    if isinstance(error, Unavailable):
        return True
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, exc.OperationalError | exc.InterfaceError
        )
    return False
