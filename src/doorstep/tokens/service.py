"""API tokens: created shown-once, stored as a SHA-256 hash, revocable at once; request logs
and per-token rate limits shared by every process through the database."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed
from doorstep.models import ApiToken, RateCounter, RequestLog, TokenUsage
from doorstep.models.base import utcnow

TOKEN_PREFIX = "ds_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str


def create_token(
    session: Session, account_id: int, name: str, rate_limit: int | None = None
) -> NewToken:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        errors["name"] = ["The token name must be 1 to 100 characters."]
    if rate_limit is not None and rate_limit < 0:
        errors["rate_limit"] = ["The rate limit must be 0 (unlimited) or more requests a minute."]
    if errors:
        raise ValidationFailed(errors)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        account_id=account_id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:10],
        rate_limit_per_minute=rate_limit,
    )
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def get_token(session: Session, account_id: int | None, token_id: int) -> ApiToken:
    q = select(ApiToken).where(ApiToken.id == token_id)
    if account_id is not None:
        q = q.where(ApiToken.account_id == account_id)
    token = session.scalar(q)
    if token is None:
        raise NotFound(f"There is no token {token_id}.")
    return token


def revoke_token(session: Session, account_id: int | None, token_id: int) -> ApiToken:
    token = get_token(session, account_id, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def authenticate(session: Session, secret: str) -> ApiToken | None:
    """The live token for a presented key, or None (unknown or revoked)."""
    if not secret:
        return None
    return session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    )


def effective_limit(token: ApiToken, default: int) -> int:
    return default if token.rate_limit_per_minute is None else token.rate_limit_per_minute


def hit_rate_limit(session: Session, token_id: int, limit: int, now: float | None = None) -> int:
    """Count one request in the token's current minute; return seconds to wait (0 = allowed).

    Fixed one-minute windows in a shared table, so the limit holds across processes and
    hosts. The caller runs this in its own short transaction: the counter row is hot."""
    if limit <= 0:
        return 0
    now = time.time() if now is None else now
    window = int(now // 60)
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        ins(RateCounter)
        .values(token_id=token_id, window=window, count=1)
        .on_conflict_do_update(
            index_elements=["token_id", "window"], set_={"count": RateCounter.count + 1}
        )
        .returning(RateCounter.count)
    )
    count = session.execute(stmt).scalar_one()
    if count == 1 and window % 10 == 0:
        # Old windows are useless; sweep them now and then.
        session.execute(
            delete(RateCounter).where(
                RateCounter.token_id == token_id, RateCounter.window < window - 1
            )
        )
    if count > limit:
        return max(1, int(60 - (now % 60)) + 1)
    return 0


@dataclass(frozen=True)
class TokenStats:
    requests: int
    successes: int
    failures: int
    last_used_at: datetime | None


# Logs younger than this may still be committing out of id order; they are counted on the fly
# and folded into the stored totals later.
SETTLE_SECONDS = 10


def _tail(session: Session, token_id: int, after_id: int, settled: bool, cutoff: datetime) -> Any:
    age = RequestLog.created_at < cutoff if settled else RequestLog.created_at >= cutoff
    return session.execute(
        select(
            func.count(),
            func.sum(case((RequestLog.status_code < 400, 1), else_=0)),
            func.max(RequestLog.created_at),
            func.max(RequestLog.id),
        ).where(RequestLog.token_id == token_id, RequestLog.id > after_id, age)
    ).one()


def stats(session: Session, token_ids: list[int]) -> dict[int, TokenStats]:
    """Requests, successes, failures and last use per token.

    Stored totals (token_usage) cover the log up to a settled id; only the log after it is
    counted here, over the (token_id, id) index, and settled rows are folded in with a
    compare-and-set so concurrent readers never count a row twice."""
    stored = {
        u.token_id: u
        for u in session.scalars(select(TokenUsage).where(TokenUsage.token_id.in_(token_ids)))
    }
    cutoff = utcnow() - timedelta(seconds=SETTLE_SECONDS)
    out: dict[int, TokenStats] = {}
    for tid in token_ids:
        base = stored.get(tid)
        last_id = base.last_log_id if base else 0
        requests = base.requests if base else 0
        successes = base.successes if base else 0
        last_used = base.last_used_at if base else None
        n, ok, newest, max_id = _tail(session, tid, last_id, True, cutoff)
        if n:
            requests, successes = requests + int(n), successes + int(ok or 0)
            last_used = max(filter(None, (last_used, newest)), default=None)
            _fold(session, tid, last_id, int(max_id), requests, successes, last_used)
        fn, fok, fnewest, _ = _tail(session, tid, last_id, False, cutoff)
        total, good = requests + int(fn or 0), successes + int(fok or 0)
        last_used = max(filter(None, (last_used, fnewest)), default=None)
        out[tid] = TokenStats(total, good, total - good, last_used)
    return out


def _fold(
    session: Session,
    token_id: int,
    expected_last_id: int,
    last_id: int,
    requests: int,
    successes: int,
    last_used: datetime | None,
) -> None:
    values = {
        "last_log_id": last_id,
        "requests": requests,
        "successes": successes,
        "last_used_at": last_used,
    }
    if expected_last_id == 0:
        ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            ins(TokenUsage).values(token_id=token_id, **values).on_conflict_do_nothing()
        )
    else:
        session.execute(
            update(TokenUsage)
            .where(TokenUsage.token_id == token_id, TokenUsage.last_log_id == expected_last_id)
            .values(**values)
        )


def list_tokens(session: Session, account_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id)
        )
    )


def write_log(session: Session, **fields: object) -> None:
    session.execute(insert(RequestLog).values(**fields))
