"""``Idempotency-Key`` on POST: the same key and body within 24 hours replays the first
response and creates nothing; the same key with another body is a 409.

The key row is claimed with an insert in the request's own transaction, so a concurrent
request with the same key waits on the unique index until the first commits (PostgreSQL) or
on the write lock (SQLite), then replays its stored response."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from doorstep.config import get_settings
from doorstep.errors import Conflict, ValidationFailed
from doorstep.models import IdempotencyKey
from doorstep.models.base import utcnow


@dataclass
class Claim:
    row_id: int | None = None
    replay_status: int | None = None
    replay_body: str | None = None

    @property
    def is_replay(self) -> bool:
        return self.replay_status is not None


def body_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def checked_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= 255:
        raise ValidationFailed.field("Idempotency-Key", "The key must be 1 to 255 characters.")
    return key


def ttl() -> timedelta:
    return timedelta(hours=get_settings().idempotency_ttl_hours)


def replay(stored: tuple[str, str, str, int, str], digest: str, path: str, method: str) -> Claim:
    """What a request gets when its key was used before (``stored``: body hash, path,
    method, status, response body): the first response, or 409 for another request."""
    stored_hash, stored_path, stored_method, status, response = stored
    if stored_hash != digest or stored_path != path or stored_method != method:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body or endpoint."
        )
    return Claim(replay_status=status, replay_body=response)


# The same two steps for PostgreSQL's asyncpg create path (leads/create_pg.py).
CLAIM_PG_SQL = """
INSERT INTO idempotency_keys
    (account_id, key, method, path, body_hash, status_code, response_body, created_at)
VALUES ($1, $2, $3, $4, $5, 0, '', $6)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING id
"""
EXISTING_PG_SQL = """
SELECT id, created_at, body_hash, path, method, status_code, response_body
FROM idempotency_keys WHERE account_id = $1 AND key = $2
FOR UPDATE
"""
DELETE_PG_SQL = "DELETE FROM idempotency_keys WHERE id = $1"
STORE_PG_SQL = "UPDATE idempotency_keys SET status_code = $2, response_body = $3 WHERE id = $1"
CLAIMED_TOO_OFTEN = "This Idempotency-Key is being claimed by another request; try again."


def claim(session: Session, account_id: int, key: str, method: str, path: str, body: Any) -> Claim:
    key = checked_key(key)
    digest = body_hash(body)
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claim_key = (
        ins(IdempotencyKey)
        .values(
            account_id=account_id,
            key=key,
            method=method,
            path=path,
            body_hash=digest,
            status_code=0,
            response_body="",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["account_id", "key"])
        .returning(IdempotencyKey.id)
    )
    existing = (
        select(IdempotencyKey)
        .where(IdempotencyKey.account_id == account_id, IdempotencyKey.key == key)
        .with_for_update()
    )
    # The key's row may be pruned (it had expired) between the insert that met it and the
    # read that locks it; an expired row is deleted here. Either way the insert is tried
    # again and claims the key afresh, with a new id: ids stay in order of creation, which
    # retention.prune relies on to find old rows without scanning the table.
    for _ in range(3):
        row_id = session.execute(claim_key).scalar()
        if row_id is not None:
            return Claim(row_id=row_id)
        row = session.scalar(existing)
        if row is None:
            continue
        if row.created_at >= utcnow() - ttl():
            break
        session.delete(row)
        session.flush()
    else:
        raise Conflict(CLAIMED_TOO_OFTEN)
    stored = (row.body_hash, row.path, row.method, row.status_code, row.response_body)
    return replay(stored, digest, path, method)


def store(session: Session, claim_: Claim, status: int, body: str) -> None:
    row = session.get(IdempotencyKey, claim_.row_id)
    assert row is not None
    row.status_code, row.response_body = status, body
    session.flush()
