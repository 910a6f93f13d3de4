"""API tokens: created shown-once, stored as a SHA-256 hash, revocable at once; request logs
and per-token rate limits shared by every process through the database."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed, is_row_id
from doorstep.models import ApiToken, RequestLog, TokenOrigin, TokenUsage
from doorstep.models.base import utcnow
from doorstep.statements import Direct, Statement

TOKEN_PREFIX = "ds_"


def publishable_hash(conn: Direct, token_id: int) -> str | None:
    """The stored hash of a live publishable token (a hosted page's key names the token)."""
    rows = _PUBLISHABLE_HASH.run(conn, {"token_id": token_id})
    return str(rows[0][0]) if rows else None


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str


MAX_RATE_LIMIT = 1_000_000
PUBLISHABLE_PREFIX = "ds_pub_"
MAX_ORIGINS = 20


def create_token(
    session: Session,
    account_id: int,
    name: str,
    rate_limit: int | None = None,
    *,
    publishable: bool = False,
    origins: Iterable[str] = (),
    address_rate_limit: int | None = None,
) -> NewToken:
    """A secret token (servers: every endpoint, no browser) or, with ``publishable``, a key
    a web page may hold: create-only, from ``origins`` only (CONTRACT.md)."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        errors["name"] = ["The token name must be 1 to 100 characters."]
    for field, limit in (("rate_limit", rate_limit), ("address_rate_limit", address_rate_limit)):
        if limit is not None and not 0 <= limit <= MAX_RATE_LIMIT:
            errors[field] = [
                f"The rate limit must be 0 (unlimited) to {MAX_RATE_LIMIT:,} requests a minute."
            ]
    allowed: list[str] = []
    if publishable:
        try:
            allowed = check_origins(origins)
        except ValidationFailed as e:
            errors.update(e.errors or {})
    elif list(origins) or address_rate_limit is not None:
        errors["publishable"] = [
            "Origins and a per-address limit are for publishable tokens: a secret token is "
            "never used from a browser."
        ]
    if errors:
        raise ValidationFailed(errors)
    prefix = PUBLISHABLE_PREFIX if publishable else TOKEN_PREFIX
    secret = prefix + secrets.token_urlsafe(32)
    token = ApiToken(
        account_id=account_id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:10],
        rate_limit_per_minute=rate_limit,
        publishable=publishable,
        address_rate_limit_per_minute=address_rate_limit,
    )
    session.add(token)
    session.flush()
    for origin in allowed:
        session.add(TokenOrigin(token_id=token.id, origin=origin))
    session.flush()
    return NewToken(token, secret)


def check_origins(origins: Iterable[str]) -> list[str]:
    """Each origin in the form a browser sends it (``https://www.agency.co.uk``), once; at
    least one. A 422 naming every one that is not an origin."""
    out: list[str] = []
    bad: list[str] = []
    for raw in origins:
        if not (raw or "").strip():
            continue
        origin = normalise_origin(raw)
        if origin is None:
            bad.append(
                f"'{raw.strip()[:100]}' is not a web origin: write it as https://www.agency.co.uk "
                "(scheme and host, and a port if not the usual one; no path)."
            )
        elif origin not in out:
            out.append(origin)
    if bad:
        raise ValidationFailed({"origins": bad})
    if not out:
        raise ValidationFailed(
            {"origins": ["A publishable token needs the web origins it may be used from."]}
        )
    if len(out) > MAX_ORIGINS:
        raise ValidationFailed({"origins": [f"At most {MAX_ORIGINS} origins a token."]})
    return out


def normalise_origin(value: str) -> str | None:
    """``https://WWW.Agency.co.uk:443/`` -> ``https://www.agency.co.uk``: the serialisation a
    browser's Origin header uses; None for anything that is not an http(s) origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    if "*" in host or len(host) > 200:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    scheme = parts.scheme.lower()
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{_bracketed(host)}:{port}"
    return f"{scheme}://{_bracketed(host)}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def origins_of(session: Session, token_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {tid: [] for tid in token_ids}
    rows = session.execute(
        select(TokenOrigin.token_id, TokenOrigin.origin)
        .where(TokenOrigin.token_id.in_(token_ids))
        .order_by(TokenOrigin.id)
    )
    for token_id, origin in rows:
        out[token_id].append(origin)
    return out


def set_origins(
    session: Session, account_id: int | None, token_id: int, origins: Iterable[str]
) -> ApiToken:
    """Replace a publishable token's origins (takes effect with the next request)."""
    token = get_token(session, account_id, token_id)
    if not token.publishable:
        raise ValidationFailed(
            {"origins": ["Only a publishable token has origins: a secret token is never "
                         "used from a browser."]}
        )  # fmt: skip
    allowed = check_origins(origins)
    session.execute(delete(TokenOrigin).where(TokenOrigin.token_id == token.id))
    for origin in allowed:
        session.add(TokenOrigin(token_id=token.id, origin=origin))
    session.flush()
    return token


def get_token(session: Session, account_id: int | None, token_id: int) -> ApiToken:
    q = select(ApiToken).where(ApiToken.id == token_id)
    if account_id is not None:
        q = q.where(ApiToken.account_id == account_id)
    token = session.scalar(q) if is_row_id(token_id) else None
    if token is None:
        raise NotFound(f"There is no token {token_id}.")
    return token


def revoke_token(session: Session, account_id: int | None, token_id: int) -> ApiToken:
    token = get_token(session, account_id, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


@dataclass(frozen=True)
class Admission:
    """A live token presented with a request, and that request counted against its limit."""

    token_id: int
    account_id: int
    account_name: str
    limit: int  # requests a minute; 0 = unlimited
    retry_after: int  # seconds; 0 = allowed
    routing_version: int  # the account's (see offices.routing)
    publishable: bool = False
    address_limit: int | None = None  # a publishable token's own; None: the server default


# PostgreSQL: find the live token and count the request in one statement (one round trip).
# set_config(..., true) turns synchronous commit off for this statement's own transaction:
# a counter is bookkeeping, it need not wait for the WAL flush.
ADMIT_PG_SQL = """
    WITH token AS (
        SELECT t.id, t.account_id, a.name,
            coalesce(t.rate_limit_per_minute, :default_limit) AS lim, a.routing_version,
            t.publishable, t.address_rate_limit_per_minute
        FROM api_tokens t JOIN accounts a ON a.id = t.account_id
        WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL
    ), prev AS (
        SELECT coalesce(max(count), 0) * :weight AS carried FROM rate_counters
        WHERE token_id = (SELECT id FROM token) AND "window" = :window - 1
    ), counted AS (
        INSERT INTO rate_counters (token_id, "window", count)
        SELECT id, :window, CAST(:n AS INTEGER) FROM token, prev
        WHERE lim > 0 AND :n + prev.carried <= lim
        ON CONFLICT (token_id, "window") DO UPDATE SET count = rate_counters.count + :n
        WHERE rate_counters.count + :n + (SELECT carried FROM prev)
            <= (SELECT lim FROM token)
        RETURNING count
    )
    SELECT token.id, token.account_id, token.name, token.lim, token.routing_version,
        (SELECT count FROM counted), token.publishable, token.address_rate_limit_per_minute,
        set_config('synchronous_commit', 'off', true)
    FROM token
    """
_ADMIT_PG = Statement(ADMIT_PG_SQL)
# SQLite (no data-modifying CTEs): the same in two statements.
_FIND = Statement(
    """
    SELECT t.id, t.account_id, a.name, coalesce(t.rate_limit_per_minute, :default_limit),
        a.routing_version, t.publishable, t.address_rate_limit_per_minute
    FROM api_tokens t JOIN accounts a ON a.id = t.account_id
    WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL
    """
)
_PUBLISHABLE_HASH = Statement(
    "SELECT token_hash FROM api_tokens WHERE id = :token_id AND publishable AND revoked_at IS NULL"
)
_COUNT = Statement(
    """
    INSERT INTO rate_counters (token_id, "window", count)
    SELECT :token_id, :window, 1 WHERE 1 + :carried <= :lim
    ON CONFLICT (token_id, "window") DO UPDATE SET count = rate_counters.count + 1
    WHERE rate_counters.count + 1 + :carried <= :lim
    RETURNING count
    """
)
WINDOW_SQL = 'SELECT count FROM rate_counters WHERE token_id = :token_id AND "window" = :window'
_WINDOW = Statement(WINDOW_SQL)


def admit(
    conn: Direct,
    secret: str,
    default_limit: int,
    now: float | None = None,
    *,
    token_hash: str | None = None,
) -> Admission | None:
    """The live token for a presented key, with this request counted in the token's current
    minute; None for an unknown or revoked key. Run it outside the request's transaction
    (``statements.autocommit``): the counter row is hot, its lock is held only a moment.

    A sliding minute, counted in one-minute windows of a shared table (so the limit holds
    across processes and hosts): a request is admitted while the admitted requests of this
    window, plus the last window's weighted by how much of it the last 60 s still cover, stay
    within the limit. Fixed windows let twice the limit through across a minute's turn (the
    limit at :59 and again at :00). Refused requests are not counted. Revocation takes effect
    on the next request: nothing is cached."""
    if not secret and token_hash is None:
        return None
    now = time.time() if now is None else now
    params = admission_params(token_hash or hash_token(secret), default_limit, now)
    window, weight = params["window"], params["weight"]
    if conn.dialect.name == "postgresql":
        rows = _ADMIT_PG.run(conn, params)
        if not rows:
            return None
        token_id, account_id, account_name, limit, version, count = rows[0][:6]
        publishable, address_limit = rows[0][6:8]
    else:
        rows = _FIND.run(conn, params)
        if not rows:
            return None
        token_id, account_id, account_name, limit, version, publishable, address_limit = rows[0]
        count = None
        if limit > 0:
            last = _WINDOW.run(conn, {"token_id": token_id, "window": window - 1})
            carried = (last[0][0] if last else 0) * weight
            counted = _COUNT.run(
                conn, {"token_id": token_id, "window": window, "carried": carried, "lim": limit}
            )
            count = counted[0][0] if counted else None
    wait = 0
    if limit > 0 and count is None:
        counts = {
            w: (rows[0][0] if rows else 0)
            for w in (window - 1, window)
            for rows in [_WINDOW.run(conn, {"token_id": token_id, "window": w})]
        }
        wait = retry_after(counts, limit, now)
    return Admission(
        token_id, account_id, account_name, limit, wait, version, bool(publishable), address_limit
    )


def admission_params(token_hash: str, default_limit: int, now: float, n: int = 1) -> dict[str, Any]:
    """The parameters of ``ADMIT_PG_SQL`` (and of SQLite's statements) for a request now;
    ``n``: the requests counted together, all or none (the API's create path admits the
    requests for one token that arrived together in one statement, ``leads.admission``)."""
    return {
        "token_hash": token_hash,
        "default_limit": default_limit,
        "n": n,
        "window": int(now // 60),
        # Of the last window, the share still inside the last 60 seconds.
        "weight": 1 - (now % 60) / 60,
    }


def retry_after(counts: dict[int, int], limit: int, now: float) -> int:
    """Seconds until one more request fits, if none is admitted meanwhile (refused only):
    ``counts`` has the admitted requests of the current window and the last."""
    for wait in range(1, 121):
        later = now + wait
        w = int(later // 60)
        carried = counts.get(w - 1, 0) * (1 - (later % 60) / 60)
        if counts.get(w, 0) + 1 + carried <= limit:
            return wait
    return 120


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


_LOG_COLUMNS = [c.key for c in RequestLog.__table__.columns if c.key != "id"]
_LOG = Statement(insert(RequestLog), _LOG_COLUMNS)
# As for the rate counter: a row written in its own transaction, after the response, is
# bookkeeping; it need not wait for the WAL flush.
_LOG_UNFLUSHED = Statement(
    insert(RequestLog).returning(func.set_config("synchronous_commit", "off", True)),
    _LOG_COLUMNS,
)


def write_log(conn: Direct, **fields: object) -> None:
    """One request-log row, in its own transaction (``statements.autocommit``)."""
    statement = _LOG_UNFLUSHED if conn.dialect.name == "postgresql" else _LOG
    statement.run(conn, {"created_at": utcnow(), **fields})


def log_in_transaction(conn: Connection, **fields: object) -> None:
    """One request-log row, inside the caller's transaction: committed with its work."""
    _LOG.run(conn, {"created_at": utcnow(), **fields})
