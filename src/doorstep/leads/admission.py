"""The create path's admission on PostgreSQL, shared by the requests that arrive together.

Every create finds its token and is counted against the token's limit in a transaction of its
own, before the lead is stored: the counter row is hot, and held across the create's commit
it would queue all of a token's creates behind each commit's WAL flush. That is one more
statement, round trip and commit a request, about a sixth of the create's cost (``make
bench``). Here, as group commit does for WAL flushes, the requests of one server process for
one token that arrive while that token's admission statement is running wait for it, and are
then admitted together by the next statement: found once, counted all at once (``n`` in
``tokens.ADMIT_PG_SQL``). A lone request waits for nothing: its statement runs at once.

The limit stays exact across processes and hosts: a group is counted whole or not at all,
so the shared counter never passes the limit; a group refused whole (too near the limit for
all of it) is admitted again a request at a time, so each request that still fits gets in,
as with one statement a request. Revocation still takes effect on the next request: a
request is admitted by a statement that started after it arrived.

The statement's connection is handed to the first request of its group for the create, as a
lone request's always was; the others take one from the pool."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from doorstep import pg
from doorstep.ops import metrics
from doorstep.tokens import service as tokens

_ADMIT, _ADMIT_NAMES = pg.positional(tokens.ADMIT_PG_SQL)

# (token id, account id, account name, limit, routing version, count): count is the request's
# place in its minute's window, None when refused (a limited token) or not counted (0).
Row = tuple[int, int, str, int, int, int | None]


@dataclass
class Admission:
    row: Row | None  # None: no live token for the key
    window: int  # the minute the request was counted in
    conn: asyncpg.Connection | None = None  # the statement's, for this request to use
    again: bool = False  # its group refused whole: to be admitted on its own


@dataclass
class _Asked:
    """One request's seat in its token's next group."""

    done: asyncio.Future[Admission]


@dataclass
class _Token:
    """A token with a statement running in this process: the requests for the next one."""

    waiting: list[_Asked]
    task: asyncio.Task[None] | None = None  # held here: the loop keeps only weak references


_running: dict[tuple[int, str], _Token] = {}  # (pool, token hash) -> the next group


async def admit(pool: asyncpg.Pool, token_hash: str, default_limit: int) -> Admission:
    """Admit this request with whichever others for the same token are waiting; its
    connection, if the statement's was handed to it, is this caller's to release."""
    key = (id(pool), token_hash)
    asked = _Asked(asyncio.get_running_loop().create_future())
    token = _running.get(key)
    if token is None:
        _running[key] = token = _Token([asked])
        token.task = asyncio.get_running_loop().create_task(_run(pool, key, token, default_limit))
    else:
        token.waiting.append(asked)
    try:
        admission = await asked.done
    except asyncio.CancelledError:
        # Cancelled after its group's answer came: a connection handed to it goes back.
        if asked.done.done() and not asked.done.cancelled():
            handed = asked.done.result().conn
            if handed is not None:
                asyncio.get_running_loop().create_task(pg.release(pool, handed))
        raise
    if admission.again:
        # Its group was refused whole: this request on its own (on the group's connection,
        # if it was handed this one).
        return await _alone(pool, token_hash, default_limit, admission.conn)
    return admission


async def _run(pool: asyncpg.Pool, key: tuple[int, str], token: _Token, default_limit: int) -> None:
    """Run the token's statements while requests wait for one."""
    try:
        while token.waiting:
            group, token.waiting = token.waiting, []
            group = [a for a in group if not a.done.done()]  # not cancelled meanwhile
            if group:
                await _admit_group(pool, key[1], default_limit, group)
    finally:
        del _running[key]
        for asked in token.waiting:  # only if this task itself failed or was cancelled
            asked.done.cancel()


async def _admit_group(
    pool: asyncpg.Pool, token_hash: str, default_limit: int, group: list[_Asked]
) -> None:
    n = len(group)
    params = tokens.admission_params(token_hash, default_limit, time.time(), n)
    try:
        conn, record = await _admitted(pool, [params[k] for k in _ADMIT_NAMES])
    except BaseException as e:
        # The database cannot serve (each request answers 503), or this task was cancelled
        # (the server stopping): no request of the group waits on.
        fail_all([asked.done for asked in group], e)
        if isinstance(e, Exception):
            return
        raise
    metrics.ADMISSION_STATEMENTS.inc()
    metrics.ADMISSION_REQUESTS.inc(n)
    window = params["window"]
    answers: list[Admission]
    if record is None:
        answers = [Admission(None, window) for _ in group]
    else:
        token_id, account_id, name, limit, version, count = tuple(record)[:6]
        if limit > 0 and count is None and n > 1:
            # Refused whole: each request again on its own.
            answers = [Admission(None, window, again=True) for _ in group]
        else:
            answers = [
                Admission(
                    (
                        token_id,
                        account_id,
                        name,
                        limit,
                        version,
                        None if count is None else count - n + 1 + i,
                    ),
                    window,
                )
                for i in range(n)
            ]
    for asked, answer in zip(group, answers, strict=True):
        if asked.done.done():  # cancelled while the statement ran
            continue
        if conn is not None:
            answer.conn, conn = conn, None
        asked.done.set_result(answer)
    if conn is not None:  # every request of the group gone
        await pg.release(pool, conn)


async def _alone(
    pool: asyncpg.Pool, token_hash: str, default_limit: int, conn: asyncpg.Connection | None
) -> Admission:
    params = tokens.admission_params(token_hash, default_limit, time.time())
    args = [params[k] for k in _ADMIT_NAMES]
    if conn is None:
        conn, record = await _admitted(pool, args)
    else:
        try:
            record = await conn.fetchrow(_ADMIT, *args)
        except BaseException:
            await pg.release(pool, conn, broken=True)
            raise
    metrics.ADMISSION_STATEMENTS.inc()
    metrics.ADMISSION_REQUESTS.inc()
    row = None if record is None else tuple(record)[:6]
    return Admission(row, params["window"], conn)


async def _admitted(
    pool: asyncpg.Pool, args: list[Any]
) -> tuple[asyncpg.Connection, asyncpg.Record | None]:
    """A pooled connection, and the admission's row run on it (None: no live token)."""
    conn = await pg.acquire(pool)
    try:
        return conn, await conn.fetchrow(_ADMIT, *args)
    except BaseException as e:
        await pg.release(pool, conn, broken=True)
        if not pg.closed(e):
            raise
    # Closed under us since its last use (a database restart): once more on a fresh
    # connection. The statement did not run on the closed one, and the pool's other idle
    # connections were closed by the same restart: they are replaced as they are next taken.
    await pool.expire_connections()
    conn = await pg.acquire(pool)
    try:
        return conn, await conn.fetchrow(_ADMIT, *args)
    except BaseException:
        await pg.release(pool, conn, broken=True)
        raise


def fail_all(waiting: list[asyncio.Future[Any]], error: BaseException) -> None:
    """Answer every request still waiting on a group's statement: with its error (the
    database cannot serve: each answers 503), or cancelled with the task that ran it."""
    for done in waiting:
        if not done.done():
            if isinstance(error, Exception):
                done.set_exception(error)
            else:
                done.cancel()
