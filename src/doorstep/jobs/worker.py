"""The worker: claims due jobs, runs their handlers on a pool of threads, keeps their leases
alive while they run, and records each outcome.

A job is done when its handler returns: the handler's own writes (``work.session``) commit
in the same transaction that marks the job done. A handler that raises Retry, or any error,
is tried again on its backoff; GiveUp, or the last attempt, fails it with the reason. A
worker killed at any moment loses nothing: the jobs it held stay ``running`` until their
lease runs out, then another worker claims them again (their effects outside the database,
an e-mail or a webhook, may then happen twice: see the README)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from queue import Empty, SimpleQueue
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from doorstep import db
from doorstep.config import get_settings
from doorstep.jobs import queue, registry
from doorstep.jobs.registry import GiveUp, Later, Retry
from doorstep.models.base import utcnow

log = logging.getLogger("doorstep.jobs")

# Jobs finished between two vacuums of the jobs table (Worker.vacuum), and the shortest time
# between two: a vacuum's cost grows with the table (finished jobs are kept for weeks), its
# benefit with the jobs done since the last.
VACUUM_EVERY = 5_000
VACUUM_MIN_SECONDS = 30.0
# The most jobs Worker.take runs in one transaction, and the shortest time between two rounds
# of the claim loop while the work comes in slower than that.
TAKE_LIMIT = 200
GATHER_S = 0.05


class Work:
    """One claimed job as its handler sees it."""

    def __init__(
        self,
        engine: Engine,
        job: queue.Claimed,
        worker: str,
        reader: Engine | None = None,
        session: Session | None = None,
    ) -> None:
        self.engine = engine
        self._reader = reader or engine
        self.job = job
        self.worker = worker
        # Given: the transaction that took the job (Worker.take), the caller's to close.
        self._borrowed = session
        self._session: Session | None = session
        self._outcome: list[Callable[[Session], None]] = []

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A short read-only transaction of its own, for what the handler must read before
        it acts (keep network calls outside it all the same)."""
        with Session(self._reader, expire_on_commit=False) as s, s.begin():
            yield s

    @property
    def session(self) -> Session:
        """The transaction that commits with the job's completion."""
        if self._session is None:
            self._session = Session(self.engine, expire_on_commit=False, autoflush=False)
        return self._session

    @property
    def wrote(self) -> bool:
        """Whether the handler used ``session`` (then its outcome is recorded on it)."""
        return self._session is not None

    def on_outcome(self, fn: Callable[[Session], None]) -> None:
        """``fn(session)`` runs in the transaction that records this attempt's outcome,
        whatever it is: done, retried or failed. For a handler's log of what it tried (a
        webhook's attempt), which must outlive a failed attempt's rolled-back
        ``work.session``."""
        self._outcome.append(fn)

    def take_outcome(self) -> list[Callable[[Session], None]]:
        fns, self._outcome = self._outcome, []
        return fns

    def close(self) -> None:
        if self._session is not None and self._session is not self._borrowed:
            self._session.close()
        self._session = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:80]


class Worker:
    """Claims due jobs in batches (up to twice ``concurrency`` in hand, so the threads never
    wait for a claim), runs them on ``concurrency`` threads and records their outcomes.

    A job whose handler wrote nothing but its ``on_outcome`` log (a webhook delivery) is
    recorded done together with others that finished at about the same time: one
    transaction, one commit, for many jobs. Its lease is kept alive until then.

    Jobs whose handlers only write to the database (``in_transaction``: a lead event's
    fan-out to the Lead Responder, webhooks and the autocaller) skip all that: the claim
    thread takes them in batches and runs them in the transaction that marks them done
    (``take``), in rounds at most every GATHER_S while they come in slower than a batch."""

    def __init__(
        self,
        engine: Engine,
        concurrency: int | None = None,
        *,
        lease_s: float | None = None,
        poll_s: float | None = None,
        name: str | None = None,
    ) -> None:
        from doorstep.jobs import handlers  # noqa: F401  (registers every kind)

        settings = get_settings()
        self.engine = engine
        self._reader = db.reader(engine)
        self.concurrency = max(1, concurrency or settings.worker_concurrency)
        self.lease = timedelta(seconds=lease_s or settings.job_lease_seconds)
        self.poll_s = poll_s if poll_s is not None else settings.worker_poll_seconds
        self.name = name or worker_name()
        self._stop = threading.Event()
        self._inflight: set[int] = set()
        self._lock = threading.Lock()
        # Jobs in hand: running, or claimed and waiting for a thread.
        self._capacity = 2 * self.concurrency
        self._in_hand = 0
        self._pool = ThreadPoolExecutor(
            self.concurrency, thread_name_prefix="doorstep-job", initializer=db.without_pings
        )
        self._done: SimpleQueue[tuple[queue.Claimed, list[Callable[[Session], None]]] | None] = (
            SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._recorder: threading.Thread | None = None
        self.processed = 0
        self.vacuum_every = VACUUM_EVERY
        self.vacuum_min_s = VACUUM_MIN_SECONDS
        self._since_vacuum = 0
        self._vacuumed_at = time.monotonic()
        self._vacuum_failed = False

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """In the background (``doorstep serve``'s in-process worker)."""
        for target, name in ((self._claim_loop, "claim"), (self._heartbeat, "lease")):
            t = threading.Thread(target=target, name=f"doorstep-jobs-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._recorder = threading.Thread(
            target=self._record_loop, name="doorstep-jobs-done", daemon=True
        )
        self._recorder.start()
        log.info("worker started", extra={"worker": self.name, "concurrency": self.concurrency})

    def run_forever(self) -> None:
        """In the foreground until stop() (``doorstep worker``)."""
        self.start()
        while not self._stop.wait(0.5):
            pass
        self._drain()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        queue.nudge()
        self._drain(timeout)
        for t in self._threads:
            t.join(timeout)

    def _drain(self, timeout: float = 30.0) -> None:
        # The jobs already claimed finish and are recorded (their leases kept alive until
        # then by the heartbeat, which stops once none is left in hand).
        if self._threads:
            self._threads[0].join(timeout)  # the claim loop: nothing more is submitted
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._recorder is not None:
            self._done.put(None)
            self._recorder.join(timeout)

    def _claim_loop(self) -> None:
        db.without_pings()
        kinds = registry.in_transaction_kinds()
        while not self._stop.is_set():
            started = time.monotonic()
            took = self.take(kinds)
            # Claim once half the room is free: one claim brings a batch, not a job per
            # finished thread, and the threads never wait for a claim (_release wakes this
            # loop when that much room is free again).
            with self._lock:
                free = self._capacity - self._in_hand
            jobs: list[queue.Claimed] = []
            if free >= self.concurrency:
                try:
                    jobs = queue.claim(self.engine, self.name, free, self.lease, skip=kinds)
                except Exception:
                    log.exception("claiming jobs failed; trying again shortly")
                    self._stop.wait(min(5.0, self.poll_s * 5))
            with self._lock:
                self._in_hand += len(jobs)
                self._inflight.update(j.id for j in jobs)
            for job in jobs:
                self._pool.submit(self._run_and_release, job)
            if took < TAKE_LIMIT and not jobs:
                queue.wait_for_work(self.poll_s)
                # Under load every create wakes this loop: rounds at most every GATHER_S
                # take the work that arrives meanwhile together (a round's statements and
                # reads cost the same for one job as for a hundred).
                self._stop.wait(max(0.0, started + GATHER_S - time.monotonic()))

    # -- jobs run in the transaction that takes them -------------------------------------

    def take(self, kinds: tuple[str, ...]) -> int:
        """Takes due jobs of ``kinds`` (handlers ``in_transaction``: a lead event's fan-out),
        up to TAKE_LIMIT, and runs them on this thread in the one transaction that marks
        them done: one statement takes and finishes a batch, where the threads' claim,
        hand-over and recording cost a job several (measured under `make bench`: app CPU a
        create 1.64-1.85 ms with the in-process worker, 1.13 ms without). If the batch
        fails, its jobs are run again one a transaction, so one event's failure is recorded
        on it alone. How many were taken."""
        if not kinds:
            return 0
        jobs: list[queue.Claimed] = []
        try:
            with Session(self.engine, expire_on_commit=False, autoflush=False) as s, s.begin():
                jobs = queue.take(s, kinds, TAKE_LIMIT)
                for job in jobs:
                    self._run_taken(s, job)
        except Exception:
            if not jobs:
                log.exception("taking jobs failed; trying again shortly")
                self._stop.wait(min(5.0, self.poll_s * 5))
                return 0
            log.exception("a batch of %d jobs failed; running them one by one", len(jobs))
            for _ in jobs:
                if not self._take_one(kinds):
                    break  # nothing left due, or the database cannot be reached
            return len(jobs)
        self._count(len(jobs))
        return len(jobs)

    def _run_taken(self, session: Session, job: queue.Claimed) -> None:
        handler = registry.get(job.kind)
        assert handler is not None and handler.in_transaction, job.kind
        work = Work(self.engine, job, self.name, self._reader, session=session)
        handler.run(work)
        for fn in work.take_outcome():
            fn(session)

    def _take_one(self, kinds: tuple[str, ...]) -> bool:
        """One due job taken and run in a transaction of its own, or its failure recorded;
        False when none was taken (none due, or taking failed: then after a pause)."""
        job: queue.Claimed | None = None
        try:
            with Session(self.engine, expire_on_commit=False, autoflush=False) as s, s.begin():
                taken = queue.take(s, kinds, 1)
                if not taken:
                    return False
                job = taken[0]
                self._run_taken(s, job)
        except Exception as e:
            if job is None:
                log.exception("taking a job failed; trying again shortly")
                self._stop.wait(min(5.0, self.poll_s * 5))
                return False
            try:
                self._failed(job, registry.get(job.kind), e, taken=True)
            except Exception:
                # Left due: taken and tried again.
                log.exception("recording a job's failure failed", extra={"job_id": job.id})
        self._count(1)
        return True

    def _heartbeat(self) -> None:
        db.without_pings()
        every = self.lease.total_seconds() / 3
        while not self._stop.wait(every):
            with self._lock:
                ids = list(self._inflight)
            try:
                queue.extend(self.engine, self.name, ids, self.lease)
            except Exception:
                log.exception("extending job leases failed")
        # Stopping: keep the leases of jobs still finishing alive until they are done.
        while True:
            with self._lock:
                ids = list(self._inflight)
            if not ids:
                return
            try:
                queue.extend(self.engine, self.name, ids, self.lease)
            except Exception:
                log.exception("extending job leases failed")
            time.sleep(min(every, 1.0))

    def _run_and_release(self, job: queue.Claimed) -> None:
        later = False
        try:
            later = self.run_one(job, record_later=self._done.put)
        except Exception:
            log.exception("recording a job's outcome failed", extra={"job_id": job.id})
        finally:
            if not later:
                self._release(job.id)

    def _release(self, job_id: int) -> None:
        with self._lock:
            self._inflight.discard(job_id)
            self._in_hand -= 1
            if self._capacity - self._in_hand == self.concurrency:
                queue.nudge()  # room for a claim again
        self._count(1)

    def _count(self, finished: int) -> None:
        with self._lock:
            self.processed += finished
            self._since_vacuum += finished
            now = time.monotonic()
            vacuum = (
                self._since_vacuum >= self.vacuum_every
                and now - self._vacuumed_at >= self.vacuum_min_s
            )
            if vacuum:
                self._since_vacuum = 0
                self._vacuumed_at = now
        if vacuum:
            self.vacuum()

    def _record_loop(self) -> None:
        """Records the jobs handed over by run_one as done, as many at once as have
        finished meanwhile (up to 200 a transaction)."""
        db.without_pings()
        stopping = False
        while not stopping:
            first = self._done.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 200:
                try:
                    item = self._done.get_nowait()
                except Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._record_done(batch)
            except Exception:
                log.exception("recording finished jobs failed; recording them one by one")
                for job, outcome in batch:
                    try:
                        self._record_done([(job, outcome)])
                    except Exception as e:
                        # Its own log would not go in: tried again on its schedule.
                        log.exception("recording a job's outcome failed", extra={"job_id": job.id})
                        self._retry_unrecorded(job, e)
            finally:
                for job, _ in batch:
                    self._release(job.id)

    def vacuum(self) -> None:
        """PostgreSQL: VACUUM the jobs table. Every claim and every finish leaves a dead row
        version and a dead index entry; until they are vacuumed, each claim reads past all of
        them (measured: a claim went from 0.3 to 1.0 ms over 36,000 jobs, and on, with
        autovacuum off as on this project's machines; vacuumed every 3,000 jobs it stayed at
        0.3 ms). Autovacuum may be off, or slow to reach a table this busy, so the worker does
        it every ``vacuum_every`` jobs it finishes, at most every ``vacuum_min_s`` seconds.
        SKIP_LOCKED: another worker's vacuum running already is enough."""
        if self._vacuum_failed or self.engine.dialect.name != "postgresql":
            return
        try:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM (SKIP_LOCKED) jobs"
                )
        except Exception:
            # Not the table's owner, say: leave it to autovacuum, and say so once.
            self._vacuum_failed = True
            log.exception("vacuuming the jobs table failed; leaving it to autovacuum")

    def _retry_unrecorded(self, job: queue.Claimed, e: Exception) -> None:
        try:
            self._fail(
                job,
                registry.get(job.kind),
                f"Recording its outcome failed: {type(e).__name__}: {e}",
                final=False,
            )
        except Exception:
            # Left running: once its lease runs out it is claimed and run again.
            log.exception("recording a job's failure failed", extra={"job_id": job.id})

    def _record_done(
        self, batch: list[tuple[queue.Claimed, list[Callable[[Session], None]]]]
    ) -> None:
        with Session(self.engine, expire_on_commit=False, autoflush=False) as s, s.begin():
            held = queue.finish_many(s, [job.id for job, _ in batch], self.name)
            for job, outcome in batch:
                if job.id in held:
                    for fn in outcome:
                        fn(s)
                else:
                    log.warning("a job's lease ran out while it ran", extra={"job_id": job.id})

    # -- one job -------------------------------------------------------------------------

    def run_one(
        self,
        job: queue.Claimed,
        record_later: Callable[[tuple[queue.Claimed, list[Callable[[Session], None]]]], None]
        | None = None,
    ) -> bool:
        """Run the job and record its outcome. With ``record_later``, a success that wrote
        nothing but its ``on_outcome`` log is handed to it to be recorded with others, and
        True is returned (the job is still the caller's to release once recorded)."""
        handler = registry.get(job.kind)
        if handler is None:
            self._fail(job, None, f"No handler for jobs of kind {job.kind!r}.", final=True)
            return False
        if job.attempts > job.max_attempts:
            self._fail(
                job,
                handler,
                f"Stopped after {job.max_attempts} attempts: the worker running it stopped "
                "each time before it finished.",
                final=True,
            )
            return False
        work = Work(self.engine, job, self.name, self._reader)
        started = time.perf_counter()
        try:
            handler.run(work)
            if record_later is not None and not work.wrote:
                record_later((job, work.take_outcome()))
                return True
            for fn in work.take_outcome():
                fn(work.session)
            queue.finish(work.session, job.id, self.name)
            work.session.commit()
        except queue.LostClaim:
            log.warning("a job's lease ran out while it ran", extra={"job_id": job.id})
            return False
        except Exception as e:
            work.close()
            self._failed(job, handler, e, outcome=work.take_outcome())
            return False
        finally:
            work.close()
        log.debug(
            "job done",
            extra={"job_id": job.id, "kind": job.kind, "ms": (time.perf_counter() - started) * 1e3},
        )
        return False

    def _failed(
        self,
        job: queue.Claimed,
        handler: registry.Handler | None,
        e: Exception,
        *,
        outcome: list[Callable[[Session], None]] | None = None,
        taken: bool = False,
    ) -> None:
        """Records an attempt that raised ``e``: Later, due again at its time without
        spending an attempt; GiveUp, failed now; Retry or any other error, due again on its
        backoff, or failed on the last attempt. ``taken``: the job was taken in the
        transaction that rolled back (Worker.take), not claimed on a lease."""
        if isinstance(e, Later):
            with Session(self.engine) as s, s.begin():
                if taken:
                    queue.fail_taken(s, job, e.reason, e.at, final=False, spend_attempt=False)
                else:
                    queue.reschedule(s, job.id, self.name, e.reason, e.at, spend_attempt=False)
        elif isinstance(e, GiveUp):
            self._fail(job, handler, e.reason, final=True, outcome=outcome, taken=taken)
        elif isinstance(e, Retry):
            self._fail(
                job, handler, e.reason, final=False, after=e.after, outcome=outcome, taken=taken
            )
        else:
            log.exception("a job failed", extra={"job_id": job.id, "kind": job.kind})
            reason = f"{type(e).__name__}: {e}"
            self._fail(job, handler, reason, final=False, outcome=outcome, taken=taken)

    def _fail(
        self,
        job: queue.Claimed,
        handler: registry.Handler | None,
        reason: str,
        *,
        final: bool,
        after: timedelta | None = None,
        outcome: list[Callable[[Session], None]] | None = None,
        taken: bool = False,
    ) -> None:
        final = final or job.attempts >= job.max_attempts
        work = Work(self.engine, job, self.name)
        try:
            s = work.session
            at = utcnow()
            if not final:
                assert handler is not None
                at += after if after is not None else handler.delay(job.attempts)
            if taken:
                held = queue.fail_taken(s, job, reason, at, final=final)
            elif final:
                held = queue.give_up(s, job.id, self.name, reason)
            else:
                held = queue.reschedule(s, job.id, self.name, reason, at)
            if not held:
                # Another worker holds the job now (this one's lease ran out): its outcome
                # is that worker's to record.
                s.rollback()
                return
            for fn in outcome or ():
                fn(s)
            if final and handler and handler.on_failure:
                handler.on_failure(work, reason)
            s.commit()
        finally:
            work.close()
        log.info(
            "job failed" if final else "job will be retried",
            extra={"job_id": job.id, "kind": job.kind, "reason": reason[:300]},
        )
