"""Fresh databases for the benches: each run starts from an empty one of its own."""

from __future__ import annotations

import os

import psycopg
from sqlalchemy.engine import URL, make_url

from doorstep.db import normalise_url


def as_url(url: str | URL) -> URL:
    return make_url(normalise_url(url)) if isinstance(url, str) else url


def libpq(url: str | URL) -> str:
    """The URL as psycopg takes it (no SQLAlchemy driver name)."""
    return as_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def drop_database(url: str | URL) -> None:
    """Remove the database (an SQLite file with its journal, or a PostgreSQL database)."""
    u = as_url(url)
    if u.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            if u.database and os.path.exists(u.database + suffix):
                os.remove(u.database + suffix)
        return
    with psycopg.connect(libpq(u.set(database="postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


def fresh_database(url: str | URL) -> None:
    """An empty database at the URL, whatever was there before."""
    u = as_url(url)
    drop_database(u)
    if u.get_backend_name() != "sqlite":  # SQLite creates its file on first connect
        with psycopg.connect(libpq(u.set(database="postgres")), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{u.database}"')
