"""Durable work: a table of jobs in Doorstep's own database (``models.job``), written in the
same transaction as the change that causes it, claimed by workers, retried with backoff.

Why not a library: the work must be written inside the lead's own SQLAlchemy transaction, on
SQLite as well as PostgreSQL. The queues that do transactional enqueueing (procrastinate,
pgqueuer, pq) are PostgreSQL-only and use their own connections; the rest (Celery, RQ,
Dramatiq) put jobs in a broker, outside the transaction. The claim loop is small instead:
``queue.claim`` is one UPDATE ... WHERE id = ANY (the ids of SELECT ... FOR UPDATE SKIP
LOCKED) on PostgreSQL, and SQLite's BEGIN IMMEDIATE serialises claimers there. Work that is all in
the database (a lead event's fan-out) is taken and finished by one such UPDATE in the
transaction that does it (``queue.take``)."""

from doorstep.jobs.queue import enqueue, nudge
from doorstep.jobs.registry import GiveUp, Later, Retry, handler

__all__ = ["GiveUp", "Later", "Retry", "enqueue", "handler", "nudge"]
