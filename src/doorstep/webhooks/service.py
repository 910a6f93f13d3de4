"""Webhook endpoints (per account), their deliveries and attempts, and one-off signed POSTs.

Every query starts from the account (``account_id=None`` only from the command line, which
acts for the operator): another account's endpoint or delivery does not exist for the caller."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed, is_row_id
from doorstep.jobs import queue
from doorstep.leads.events import EVENT_TYPES, LeadChange, read_once
from doorstep.leads.serialize import LEAD_KEYS
from doorstep.models import Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from doorstep.models.base import utcnow
from doorstep.webhooks import net, signing

DELIVER = "webhook.deliver"
# After a rotation the old secret keeps signing, beside the new one, this long: time for
# the receiver to take up the new secret without refusing a delivery meanwhile.
ROTATION_OVERLAP = timedelta(hours=24)
URL_MAX = 2048
DESCRIPTION_MAX = 200


# -- endpoints ----------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL, trimmed, if webhooks may be sent to it; ValidationFailed on ``url`` if not.
    Names are resolved at delivery time (net.py); here a URL whose host is a literal
    non-public address, or ``localhost``, is refused at once."""
    url = (url or "").strip()

    def bad(reason: str) -> ValidationFailed:
        return ValidationFailed.field("url", reason)

    if not url:
        raise bad("Give the address to send webhooks to, e.g. https://example.com/hooks.")
    if len(url) > URL_MAX:
        raise bad(f"The URL can be at most {URL_MAX} characters.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise bad("The URL cannot contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as e:
        raise bad(f"This is not a valid URL ({e}).") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("The URL must start with https:// or http://.")
    host = parts.hostname or ""
    if not host:
        raise bad("The URL has no host name.")
    if port == 0:
        raise bad("The URL's port must be 1 to 65535.")
    if not net.private_allowed():
        ip = net.literal_address(host)
        why = net.why_refused(ip) if ip is not None else None
        name = host.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):  # loopback by definition
            why = "a loopback address"
        if why:
            raise bad(
                f"{host} is {why}: webhooks go only to public addresses (the server's "
                "operator can allow others with DOORSTEP_WEBHOOKS_ALLOW_PRIVATE=true)."
            )
    return url


def parse_events(events: str | Iterable[str]) -> list[str]:
    """``lead.created,lead.updated`` or a list of names -> the names, in the documented order."""
    names = events.split(",") if isinstance(events, str) else list(events)
    names = [n.strip() for n in names if n and n.strip()]
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed.field(
            "events",
            f"Unknown event{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"choose from {', '.join(EVENT_TYPES)}.",
        )
    if not names:
        raise ValidationFailed.field(
            "events", f"Choose at least one event: {', '.join(EVENT_TYPES)}."
        )
    return [e for e in EVENT_TYPES if e in names]


def _check_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed.field(
            "description", f"The description can be at most {DESCRIPTION_MAX} characters."
        )
    return description


def _checked(
    *, url: str | None, events: str | Iterable[str] | None, description: str | None
) -> dict[str, Any]:
    """The given fields, checked, every failing one reported at once."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}

    def check(key: str, fn: Any, raw: Any) -> None:
        if raw is None:
            return
        try:
            values[key] = fn(raw)
        except ValidationFailed as e:
            errors.update(e.errors or {})

    check("url", check_url, url)
    check("events", parse_events, events)
    check("description", _check_description, description)
    if errors:
        raise ValidationFailed(errors)
    return values


@dataclass(frozen=True)
class NewSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once: at creation and at each rotation


def create_endpoint(
    session: Session,
    account_id: int,
    url: str,
    events: str | Iterable[str],
    description: str | None = "",
    enabled: bool = True,
) -> NewSecret:
    values = _checked(url=url, events=events, description=description)
    secret = signing.new_secret()
    values.setdefault("description", "")
    endpoint = WebhookEndpoint(account_id=account_id, secret=secret, enabled=enabled, **values)
    session.add(endpoint)
    session.flush()
    return NewSecret(endpoint, secret)


def list_endpoints(session: Session, account_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.account_id == account_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def get_endpoint(session: Session, account_id: int | None, endpoint_id: int) -> WebhookEndpoint:
    q = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if account_id is not None:
        q = q.where(WebhookEndpoint.account_id == account_id)
    endpoint = session.scalar(q) if is_row_id(endpoint_id) else None
    if endpoint is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


def update_endpoint(
    session: Session,
    account_id: int | None,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: str | Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, account_id, endpoint_id)
    values = _checked(url=url, events=events, description=description)
    if enabled is not None:
        values["enabled"] = enabled
    for key, value in values.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = utcnow()
    session.flush()
    return endpoint


def delete_endpoint(session: Session, account_id: int | None, endpoint_id: int) -> None:
    """The endpoint goes with its deliveries and attempts; deliveries still waiting for an
    attempt are dropped with their jobs (one already being sent finishes)."""
    endpoint = get_endpoint(session, account_id, endpoint_id)
    waiting = select(WebhookDelivery.job_id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(
        delete(Job)
        .where(Job.id.in_(waiting), Job.state == "pending")
        .execution_options(synchronize_session=False)
    )
    session.delete(endpoint)
    session.flush()


def rotate_secret(session: Session, account_id: int | None, endpoint_id: int) -> NewSecret:
    """A new secret, shown once. The current one keeps signing too for ROTATION_OVERLAP (a
    second rotation inside that time drops the oldest at once: two secrets at most)."""
    endpoint = get_endpoint(session, account_id, endpoint_id)
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    endpoint.secret = secret
    endpoint.updated_at = utcnow()
    session.flush()
    return NewSecret(endpoint, secret)


def signing_secrets(
    secret: str,
    previous: str | None,
    previous_expires_at: datetime | None,
    now: datetime | None = None,
) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    during a rotation's overlap."""
    now = now or utcnow()
    if previous and previous_expires_at and now < previous_expires_at:
        return [secret, previous]
    return [secret]


def drop_expired_secrets(session: Session, now: datetime | None = None) -> int:
    """Forget previous secrets whose overlap is over (retention.prune calls this)."""
    result = session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.previous_secret_expires_at <= (now or utcnow()))
        .values(previous_secret=None, previous_secret_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- deliveries ---------------------------------------------------------------------------


def body_of(change: LeadChange) -> bytes:
    """``{"type", "timestamp", "data"}``: the change's type and time, and the lead object
    in its documented key order (PostgreSQL's JSONB, which carried it here, does not keep
    the order of keys)."""
    lead = change.lead
    data = {k: lead[k] for k in LEAD_KEYS if k in lead}
    data.update((k, v) for k, v in lead.items() if k not in data)
    return orjson.dumps({"type": change.type, "timestamp": change.timestamp, "data": data})


def fan_out(session: Session, change: LeadChange) -> int:
    """One delivery (and its job) per enabled endpoint of the account that subscribes to
    the change's type, in the caller's transaction. Returns how many."""

    def read() -> list[Any]:
        return list(
            session.connection()
            .execute(
                select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                    WebhookEndpoint.account_id == change.account_id,
                    WebhookEndpoint.enabled.is_(True),
                )
            )
            .all()
        )

    endpoints = read_once(session, ("webhook endpoints", change.account_id), read)
    targets = [ep_id for ep_id, events in endpoints if change.type in (events or ())]
    return queue_deliveries(session, change, targets)


def endpoint_at(session: Session, account_id: int, url: str) -> int | None:
    """The account's endpoint with this exact URL (a workflow's webhook step names one)."""
    return session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.account_id == account_id, WebhookEndpoint.url == url
        )
    )


def queue_deliveries(session: Session, change: LeadChange, targets: list[int]) -> int:
    """A delivery of the change (and its job) to each endpoint, in the caller's transaction."""
    if not targets:
        return 0
    body = body_of(change).decode()
    msg_ids = [signing.new_msg_id() for _ in targets]
    job_ids = queue.enqueue_many(
        session,
        [
            {
                "kind": DELIVER,
                "payload": {"webhook_id": msg_id, "endpoint_id": ep_id},
                "account_id": change.account_id,
                "lead_id": change.lead_id,
            }
            for ep_id, msg_id in zip(targets, msg_ids, strict=True)
        ],
    )
    now = utcnow()
    # Core on the table (the ORM's bulk insert costs more, and this runs for every change).
    session.connection().execute(
        insert(cast(Table, WebhookDelivery.__table__)),
        [
            {
                "account_id": change.account_id,
                "endpoint_id": ep_id,
                "lead_id": change.lead_id,
                "job_id": job_id,
                "msg_id": msg_id,
                "event_type": change.type,
                "body": body,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for ep_id, msg_id, job_id in zip(targets, msg_ids, job_ids, strict=True)
        ],
    )
    return len(targets)


def get_delivery(session: Session, account_id: int | None, delivery_id: int) -> WebhookDelivery:
    q = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if account_id is not None:
        q = q.where(WebhookDelivery.account_id == account_id)
    delivery = session.scalar(q) if is_row_id(delivery_id) else None
    if delivery is None:
        raise NotFound(f"There is no webhook delivery {delivery_id}.")
    return delivery


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    url: str
    attempts: list[WebhookAttempt]
    next_attempt_at: datetime | None  # pending: when the next attempt is due


def deliveries(
    session: Session,
    account_id: int | None,
    *,
    endpoint_id: int | None = None,
    delivery_ids: Sequence[int] | None = None,
    before_id: int | None = None,
    limit: int = 25,
) -> list[DeliveryView]:
    """Newest first, each with its attempts (oldest first) and, while pending, the time of
    its next attempt."""
    q = (
        select(WebhookDelivery, WebhookEndpoint.url, Job.state, Job.run_at)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .outerjoin(Job, Job.id == WebhookDelivery.job_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if account_id is not None:
        q = q.where(WebhookDelivery.account_id == account_id)
    if endpoint_id is not None:
        q = q.where(WebhookDelivery.endpoint_id == endpoint_id)
    if delivery_ids is not None:
        q = q.where(WebhookDelivery.id.in_(delivery_ids))
    if before_id:
        q = q.where(WebhookDelivery.id < before_id)
    rows = session.execute(q).all()
    attempts: dict[int, list[WebhookAttempt]] = {r[0].id: [] for r in rows}
    if attempts:
        for a in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.id)
        ):
            attempts[a.delivery_id].append(a)
    return [
        DeliveryView(
            d,
            url,
            attempts[d.id],
            run_at if d.state == "pending" and job_state == "pending" else None,
        )
        for d, url, job_state, run_at in rows
    ]


def redeliver(session: Session, account_id: int | None, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, now, as a new series of attempts (retried on the schedule)
    with the same body and the same ``webhook-id``. A series still waiting for its next
    attempt is replaced by this one."""
    from doorstep.webhooks import tasks  # noqa: F401  (the job's schedule of attempts)

    delivery = get_delivery(session, account_id, delivery_id)
    endpoint = get_endpoint(session, delivery.account_id, delivery.endpoint_id)
    if not endpoint.enabled:
        raise ValidationFailed.field(
            "endpoint", "The endpoint is disabled: enable it before sending again."
        )
    old_job = delivery.job_id
    delivery.job_id = queue.enqueue(
        session,
        DELIVER,
        {"webhook_id": delivery.msg_id, "endpoint_id": endpoint.id, "by_hand": True},
        account_id=delivery.account_id,
        lead_id=delivery.lead_id,
    )
    delivery.state = "pending"
    delivery.finished_at = None
    # The old series' job, if still waiting, would find nothing to send: finish it now
    # (its attempts stay, and go with it at retention).
    session.execute(
        update(Job)
        .where(Job.id == old_job, Job.state == "pending")
        .values(state="done", finished_at=utcnow(), last_error="Replaced by a redelivery.")
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return delivery


def counts(session: Session, account_id: int) -> dict[str, int]:
    rows = session.execute(
        select(WebhookDelivery.state, func.count())
        .where(WebhookDelivery.account_id == account_id)
        .group_by(WebhookDelivery.state)
    ).all()
    found = {state: int(n) for state, n in rows}
    return {s: found.get(s, 0) for s in ("pending", "delivered", "failed")}


# -- one-off POSTs ------------------------------------------------------------------------


def post_signed(
    url: str,
    secret: str | Sequence[str],
    event_type: str,
    data: Any,
    *,
    msg_id: str | None = None,
    timestamp: str | None = None,
) -> net.Sent:
    """POST ``{"type", "timestamp", "data"}`` to ``url`` once, signed as deliveries are,
    under the same rules (public addresses only, 10 s, no redirects) and returns what came
    of it. Not retried or logged: for a caller that does its own (a workflow's "call a
    webhook" step, inside its job). ``secret`` may be several (a rotation's overlap)."""
    from doorstep.leads.serialize import iso

    body = orjson.dumps({"type": event_type, "timestamp": timestamp or iso(utcnow()), "data": data})
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    headers = signing.headers(secrets_, msg_id or signing.new_msg_id(), int(time.time()), body)
    return net.post(url, body, headers)
