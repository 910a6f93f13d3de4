"""The webhook jobs: each lead change fans out to one ``webhook.deliver`` job per subscribed
endpoint; each job POSTs its delivery, logs the attempt, and is retried on the schedule of
AUTOMATION.md until a 2xx or the last attempt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.orm import Session

from doorstep.jobs import GiveUp, Retry, handler
from doorstep.jobs.worker import Work
from doorstep.leads import events
from doorstep.leads.events import LeadChange
from doorstep.models import LeadEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from doorstep.models.base import utcnow
from doorstep.webhooks import net, service, signing

# Seconds after the 1st, 2nd, ... failed attempt: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# 10 h; the 8th attempt is the last.
BACKOFF = (5, 300, 1800, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)


@events.subscriber("webhooks")
def _fan_out(session: Session, change: LeadChange) -> None:
    service.fan_out(session, change)


def _entry(d: Any, kind: str, url: str, **data: Any) -> dict[str, Any]:
    """One entry on the lead's activity per delivery outcome (its attempts are on the
    Developer tab)."""
    return {
        "lead_id": d.lead_id,
        "account_id": d.account_id,
        "kind": kind,
        "data": {"delivery_id": d.id, "event": d.event_type, "url": url, **data},
        "actor_user_id": None,
        "actor_token_id": None,
        "created_at": utcnow(),
    }


def _failed(work: Work, reason: str) -> None:
    """Every attempt spent (or the endpoint disabled): the delivery is failed, and the lead's
    activity says so and why."""
    s = work.session
    row = s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.job_id == work.job.id)
        .values(state="failed", finished_at=utcnow(), last_error=reason[:2000])
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.lead_id,
            WebhookDelivery.account_id,
            WebhookDelivery.event_type,
            WebhookDelivery.endpoint_id,
        )
        .execution_options(synchronize_session=False)
    ).first()
    if row is None or row.lead_id is None:
        return
    url = s.scalar(select(WebhookEndpoint.url).where(WebhookEndpoint.id == row.endpoint_id))
    entry = _entry(
        row, "webhook_failed", url or "", reason=reason[:500], attempts=work.job.attempts
    )
    s.execute(insert(LeadEvent), [entry])


# What an attempt needs, built once (this runs for every attempt).
_TO_SEND = (
    select(
        WebhookDelivery.id,
        WebhookDelivery.account_id,
        WebhookDelivery.lead_id,
        WebhookDelivery.msg_id,
        WebhookDelivery.event_type,
        WebhookDelivery.body,
        WebhookDelivery.attempts,
        WebhookEndpoint.url,
        WebhookEndpoint.enabled,
        WebhookEndpoint.secret,
        WebhookEndpoint.previous_secret,
        WebhookEndpoint.previous_secret_expires_at,
    )
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .where(WebhookDelivery.job_id == bindparam("job_id"))
)


@handler("webhook.deliver", backoff=BACKOFF, on_failure=_failed)
def deliver(work: Work) -> None:
    """POSTs one webhook delivery, signed (Standard Webhooks)."""
    with work.reading() as s:
        row = s.connection().execute(_TO_SEND, {"job_id": work.job.id}).first()
    if row is None:
        return  # replaced by a redelivery, or its endpoint deleted: nothing to send
    if not row.enabled:
        raise GiveUp("The endpoint is disabled.")
    body = row.body.encode()
    secrets_ = service.signing_secrets(
        row.secret, row.previous_secret, row.previous_secret_expires_at
    )
    sent = net.post(row.url, body, signing.headers(secrets_, row.msg_id, int(time.time()), body))
    # Only the outcome is written (no work.session): the worker records many deliveries'
    # outcomes in one transaction.
    work.on_outcome(lambda s: _log(s, work, row, sent))
    if not sent.ok:
        raise Retry(sent.reason)


@dataclass(frozen=True)
class _Logged:
    row: Any  # the delivery, as deliver() read it
    job_id: int
    series_attempts: int
    sent: net.Sent
    at: datetime


_LOGGED = "webhook_attempts"


def _log(s: Session, work: Work, row: Any, sent: net.Sent) -> None:
    """The attempt, and the delivery's state after it (written whatever the outcome). Kept
    on the session and written just before it commits, with every other attempt recorded
    in the same transaction: a few statements for a batch, not a few per delivery."""
    s.info.setdefault(_LOGGED, []).append(
        _Logged(row, work.job.id, work.job.attempts, sent, utcnow())
    )


@event.listens_for(Session, "before_commit")
def _write_logged(session: Session) -> None:
    logged: list[_Logged] = session.info.pop(_LOGGED, None) or []
    if not logged:
        return
    conn = session.connection()
    conn.execute(
        insert(WebhookAttempt),
        [
            {
                "delivery_id": x.row.id,
                "job_id": x.job_id,
                "number": x.row.attempts + 1,
                "attempted_at": x.at,
                "status_code": x.sent.status_code,
                "error": x.sent.error,
                "duration_ms": x.sent.duration_ms,
                "response_excerpt": x.sent.excerpt,
            }
            for x in logged
        ],
    )
    # Core on the table: one executemany for the batch (the ORM's bulk update by primary
    # key cannot also check job_id).
    table = WebhookDelivery.__table__
    assert isinstance(table, Table)
    d = table.c
    # Only while the delivery is still this job's (a redelivery may have replaced it).
    mine = (d.id == bindparam("b_id"), d.job_id == bindparam("b_job"))
    ok = [x for x in logged if x.sent.ok]
    failed = [x for x in logged if not x.sent.ok]
    if ok:
        conn.execute(
            update(table)
            .where(*mine)
            .values(
                state="delivered",
                attempts=bindparam("b_n"),
                last_error=None,
                finished_at=bindparam("b_at"),
            ),
            [
                {"b_id": x.row.id, "b_job": x.job_id, "b_n": x.row.attempts + 1, "b_at": x.at}
                for x in ok
            ],
        )
        entries = [
            _entry(
                x.row,
                "webhook_delivered",
                x.row.url,
                status_code=x.sent.status_code,
                attempts=x.series_attempts,  # of this series (a redelivery starts a new one)
            )
            for x in ok
            if x.row.lead_id is not None
        ]
        if entries:
            conn.execute(insert(LeadEvent), entries)
    if failed:
        # The state stays (pending, or failed by on_failure in this same transaction).
        conn.execute(
            update(table)
            .where(*mine)
            .values(attempts=bindparam("b_n"), last_error=bindparam("b_error")),
            [
                {
                    "b_id": x.row.id,
                    "b_job": x.job_id,
                    "b_n": x.row.attempts + 1,
                    "b_error": x.sent.reason[:2000],
                }
                for x in failed
            ],
        )


@event.listens_for(Session, "after_rollback")
def _forget_logged(session: Session) -> None:
    session.info.pop(_LOGGED, None)
