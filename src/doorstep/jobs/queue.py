"""The jobs table's operations: enqueue (in the caller's transaction), claim, extend a lease,
finish, fail, and the administrator's list and retry."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    Table,
    Update,
    and_,
    any_,
    bindparam,
    cast,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as postgresql_types
from sqlalchemy.orm import Session

from doorstep.jobs import registry
from doorstep.models import Job
from doorstep.models.base import utcnow

# Set after a transaction that enqueued work commits: an in-process worker wakes at once
# rather than at its next poll.
_wake = threading.Event()


def nudge() -> None:
    _wake.set()


def wait_for_work(timeout: float) -> None:
    _wake.wait(timeout)
    _wake.clear()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("jobs_enqueued", False):
        nudge()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("jobs_enqueued", None)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    account_id: int | None = None,
    lead_id: int | None = None,
    run_at: datetime | None = None,
) -> int:
    """Add a job in the session's transaction: it exists if and only if the change that
    caused it commits. Returns its id."""
    (job_id,) = enqueue_many(
        session,
        [
            {
                "kind": kind,
                "payload": payload,
                "account_id": account_id,
                "lead_id": lead_id,
                "run_at": run_at,
            }
        ],
    )
    return job_id


def new_row(
    kind: str,
    payload: dict[str, Any],
    *,
    account_id: int | None,
    lead_id: int | None,
    run_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """A new job's row: pending, due at ``run_at``, with its kind's number of attempts."""
    return {
        "kind": kind,
        "payload": payload,
        "account_id": account_id,
        "lead_id": lead_id,
        "run_at": run_at,
        "state": "pending",
        "attempts": 0,
        "max_attempts": registry.max_attempts(kind),
        "created_at": now,
    }


def enqueue_many(session: Session, jobs: list[dict[str, Any]]) -> list[int]:
    """Several jobs in one statement (keys: kind, payload, account_id, lead_id, run_at);
    returns their ids, in the order given."""
    if not jobs:
        return []
    now = utcnow()
    rows = [
        new_row(
            j["kind"],
            j["payload"],
            account_id=j.get("account_id"),
            lead_id=j.get("lead_id"),
            run_at=j.get("run_at") or now,
            now=now,
        )
        for j in jobs
    ]
    # Core on the table, not the ORM's bulk insert: this runs on every lead change.
    table = Job.__table__
    assert isinstance(table, Table)
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=len(rows) > 1)
    ids = session.connection().execute(stmt, rows).scalars().all()
    session.info["jobs_enqueued"] = True
    return list(ids)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    account_id: int | None
    lead_id: int | None


def state_in(*states: str) -> ColumnElement[bool]:
    """``state IN ('pending', 'running')`` with the states written into the SQL, not bound:
    the partial indexes on ``state`` (ix_jobs_due, ix_jobs_failed) serve only a query whose
    condition PostgreSQL can prove implies theirs. With bound states that proof holds for a
    plan made for the values, not for a generic plan, made once for any values: PostgreSQL
    may switch to one after a prepared statement's fifth run, and psycopg prepares a
    statement once it has run five times. The worker's claim, before it was planned each
    run (``_claimed``), then read the whole jobs table every round (auto_explain under
    `make bench`: a sequential scan past 19,635 rows, 12 ms a claim); the failed jobs'
    listing (``failed_ids``, ``retry``) would read it on every "retry all"."""
    return Job.state.in_(bindparam("states", states, expanding=True, literal_execute=True))


def _due(now: datetime | ColumnElement[Any]) -> Any:
    # Pending and due, or running on a lease that has run out (its worker died).
    return and_(state_in("pending", "running"), Job.run_at <= now)


def claimable(
    now: datetime | ColumnElement[Any],
    limit: int | ColumnElement[Any],
    *,
    postgresql: bool,
    kinds: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> Select[int]:
    """The ids a claim takes: the oldest due jobs (of ``kinds``, if given; not of ``skip``),
    passing over those another claimer holds (PostgreSQL's SKIP LOCKED; SQLite has one
    writer at a time)."""
    ids = select(Job.id).where(_due(now))
    if kinds:
        ids = ids.where(Job.kind.in_(kinds))
    if skip:
        ids = ids.where(Job.kind.not_in(skip))
    ids = ids.order_by(Job.run_at, Job.id).limit(limit)
    return ids.with_for_update(skip_locked=True) if postgresql else ids


def _picked(ids: Select[int], postgresql: bool) -> Any:
    """The claimed ids as a condition on the jobs updated. PostgreSQL gathers them into an
    array first, so that the locking sub-select runs once: as ``id IN (sub-select)`` the
    planner may join it to the jobs and run it again for each of them (a nested loop, chosen
    on a never-analysed table), and each run skips the rows already taken and locks the
    next: a claim of one took four jobs."""
    if postgresql:
        picked = ids.subquery()
        gathered = select(func.array_agg(picked.c.id)).scalar_subquery()
        # Cast: "= ANY (SELECT ...)" would compare each row's array; this is one array.
        return Job.id == any_(cast(gathered, postgresql_types.ARRAY(Integer)))
    return Job.id.in_(ids.scalar_subquery())


_CLAIMED = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.attempts,
    Job.max_attempts,
    Job.account_id,
    Job.lead_id,
)


def claim(
    engine: Engine, worker: str, limit: int, lease: timedelta, *, skip: Sequence[str] = ()
) -> list[Claimed]:
    """Up to ``limit`` due jobs (none of the kinds in ``skip``), now held by ``worker`` until
    ``now + lease`` (extended while it works). Each job is claimed by one worker:
    PostgreSQL's SKIP LOCKED passes over rows another claimer holds; SQLite has one writer
    at a time."""
    now = utcnow()
    stmt = _claim_statement(engine.dialect.name == "postgresql", (), tuple(skip), taking=False)
    with engine.begin() as conn:
        return _claimed(conn, stmt, now=now, limit=limit, worker=worker, until=now + lease)


def _claimed(conn: Connection, stmt: Update, **params: Any) -> list[Claimed]:
    """The jobs a claim's or a take's statement updated, in id order.

    On PostgreSQL the statement is planned for this run's values and the table as it is now
    (``plan_cache_mode``, for this transaction). psycopg prepares a statement that has run
    five times, and PostgreSQL may then keep one generic plan, made once: one made while the
    jobs table was young and small read every job once it had grown (auto_explain under
    `make bench`: a take's UPDATE as a sequential scan past 19,320 jobs for 161, 40 ms).
    Planned each run, in the same bench (pg_stat_statements, execution a call): a take 17.6
    to 2.6 ms, a claim 3.0 to 0.22 ms."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    return sorted((Claimed(*r) for r in conn.execute(stmt, params)), key=lambda c: c.id)


@lru_cache(maxsize=64)
def _claim_statement(
    postgresql: bool, kinds: tuple[str, ...], skip: tuple[str, ...], *, taking: bool
) -> Update:
    """The UPDATE of a claim (``taking``: of a take), built once for each kind of claim and
    run with ``now`` and ``limit`` (a claim's also with ``worker`` and ``until``) bound: the
    jobs of ``claimable`` still due, updated and their attempt counted. Built afresh every
    round, the statement cost the worker more CPU than running it (py-spy: SQLAlchemy's
    statement construction and cache keys were half of it)."""
    now = bindparam("now", type_=Job.__table__.c.run_at.type)
    ids = claimable(
        now, bindparam("limit", type_=Integer), postgresql=postgresql, kinds=kinds, skip=skip
    )
    values: dict[str, Any]
    if taking:
        values = {
            "state": "done",
            "claimed_by": None,
            "finished_at": now,
            "run_at": now,
            "last_error": None,
        }
    else:
        values = {
            "state": "running",
            "claimed_by": bindparam("worker", type_=Job.__table__.c.claimed_by.type),
            "run_at": bindparam("until", type_=Job.__table__.c.run_at.type),
        }
    picked = [_picked(ids, postgresql)]
    if not postgresql:
        picked.append(_due(now))
    # PostgreSQL updates the rows the sub-select locked, found by id alone: they stay due while
    # locked. Checked again as due, they were found through ix_jobs_due instead, reading
    # every due entry for the ids (a custom plan's choice, 2-4 ms a take under `make bench`).
    return (
        update(Job)
        .where(*picked)
        .values(attempts=Job.attempts + 1, **values)
        .returning(*_CLAIMED)
        .execution_options(synchronize_session=False)
    )


def take(session: Session, kinds: Sequence[str], limit: int) -> list[Claimed]:
    """Up to ``limit`` due jobs of ``kinds``, marked done in the caller's transaction, for
    handlers whose work is all in the database (``@handler(..., in_transaction=True)``):
    their writes commit with it. One statement takes and finishes each job, where a claim
    and a finish take two, with a commit between: rolled back, or its worker killed before
    the commit, the jobs are due again as if never taken. PostgreSQL's SKIP LOCKED and
    SQLite's single writer keep two workers off one job."""
    conn = session.connection()
    postgresql = conn.dialect.name == "postgresql"
    stmt = _claim_statement(postgresql, tuple(kinds), (), taking=True)
    return _claimed(conn, stmt, now=utcnow(), limit=limit)


def fail_taken(
    conn: Connection | Session,
    job: Claimed,
    reason: str,
    at: datetime,
    *,
    final: bool,
    spend_attempt: bool = True,
) -> bool:
    """A taken job whose transaction failed and was rolled back (so it is still due, its
    attempt not counted): the attempt counted, and the job due again at ``at``, or failed
    for good."""
    now = utcnow()
    values: dict[str, Any] = {"claimed_by": None, "last_error": reason[:2000]}
    if spend_attempt:
        values["attempts"] = Job.attempts + 1
    if final:
        values |= {"state": "failed", "finished_at": now, "run_at": now}
    else:
        values |= {"state": "pending", "run_at": at}
    result = conn.execute(
        update(Job)
        .where(Job.id == job.id, Job.state.in_(("pending", "running")))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 1))


def extend(engine: Engine, worker: str, ids: list[int], lease: timedelta) -> int:
    """Push the lease of the worker's running jobs on (its heartbeat)."""
    if not ids:
        return 0
    with engine.begin() as conn:
        result = conn.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.claimed_by == worker, Job.state == "running")
            .values(run_at=utcnow() + lease)
        )
    return result.rowcount or 0


class LostClaim(Exception):
    """The job is no longer this worker's (its lease ran out and another worker took it)."""


def _held(job_id: int, worker: str) -> Any:
    return and_(Job.id == job_id, Job.claimed_by == worker, Job.state == "running")


def finish(conn: Connection | Session, job_id: int, worker: str) -> None:
    """Mark the job done, in the caller's transaction (with the handler's own writes);
    LostClaim when another worker holds it now, so those writes roll back."""
    now = utcnow()
    result = conn.execute(
        update(Job)
        .where(_held(job_id, worker))
        # run_at held the lease's end; a finished job's says when it last ran.
        .values(state="done", claimed_by=None, finished_at=now, run_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 1):
        raise LostClaim(job_id)


def finish_many(conn: Connection | Session, job_ids: list[int], worker: str) -> set[int]:
    """Mark those of the jobs the worker still holds done, in the caller's transaction;
    returns their ids (the others' leases ran out and another worker has them)."""
    if not job_ids:
        return set()
    if isinstance(conn, Session):
        conn = conn.connection()
    params = {"ids": job_ids, "worker": worker, "now": utcnow()}
    return {int(i) for i in conn.execute(_FINISH_MANY, params).scalars()}


# Built once: the worker runs it for every batch of finished jobs.
_FINISH_MANY = (
    update(Job)
    .where(
        Job.id.in_(bindparam("ids", expanding=True)),
        Job.claimed_by == bindparam("worker"),
        Job.state == "running",
    )
    .values(state="done", claimed_by=None, finished_at=bindparam("now"), last_error=None)
    .returning(Job.id)
)


def reschedule(
    conn: Connection | Session,
    job_id: int,
    worker: str,
    reason: str,
    at: datetime,
    *,
    spend_attempt: bool = True,
) -> bool:
    values: dict[str, Any] = {"state": "pending", "claimed_by": None, "run_at": at}
    values["last_error"] = reason[:2000]
    if not spend_attempt:
        values["attempts"] = Job.attempts - 1
    result = conn.execute(
        update(Job)
        .where(_held(job_id, worker))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 1))


def give_up(conn: Connection | Session, job_id: int, worker: str, reason: str) -> bool:
    now = utcnow()
    result = conn.execute(
        update(Job)
        .where(_held(job_id, worker))
        .values(
            state="failed", claimed_by=None, finished_at=now, run_at=now, last_error=reason[:2000]
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 1))


# -- the administrator's view ------------------------------------------------------------


def counts(session: Session, account_id: int | None = None) -> dict[str, int]:
    q = select(Job.state, func.count()).group_by(Job.state)
    if account_id is not None:
        q = q.where(Job.account_id == account_id)
    found = {state: int(n) for state, n in session.execute(q).all()}
    return {state: found.get(state, 0) for state in ("pending", "running", "done", "failed")}


def listing(
    session: Session,
    *,
    account_id: int | None = None,
    state: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Job]:
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if account_id is not None:
        q = q.where(Job.account_id == account_id)
    if state:
        q = q.where(Job.state == state)
    if kind:
        q = q.where(Job.kind == kind)
    if before_id:
        q = q.where(Job.id < before_id)
    return list(session.scalars(q))


def retry(session: Session, ids: list[int], account_id: int | None = None) -> list[int]:
    """Failed jobs back to pending, due now, with a fresh count of attempts. Returns the ids
    that were failed (others are left as they are)."""
    if not ids:
        return []
    cond = [Job.id.in_(ids), state_in("failed")]
    if account_id is not None:
        cond.append(Job.account_id == account_id)
    found = list(session.scalars(select(Job.id).where(*cond)))
    if found:
        session.execute(
            update(Job)
            .where(Job.id.in_(found))
            .values(state="pending", run_at=utcnow(), attempts=0, finished_at=None)
            .execution_options(synchronize_session=False)
        )
        session.info["jobs_enqueued"] = True
    return found


def failed_ids(session: Session, account_id: int | None = None) -> list[int]:
    q = select(Job.id).where(state_in("failed")).order_by(Job.id)
    if account_id is not None:
        q = q.where(Job.account_id == account_id)
    return list(session.scalars(q))
