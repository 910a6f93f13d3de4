"""The create path's stores on PostgreSQL, committed together when they arrive together.

Each create is one statement (``create_pg._CREATE``) in a transaction of its own: a round
trip and a commit, with its WAL flush, a lead. Here, as group commit does, the creates of
one server process that are ready while its last group is being stored wait for it, and are
then stored together: every create's own statement, pipelined on one connection in one
transaction (asyncpg's ``fetchmany``: one round trip, one commit). A lone create waits for
nothing.

Every guarantee of a lone create holds:

* A 200 only once its lead, job and log row are committed: the group commits before any of
  its requests is answered.
* One group parent for a person: the first statement of the group takes every person's
  advisory locks of the whole group, in ascending order (as every create takes its own), so
  groups and lone creates never wait on each other in a cycle; each later statement sees the
  leads the earlier ones made (one transaction), so two leads of one person in one group are
  grouped as two leads of one person in a row are.
* Nothing lost, nothing twice: a group that fails as a whole (a lead that no longer fits, an
  office deleted meanwhile) is stored again one create at a time, each its own transaction,
  and each request gets its own answer; when the database cannot serve, every request of the
  group gets that error (a 503)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from doorstep import pg
from doorstep.leads.admission import fail_all
from doorstep.ops import metrics

LOCKS = 3  # the create statement's parameter with the person's advisory lock ids
GROUP_MAX = 64  # creates a statement batch carries at most


@dataclass
class _Ready:
    args: list[Any]
    done: asyncio.Future[asyncpg.Record]


@dataclass
class _Stream:
    """A pool's creates: the ones waiting for the next group, and the task storing."""

    waiting: list[_Ready] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


_streams: dict[tuple[int, str], _Stream] = {}  # (pool, statement) -> its stream


async def store(pool: asyncpg.Pool, sql: str, args: list[Any]) -> asyncpg.Record:
    """The create statement's row for ``args``, once it is committed."""
    ready = _Ready(args, asyncio.get_running_loop().create_future())
    stream = _streams.get((id(pool), sql))
    if stream is None:
        stream = _streams[(id(pool), sql)] = _Stream()
    stream.waiting.append(ready)
    if stream.task is None:
        stream.task = asyncio.get_running_loop().create_task(_run(pool, sql, stream))
    return await ready.done


async def _run(pool: asyncpg.Pool, sql: str, stream: _Stream) -> None:
    try:
        while stream.waiting:
            group, stream.waiting = stream.waiting[:GROUP_MAX], stream.waiting[GROUP_MAX:]
            group = [r for r in group if not r.done.done()]
            if group:
                await _store_group(pool, sql, group)
    finally:
        stream.task = None
        if stream.waiting:  # this task was cancelled: nobody stores them now
            for ready in stream.waiting:
                ready.done.cancel()
            stream.waiting = []


async def _store_group(pool: asyncpg.Pool, sql: str, group: list[_Ready]) -> None:
    try:
        conn = await pg.acquire(pool)
    except BaseException as e:
        _fail(group, e)
        if not isinstance(e, Exception):
            raise
        return
    broken = False
    try:
        if len(group) == 1:
            rows = [await conn.fetchrow(sql, *group[0].args)]
        else:
            first = list(group[0].args)
            first[LOCKS] = sorted({lock for r in group for lock in r.args[LOCKS]})
            rows = await conn.fetchmany(sql, [first, *(r.args[:] for r in group[1:])])
        metrics.STORE_STATEMENTS.inc()
        metrics.STORE_CREATES.inc(len(group))
        for ready, row in zip(group, rows, strict=True):
            if not ready.done.done():
                ready.done.set_result(row)
    except BaseException as e:
        broken = not isinstance(e, asyncpg.PostgresError) or pg.unavailable(e)
        if broken or len(group) == 1:
            _fail(group, e)
            if not isinstance(e, Exception):
                raise
            return
        # One create of the group failed it (rolled back whole): each on its own.
        for ready in group:
            try:
                row = await conn.fetchrow(sql, *ready.args)
            except Exception as each:
                if not ready.done.done():
                    ready.done.set_exception(each)
                if not isinstance(each, asyncpg.PostgresError) or pg.unavailable(each):
                    broken = True
                    _fail(group, each)
                    return
                continue
            metrics.STORE_STATEMENTS.inc()
            metrics.STORE_CREATES.inc()
            if not ready.done.done():
                ready.done.set_result(row)
    finally:
        await pg.release(pool, conn, broken=broken)


def _fail(group: list[_Ready], error: BaseException) -> None:
    fail_all([ready.done for ready in group], error)
