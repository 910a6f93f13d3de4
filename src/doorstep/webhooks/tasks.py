"""The webhook jobs: each lead change fans out to one ``webhook.deliver`` job per subscribed
endpoint; each job POSTs its delivery, logs the attempt, and is retried on the schedule of
AUTOMATION.md until a 2xx or the last attempt."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
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


def _timeline(session: Session, d: Any, kind: str, url: str, **data: Any) -> None:
    """One entry on the lead's activity per delivery outcome (its attempts are on the
    Developer tab)."""
    if d.lead_id is None:
        return
    session.add(
        LeadEvent(
            lead_id=d.lead_id,
            account_id=d.account_id,
            kind=kind,
            data={"delivery_id": d.id, "event": d.event_type, "url": url, **data},
        )
    )


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
    if row is None:
        return
    url = s.scalar(select(WebhookEndpoint.url).where(WebhookEndpoint.id == row.endpoint_id))
    _timeline(s, row, "webhook_failed", url or "", reason=reason[:500], attempts=work.job.attempts)


@handler("webhook.deliver", backoff=BACKOFF, on_failure=_failed)
def deliver(work: Work) -> None:
    """POSTs one webhook delivery, signed (Standard Webhooks)."""
    with work.reading() as s:
        row = s.execute(
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
            .where(WebhookDelivery.job_id == work.job.id)
        ).first()
    if row is None:
        return  # replaced by a redelivery, or its endpoint deleted: nothing to send
    if not row.enabled:
        raise GiveUp("The endpoint is disabled.")
    body = row.body.encode()
    secrets_ = service.signing_secrets(
        row.secret, row.previous_secret, row.previous_secret_expires_at
    )
    sent = net.post(row.url, body, signing.headers(secrets_, row.msg_id, int(time.time()), body))
    work.on_outcome(lambda s: _log(s, work, row, sent))
    if not sent.ok:
        raise Retry(sent.reason)
    _timeline(
        work.session,
        row,
        "webhook_delivered",
        row.url,
        status_code=sent.status_code,
        attempts=work.job.attempts,  # of this series (a redelivery starts a new one)
    )


def _log(s: Session, work: Work, row: Any, sent: net.Sent) -> None:
    """The attempt, and the delivery's state after it (written whatever the outcome)."""
    s.add(
        WebhookAttempt(
            delivery_id=row.id,
            job_id=work.job.id,
            number=row.attempts + 1,
            attempted_at=utcnow(),
            status_code=sent.status_code,
            error=sent.error,
            duration_ms=sent.duration_ms,
            response_excerpt=sent.excerpt,
        )
    )
    values: dict[str, Any] = {
        "attempts": WebhookDelivery.attempts + 1,
        "last_error": None if sent.ok else sent.reason[:2000],
    }
    if sent.ok:
        values.update(state="delivered", finished_at=utcnow())
    s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == row.id, WebhookDelivery.job_id == work.job.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
