from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, JSONType, UTCDateTime, utcnow

JOB_STATES = ("pending", "running", "done", "failed")
CLAIMABLE = "state IN ('pending', 'running')"


class Job(Base):
    """Durable work (jobs/): written in the transaction of the change that causes it, claimed
    by one worker at a time, retried with backoff, kept after it ends until retention.

    ``run_at`` is when the job may next be claimed: for a pending job, its due time; for a
    running one, the end of its worker's lease (a worker that dies stops extending it, and
    the job is claimed again once it passes). One index serves both and holds only those: a
    claim reads the jobs it may take and no others, however many finished jobs the table
    keeps, and finished jobs add no entries to it. Each claim and finish leaves a dead row
    version behind, which the worker vacuums away itself (jobs/worker.py), whatever
    autovacuum is set to."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "ix_jobs_due",
            "run_at",
            "id",
            postgresql_where=text(CLAIMABLE),
            sqlite_where=text(CLAIMABLE),
        ),
        Index(
            "ix_jobs_failed",
            "id",
            postgresql_where=text("state = 'failed'"),
            sqlite_where=text("state = 'failed'"),
        ),
        Index("ix_jobs_finished_at", "finished_at"),
        Index("ix_jobs_lead", "lead_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    # No foreign keys (migration 0021): every create writes a job, and a key would check and
    # share-lock the account's and the lead's rows for it. Neither is ever deleted.
    account_id: Mapped[int | None] = mapped_column(Integer)
    lead_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
