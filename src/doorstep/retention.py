"""How long Doorstep keeps what it records about API requests.

The request log keeps each request's body as received: people's names, emails and phone
numbers. Entries older than ``DOORSTEP_REQUEST_LOG_DAYS`` (90 by default; 0 keeps them for
ever) are deleted. A token's totals (requests, successes, failures, last use) are counted
apart (``token_usage``) and stay whole. ``Idempotency-Key`` records are deleted once past
their window (``DOORSTEP_IDEMPOTENCY_TTL_HOURS``), as they replay nothing after it, and rate
counters once past their minute. Finished durable work (done or failed jobs) goes after
``DOORSTEP_JOB_RETENTION_DAYS`` (30), and with them the webhook deliveries and attempts of
those jobs (their bodies hold the lead: foreign keys on delete cascade). A webhook
endpoint's previous signing secret is forgotten once its rotation's overlap is over.

``doorstep serve`` prunes at start and then every ``DOORSTEP_PRUNE_INTERVAL_MINUTES`` (60;
0 = never) in each worker; ``doorstep db prune`` prunes at once."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from doorstep.config import get_settings
from doorstep.models import (
    ApiToken,
    ClientRateCounter,
    IdempotencyKey,
    Job,
    RateCounter,
    RequestLog,
)
from doorstep.models.base import utcnow
from doorstep.tokens import service as tokens
from doorstep.users import signin
from doorstep.webhooks import service as webhooks

log = logging.getLogger("doorstep.retention")

# Rows deleted per transaction: a short lock on a busy table, never one long one.
BATCH = 5_000


@dataclass
class Pruned:
    request_logs: int = 0
    idempotency_keys: int = 0
    rate_counters: int = 0
    jobs: int = 0
    webhook_secrets: int = 0
    # Expired dashboard sessions and sign-in failures past their window.
    sign_in_rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _delete_older(engine: Engine, model: type[RequestLog | IdempotencyKey], cut: datetime) -> int:
    """Delete the rows created before ``cut``, oldest first, a batch per transaction.

    Ids grow with creation time, so the old rows are the first ones by id: each batch reads
    the first ``BATCH`` ids (primary key order, no scan of the table) and deletes those of
    them that are old. It stops at the first batch that reaches a row inside the window."""
    deleted = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(model.id, model.created_at).order_by(model.id).limit(BATCH)
            ).all()
            old = [r.id for r in rows if r.created_at < cut]
            if old:
                conn.execute(delete(model).where(model.id <= old[-1], model.created_at < cut))
                deleted += len(old)
        if not rows or rows[-1].created_at >= cut:
            return deleted


def prune(engine: Engine, now: datetime | None = None) -> Pruned:
    settings = get_settings()
    now = now or utcnow()
    out = Pruned()
    if settings.request_log_days > 0:
        # Fold every token's settled log into its stored totals first (they are folded
        # lazily, when shown), so deleting the entries takes nothing from the totals.
        with Session(engine) as session, session.begin():
            tokens.stats(session, list(session.scalars(select(ApiToken.id))))
        cut = now - timedelta(days=settings.request_log_days)
        out.request_logs = _delete_older(engine, RequestLog, cut)
    cut = now - timedelta(hours=settings.idempotency_ttl_hours)
    out.idempotency_keys = _delete_older(engine, IdempotencyKey, cut)
    with engine.begin() as conn:
        # The current minute and the one before it are all the rate limit reads.
        window = int(now.timestamp() // 60)
        result = conn.execute(delete(RateCounter).where(RateCounter.window < window - 1))
        out.rate_counters = result.rowcount or 0
        result = conn.execute(
            delete(ClientRateCounter).where(ClientRateCounter.window < window - 1)
        )
        out.rate_counters += result.rowcount or 0
    if settings.job_retention_days > 0:
        out.jobs = _delete_finished_jobs(engine, now - timedelta(days=settings.job_retention_days))
    with Session(engine) as session, session.begin():
        out.webhook_secrets = webhooks.drop_expired_secrets(session, now)
    with Session(engine) as session, session.begin():
        out.sign_in_rows = signin.prune(session, now)
    return out


def _delete_finished_jobs(engine: Engine, cut: datetime) -> int:
    """Done and failed jobs that ended before ``cut``, a batch per transaction, through the
    finished_at index (pending work is never touched, however old)."""
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.scalars(
                    select(Job.id)
                    .where(Job.finished_at < cut, Job.state.in_(("done", "failed")))
                    .order_by(Job.finished_at)
                    .limit(BATCH)
                )
            )
            if ids:
                conn.execute(delete(Job).where(Job.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < BATCH:
            return deleted


class Pruner:
    """Prunes now and then every ``interval_s`` seconds on a daemon thread, until stopped."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="doorstep-pruner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                pruned = prune(self.engine)
            except Exception:
                # A failed prune loses nothing: the rows are still there for the next one.
                log.exception("pruning the request log failed")
            else:
                counts = pruned.as_dict()
                if any(counts.values()):
                    seconds = round(time.perf_counter() - started, 3)
                    log.info("pruned old request records", extra={**counts, "seconds": seconds})
            self.runs += 1
            self._stop.wait(self.interval_s)
