"""POST /leads on PostgreSQL: the whole create in two statements, on the event loop.

The thread path (auth.api_key, leads.service.create_lead) runs eight statements in two
transactions through SQLAlchemy on a database thread. Here, through asyncpg (pg.py):

1. The admission, outside any transaction: the token found and the request counted against
   its limit, in one statement (the same SQL as the thread path's, tokens.service), shared
   by the requests for the same token that arrive while the last one runs (admission.py).
2. The body checked and the lead routed in Python: the account's routing table and the
   postcode's route are cached per process and routing version (offices.routing); a miss
   is worked out once on a database thread.
3. One statement, committed before the response is sent, in one transaction with the other
   creates of the process that are ready at the same moment (storing.py): the person's
   advisory locks and group look-up (``doorstep_person_group``, migration 0018, which sees
   every lead committed by a create that held the locks first), the lead, its
   ``lead.event`` job (the Lead Responder's, the webhooks' and the autocaller's work) and
   the request-log row.

Every guarantee of the thread path holds, proved by the same tests run on both paths
(tests/test_concurrency.py, test_create_pg.py): one parent for a person's simultaneous
creates (the same lock ids as the thread path, so both may run side by side), the rate
limit exact across processes (the same shared counter), a log row for every request, and a
200 only once the lead, its job and its log row are committed.

With ``Idempotency-Key`` the key is claimed, the lead stored and the answer kept in one
transaction (five round trips instead of one). Publishable keys (their origin and
per-address checks) and the valuation endpoint take the thread path."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import orjson
from fastapi import Request
from sqlalchemy import Table, insert

from doorstep import db, idempotency, pg
from doorstep.auth.principal import Actor
from doorstep.config import get_settings
from doorstep.errors import (
    Conflict,
    DoorstepError,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    is_row_id,
)
from doorstep.geo import geography
from doorstep.geo.postcodes import routing_parts
from doorstep.http import parse_body, read_body, validate
from doorstep.jobs import queue
from doorstep.leads import events, serialize, storing
from doorstep.leads.admission import admit
from doorstep.leads.schemas import LeadCreate
from doorstep.leads.service import (
    LEAD_COLUMNS,
    UNKNOWN_VALUES,
    choose_route,
    lead_values,
    no_such_office,
    person_lock_ids,
)
from doorstep.models import RequestLog
from doorstep.models.base import utcnow
from doorstep.models.status import NEW_STATUS_NAME
from doorstep.offices import routing
from doorstep.ops import metrics
from doorstep.tokens import service as tokens
from doorstep.tokens.browser import PAGE_KEY_PREFIX

_WINDOW, _WINDOW_NAMES = pg.positional(tokens.WINDOW_SQL)
assert _WINDOW_NAMES == ["token_id", "window"], _WINDOW_NAMES
_OFFICE = "SELECT name FROM offices WHERE id = $1 AND account_id = $2"
_UNIT, _UNIT_NAMES = pg.positional(geography.UNIT_PLACE)  # the thread path's look-up
assert _UNIT_NAMES == ["unit"], _UNIT_NAMES


def _columns(table: Any, skip: tuple[str, ...] = ()) -> list[str]:
    assert isinstance(table, Table)
    return [c.key for c in table.columns if c.key not in ("id", *skip)]


_LOG_COLUMNS = _columns(RequestLog.__table__, ("lead_id",))
_JOB = ["kind", "account_id", "run_at", "state", "attempts", "max_attempts", "created_at"]


def _create_sql() -> str:
    n = 0

    def params(count: int) -> list[str]:
        nonlocal n
        out = [f"${i}" for i in range(n + 1, n + count + 1)]
        n += count
        return out

    group = params(4)
    lead = params(len(LEAD_COLUMNS))
    (payload,) = params(1)
    job = params(len(_JOB))
    log = params(len(_LOG_COLUMNS))
    # VALUES, not SELECT: each parameter takes its type from the column it fills.
    return f"""
WITH grp AS MATERIALIZED (
    SELECT doorstep_person_group({group[0]}, {group[1]}, {group[2]}, {group[3]}) AS parent_id
), lead AS (
    INSERT INTO leads ({", ".join(LEAD_COLUMNS)}, is_parent, parent_id)
    VALUES ({", ".join(lead)},
        (SELECT parent_id IS NULL FROM grp), (SELECT parent_id FROM grp))
    RETURNING id, is_parent, parent_id
), job AS (
    INSERT INTO jobs ({", ".join(_JOB)}, lead_id, payload)
    VALUES ({", ".join(job)}, (SELECT id FROM lead),
        (SELECT jsonb_set({payload}::jsonb, '{{lead}}', ({payload}::jsonb -> 'lead')
            || jsonb_strip_nulls(jsonb_build_object(
                'id', id, 'is_parent', is_parent, 'parent_id', parent_id)))
         FROM lead))
), logged AS (
    INSERT INTO request_logs ({", ".join(_LOG_COLUMNS)}, lead_id)
    VALUES ({", ".join(log)}, (SELECT id FROM lead))
)
SELECT id, is_parent, parent_id FROM lead
"""


_CREATE = _create_sql()
assert storing.LOCKS == 3, "storing.py finds the person's lock ids as the 4th parameter"
_LOG_ROW, _ = pg.positional(insert(RequestLog).inline(), _LOG_COLUMNS)  # in that order


def _log_args(request: Request, status: int) -> list[Any]:
    """The request's log row (ops.middleware), as the statements' parameters."""
    log = {**request.state.log_entry(status), "created_at": utcnow()}
    return [log[c] for c in _LOG_COLUMNS]


class Response:
    """What api.create_lead sends: the lead object, rendered, or an idempotent replay."""

    def __init__(
        self, body: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.body = body
        self.status = status
        self.headers = headers


def pool_for(request: Request, key: str) -> asyncpg.Pool | None:
    """The pool to create this lead with on this path; None when it takes the thread path
    (no pool: SQLite or DOORSTEP_DB_ASYNC=false; or a publishable key, whose origin and
    per-address checks only that path makes)."""
    if key.startswith((tokens.PUBLISHABLE_PREFIX, PAGE_KEY_PREFIX)):
        return None
    return pg.pool_of(request.app.state)


async def create(request: Request, key: str, pool: asyncpg.Pool) -> Response:
    """Admit, check, route and store a lead; the lead object. Raises the API's errors (401,
    429, 415, 413, 400, 422) and, when the database cannot serve, ``db.Unavailable``."""
    try:
        return await _create(request, key, pool)
    except Exception as e:
        if pg.unavailable(e):
            raise db.Unavailable(f"{type(e).__name__}: {e}") from e
        raise


class _Checked:
    """The body, parsed and checked before a connection is taken (the connection is then held
    for the statements only, not for this work); its error, if any, is raised where the
    thread path raises it: after the key and the rate limit, and with ``Idempotency-Key``
    after the key's claim."""

    def __init__(self, content_type: str | None, raw: bytes | PayloadTooLarge) -> None:
        self.body: Any = None
        self.lead: LeadCreate | None = None
        self.parse_error: DoorstepError | None = None
        self.error: DoorstepError | None = None
        try:
            self.body = parse_body(content_type, raw)
        except DoorstepError as e:
            self.parse_error = e
            return
        try:
            self.lead = validate(LeadCreate, self.body)
        except DoorstepError as e:
            self.error = e

    def parsed(self) -> Any:
        if self.parse_error is not None:
            raise self.parse_error
        return self.body

    def valid(self) -> LeadCreate:
        if self.error is not None:
            raise self.error
        assert self.lead is not None
        return self.lead


async def _create(request: Request, key: str, pool: asyncpg.Pool) -> Response:
    raw = await read_body(request)
    checked = _Checked(request.headers.get("content-type"), raw)
    settings = get_settings()
    admission = await admit(pool, tokens.hash_token(key), settings.rate_limit_per_minute)
    conn = admission.conn
    broken = False
    try:
        if admission.row is None:
            raise Unauthorized("Invalid or revoked API key.")
        token_id, account_id, account_name, limit, version, count = admission.row
        state = request.state
        state.token_id, state.account_id = token_id, account_id  # logged from here on
        if conn is None:
            conn = await pg.acquire(pool)
        if limit > 0 and count is None:
            counts = {}
            for w in (admission.window - 1, admission.window):
                counts[w] = await conn.fetchval(_WINDOW, token_id, w) or 0
            wait = tokens.retry_after(counts, limit, time.time())
            raise RateLimited(
                f"Rate limit of {limit} requests a minute exceeded; retry in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        body = checked.parsed()
        actor = Actor(
            account_id=account_id,
            token_id=token_id,
            account_name=account_name,
            routing_version=version,
        )
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is None:
            lead, args = await _prepared(conn, request, actor, checked.valid())
            # Stored with the other creates that are ready together (storing.py): the
            # connection goes back first, the group takes one of its own.
            held, conn = conn, None
            await pg.release(pool, held)
            stored = _Stored(lead, await storing.store(pool, _CREATE, args))
        else:
            # The key is claimed in the create's own transaction: a second request with the
            # same key waits on the key's unique index until the first commits, then
            # replays its answer (idempotency.py, as on the thread path).
            async with conn.transaction():
                claim_id, replayed = await _claim(conn, request, actor, idempotency_key, body)
                if replayed is not None:
                    assert replayed.replay_status is not None and replayed.replay_body
                    await conn.execute(_LOG_ROW, *_log_args(request, replayed.replay_status))
                    state.logged = True
                    return Response(
                        replayed.replay_body.encode(),
                        replayed.replay_status,
                        {"Idempotent-Replayed": "true"},
                    )
                stored = await _store(conn, request, actor, checked.valid())
                await conn.execute(idempotency.STORE_PG_SQL, claim_id, 200, stored.body.decode())
    except BaseException as e:
        # A fault or a cancellation may leave the connection mid-statement: closed, not
        # reused. The API's own errors (401, 422 ...) leave it idle.
        broken = not isinstance(e, DoorstepError)
        raise
    finally:
        if conn is not None:
            await pg.release(pool, conn, broken=broken)
    state.logged = True
    state.lead_id = stored.lead["id"]
    queue.nudge()  # an in-process worker takes the lead's job at once
    metrics.child(metrics.LEADS_CREATED, stored.lead["type"], stored.lead["source"]).inc()
    metrics.child(metrics.CREATE_PATH, "async").inc()
    return Response(stored.body)


class _Stored:
    def __init__(self, lead: dict[str, Any], row: asyncpg.Record) -> None:
        lead["id"], lead["is_parent"], lead["parent_id"] = row
        self.lead = lead
        self.body = orjson.dumps(lead)


async def _store(
    conn: asyncpg.Connection, request: Request, actor: Actor, data: LeadCreate
) -> _Stored:
    """Route and store the lead with its job and log row: one statement, on ``conn``."""
    lead, args = await _prepared(conn, request, actor, data)
    return _Stored(lead, await conn.fetchrow(_CREATE, *args))


async def _prepared(
    conn: asyncpg.Connection, request: Request, actor: Actor, data: LeadCreate
) -> tuple[dict[str, Any], list[Any]]:
    """The lead object (its id and group still to come) and the create statement's
    parameters: the lead routed, its job and its log row."""
    account_id = actor.account_id
    route = await _route(conn, actor, data)
    values = {**UNKNOWN_VALUES, **lead_values(actor, data, route, "homepage")}
    lead = serialize.from_values(
        {**values, "id": 0, "is_parent": True, "parent_id": None},
        route.office_name,
        actor.account_name,
        NEW_STATUS_NAME,
    )
    now = values["created_at"]
    # The job's payload gets the lead's id and group in the statement (they are made there).
    event = events.payload(events.LEAD_CREATED, lead, at=now)
    job = queue.new_row(
        events.JOB_KIND, event, account_id=account_id, lead_id=None, run_at=now, now=now
    )
    email, phone = values["email_normalized"], values["phone_normalized"]
    args = [
        account_id,
        email,
        phone,
        person_lock_ids(account_id, email, phone),
        *[values[c] for c in LEAD_COLUMNS],
        event,
        *[job[c] for c in _JOB],
        *_log_args(request, 200),
    ]
    return lead, args


async def _claim(
    conn: asyncpg.Connection, request: Request, actor: Actor, key: str, body: Any
) -> tuple[int | None, idempotency.Claim | None]:
    """The key claimed for this request (its row id), or the first response to replay."""
    account_id = actor.account_id
    key = idempotency.checked_key(key)
    digest = idempotency.body_hash(body)
    method, path = request.method, request.url.path
    for _ in range(3):
        claim_id = await conn.fetchval(
            idempotency.CLAIM_PG_SQL, account_id, key, method, path, digest, utcnow()
        )
        if claim_id is not None:
            return claim_id, None
        row = await conn.fetchrow(idempotency.EXISTING_PG_SQL, account_id, key)
        if row is None:
            continue  # pruned meanwhile: claimed afresh
        if row["created_at"] >= utcnow() - idempotency.ttl():
            stored = (
                row["body_hash"],
                row["path"],
                row["method"],
                row["status_code"],
                row["response_body"],
            )
            return None, idempotency.replay(stored, digest, path, method)
        await conn.execute(idempotency.DELETE_PG_SQL, row["id"])  # expired
    raise Conflict(idempotency.CLAIMED_TOO_OFTEN)


async def _route(conn: asyncpg.Connection, actor: Actor, data: LeadCreate) -> routing.Route:
    if data.office_id is not None:
        name = None
        if is_row_id(data.office_id):
            name = await conn.fetchval(_OFFICE, data.office_id, actor.account_id)
        if name is None:
            raise no_such_office(data.office_id)
        return routing.Route(data.office_id, None, "explicit", office_name=name)
    pc = routing.routing_postcode(data.type, data.postcode, data.advert_postcode)
    account_id, version = actor.account_id, actor.routing_version
    assert version is not None
    table = routing.known_table(account_id, version)
    if table is None:
        # The account's table not read by this process at this version: once, on a
        # database thread.
        return await db.in_thread(_route_in_session, actor, data)
    parts = routing_parts(pc)
    if not parts:
        return table.default
    settled = routing.settled_route(table, account_id, version, parts)
    if settled is not None:
        return settled
    # Where the postcode is decides: its unit's imported place, if it has one (the shipped
    # sector and district centroids are in memory). One look-up on this connection, not a
    # database thread: most leads' postcodes are new to the process.
    unit = await conn.fetchrow(_UNIT, parts[3]) if len(parts) == 4 else None
    location = geography.locate_parts(parts, unit and tuple(unit))
    return routing.place(table, account_id, version, parts, location)


def _route_in_session(actor: Actor, data: LeadCreate) -> routing.Route:
    with db.session_factory()() as session:
        return choose_route(session, actor, data)
