"""Engine and session factory. The request's session dependency owns the transaction:
services flush, the dependency commits before the response is sent, so a 200 means committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, cast

import anyio
import anyio.to_thread
from fastapi import Depends
from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from doorstep.config import get_settings

_engine: Engine | None = None
_autocommit: Engine | None = None
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
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 30)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def get_engine() -> Engine:
    if _engine is None:
        set_engine(build_engine(get_settings().database_url))
    assert _engine is not None
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Swap the process engine (tests, CLI with an explicit URL)."""
    global _engine, _autocommit, _factory
    if _engine is not None and _engine is not engine:
        _engine.dispose()
    _engine = engine
    _factory = sessionmaker(engine, expire_on_commit=False, autoflush=False) if engine else None
    # The same pool; on PostgreSQL a connection checked out through it runs each statement
    # as its own transaction, without BEGIN/COMMIT round trips. SQLite keeps its explicit
    # BEGIN IMMEDIATE (see build_engine), which the AUTOCOMMIT setting would undo.
    _autocommit = engine
    if engine is not None and not is_sqlite(engine):
        _autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")


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


class Statement:
    """A ``text()`` statement compiled once per dialect and run with ``exec_driver_sql``.

    For the few statements every request runs: SQLAlchemy's per-call cache look-up and
    parameter processing cost several times what PostgreSQL spends on them. Parameters are
    passed to the driver as they are, so they must be plain values (no JSON, no dates)."""

    def __init__(self, sql: str) -> None:
        self.clause = text(sql)
        # dialect name -> (SQL in the driver's parameter style, names of positional parameters)
        self._compiled: dict[str, tuple[str, list[str] | None]] = {}

    def __call__(
        self, conn: Connection, params: Mapping[str, Any]
    ) -> CursorResult[*tuple[Any, ...]]:
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            c = cast(SQLCompiler, self.clause.compile(dialect=conn.dialect))
            compiled = self._compiled[conn.dialect.name] = (
                c.string,
                c.positiontup if c.positional else None,
            )
        sql, positions = compiled
        if positions is not None:
            return conn.exec_driver_sql(sql, tuple(params[k] for k in positions))
        return conn.exec_driver_sql(sql, dict(params))


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A connection for single-statement bookkeeping writes (rate counters, request logs):
    each statement commits on its own, and the caller's transaction, if any, is not involved.
    On SQLite the statements share one short transaction, committed at the end."""
    get_engine()
    assert _autocommit is not None
    with _autocommit.connect() as conn:
        yield conn
        if conn.in_transaction():  # SQLite
            conn.commit()


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def _end(session: Session, commit: bool) -> None:
    if not session.in_transaction():
        session.close()  # it holds no connection: nothing to wait for
        return
    # Like FastAPI's own teardown of sync dependencies: outside the thread pool's limit (a
    # commit must not queue behind requests that wait for this transaction's locks) and
    # shielded, so a client that goes away cannot leave the transaction open.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_finish, session, commit, limiter=anyio.CapacityLimiter(1))


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
