"""Statements that run on every API request, executed straight on the DB-API connection.

SQLAlchemy's execution layer (execution context, result objects, events) costs several times
what PostgreSQL spends on a small statement, and the create-lead path runs half a dozen of
them: measured with ``make bench``, that layer alone decided whether Doorstep kept up with a
bare FastAPI endpoint. A Statement is still written with SQLAlchemy (``text()`` or Core),
compiled once per dialect, and its parameters go through the columns' own bind processors,
so what is stored is exactly what the ORM would store. Results come back as plain tuples.

Everything else (the dashboard, the CLI, reads and updates) uses the ORM as usual.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast

from psycopg.types.json import Json, Jsonb
from sqlalchemy import ClauseElement, Connection, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from doorstep import db


class Direct(NamedTuple):
    """A DB-API connection outside any SQLAlchemy transaction, with its dialect."""

    connection: Any
    dialect: Dialect


@contextmanager
def autocommit(connection: Connection | None = None) -> Iterator[Direct]:
    """Single-statement bookkeeping writes (rate counters, request logs), each committed on
    its own, outside any request transaction: on ``connection`` (which must not be in a
    transaction), else on a connection checked out of the pool for the purpose."""
    engine = db.get_engine()
    pooled = connection.connection if connection is not None else engine.raw_connection()
    driver: Any = pooled.driver_connection
    sqlite = db.is_sqlite(engine)
    try:
        if not sqlite:  # SQLite connections already run each statement on its own
            driver.autocommit = True
        yield Direct(driver, engine.dialect)
    finally:
        try:
            if not sqlite:
                driver.autocommit = False
        except Exception:
            # A broken connection must not go back to the pool.
            if connection is not None:
                connection.invalidate()
            else:
                pooled.invalidate()
        if connection is None:
            pooled.close()


_ROWS = re.compile(r"^\s*(SELECT|WITH)\b|\bRETURNING\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: list[str] | None  # parameter names in order, for positional drivers
    processors: dict[str, Callable[[Any], Any]]
    fixed: dict[str, Any]  # values bound in the statement itself (e.g. SQLite's OFFSET 0)
    returns_rows: bool  # known here: asking the cursor costs psycopg more than the fetch


class Statement:
    """A statement compiled once per dialect, run on the DB-API cursor of a Session's
    connection (inside its transaction) or of ``autocommit()``."""

    def __init__(
        self,
        statement: ClauseElement | str,
        column_keys: Sequence[str] = (),
        *,
        as_text: bool = False,
    ) -> None:
        self.statement = text(statement) if isinstance(statement, str) else statement
        # For an INSERT: the columns sent (the others are left to the database).
        self.column_keys = list(column_keys)
        # PostgreSQL: send every parameter as text of no declared type, for PostgreSQL to
        # read as the column (or cast) it meets. psycopg prepares a statement once it has
        # run five times with the same parameter types, and a NULL has none of its own: a
        # statement with many optional columns (a lead) is otherwise parsed and planned
        # afresh for each combination of the columns a request leaves out.
        self.as_text = as_text
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        c = cast(
            SQLCompiler,
            self.statement.compile(dialect=dialect, column_keys=self.column_keys or None),
        )
        processors: dict[str, Callable[[Any], Any]] = {}
        fixed = {}
        for name, bind in c.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
            if bind.value is not None:
                fixed[name] = bind.value
        positions = list(c.positiontup or []) if c.positional else None
        returns_rows = bool(c.effective_returning) or bool(_ROWS.search(c.string))
        return _Compiled(c.string, positions, processors, fixed, returns_rows)

    def run(self, conn: Connection | Direct, params: Mapping[str, Any]) -> list[Any]:
        """Execute with ``params``; the rows it returns, if any, as tuples."""
        if isinstance(conn, Connection):
            conn = Direct(conn.connection.driver_connection, conn.dialect)
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            compiled = self._compiled[conn.dialect.name] = self._compile(conn.dialect)
        if compiled.fixed:
            params = {**compiled.fixed, **params}
        if compiled.processors:
            params = {
                k: (compiled.processors[k](v) if k in compiled.processors else v)
                for k, v in params.items()
            }
        if self.as_text and conn.dialect.name == "postgresql":
            params = {k: _as_text(v) for k, v in params.items()}
        cursor = conn.connection.execute(
            compiled.sql,
            dict(params) if compiled.positions is None else [params[k] for k in compiled.positions],
        )
        try:
            return cursor.fetchall() if compiled.returns_rows else []
        finally:
            cursor.close()


def _as_text(value: Any) -> str | None:
    """A bound value as PostgreSQL reads it from text (see Statement's ``as_text``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)  # a float's str() is the shortest text that reads back the same
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Json | Jsonb):  # SQLAlchemy's JSON(B) values for psycopg
        return json.dumps(value.obj)
    raise TypeError(f"cannot send a {type(value).__name__} as text")
