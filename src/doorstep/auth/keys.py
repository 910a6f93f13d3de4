"""The key that signs dashboard sessions, CSRF tokens and the links Doorstep sends.

There is no key in the source. ``DOORSTEP_SECRET_KEY`` (at least 32 bytes) is used when the
operator sets one; otherwise the first process to start generates a random key and stores it
in the database (``instance_keys``), where every later start, every server process and every
worker on every host finds the same one. Rolling it (``doorstep keys rotate``, or a new
``DOORSTEP_SECRET_KEY``) ends every dashboard session and every link signed with the old key
once the servers restart."""

from __future__ import annotations

import os
import secrets

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from doorstep.config import get_settings
from doorstep.models.base import utcnow
from doorstep.models.instance import InstanceKey

SESSION_KEY = "session_signing"

_current: str | None = None


def _generate() -> str:
    return secrets.token_urlsafe(48)  # 64 characters, 384 random bits


def _stored(engine: Engine) -> str:
    """The stored key, generated on first use. Two processes starting at once both try to
    insert; the second's insert does nothing and both read the first's key."""
    ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as conn:
        value = conn.scalar(select(InstanceKey.value).where(InstanceKey.name == SESSION_KEY))
        if value:
            return str(value)
        conn.execute(
            ins(InstanceKey)
            .values(name=SESSION_KEY, value=_generate(), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return str(conn.scalar(select(InstanceKey.value).where(InstanceKey.name == SESSION_KEY)))


def load(engine: Engine) -> str:
    """Read (or create) this installation's key and keep it for this process."""
    global _current
    configured = get_settings().secret_key
    if configured:
        _current = configured
    else:
        _current = _stored(engine)
        _owner_only(engine)
    return _current


def _owner_only(engine: Engine) -> None:
    """A SQLite database now holds the key: only its owner may read the file (SQLite gives
    its -wal and -shm files the database file's permissions)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        return
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name):
            os.chmod(name, 0o600)


def current() -> str:
    if _current is None:
        from doorstep import db

        return load(db.get_engine())
    return _current


def source() -> str:
    return "DOORSTEP_SECRET_KEY" if get_settings().secret_key else "the database"


def rotate(engine: Engine) -> None:
    """Replace the stored key with a new random one."""
    global _current
    with engine.begin() as conn:
        conn.execute(delete(InstanceKey).where(InstanceKey.name == SESSION_KEY))
        conn.execute(
            insert(InstanceKey).values(name=SESSION_KEY, value=_generate(), created_at=utcnow())
        )
    _current = None
