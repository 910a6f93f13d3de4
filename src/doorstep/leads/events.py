"""What happened to a lead, for the automation that follows it (Lead Responder workflows,
webhooks, the autocaller).

``emit`` writes one ``lead.event`` job in the transaction of the change itself, carrying the
lead object as it stands after the change: the change and its event commit together or not
at all, and the create path pays for one small insert. The object is kept without its empty
(null) fields, about half of it on a typical lead, and made whole again (``lead_of``) when
the event is handed over: every claim and finish of the job copies its row. A worker then
hands the event to every subscriber (``@subscriber``) in one transaction with the job's
completion, so each subscriber's own work (a workflow's steps, a webhook delivery) is
written exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy.orm import Session

from doorstep.jobs import enqueue, handler
from doorstep.jobs.worker import Work
from doorstep.leads.serialize import LEAD_KEYS, iso
from doorstep.models.base import utcnow

T = TypeVar("T")

LEAD_CREATED = "lead.created"
LEAD_UPDATED = "lead.updated"
LEAD_STATUS_CHANGED = "lead.status_changed"
EVENT_TYPES = (LEAD_CREATED, LEAD_UPDATED, LEAD_STATUS_CHANGED)
JOB_KIND = "lead.event"


@dataclass(frozen=True)
class LeadChange:
    type: str
    timestamp: str
    account_id: int
    lead_id: int
    lead: dict[str, Any]  # the lead object, as the API returns it
    # lead.updated: {"fields": [...]}; lead.status_changed: {"old_status": .., "status": ..}
    detail: dict[str, Any] = field(default_factory=dict)


def emit(
    session: Session,
    type: str,
    lead: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    enqueue(
        session,
        JOB_KIND,
        payload(type, lead, detail),
        account_id=int(lead["account_id"]),
        lead_id=int(lead["id"]),
    )


def payload(
    type: str,
    lead: dict[str, Any],
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A ``lead.event`` job's payload: the change, when, and the lead object after it (its
    null fields left out: ``lead_of`` gives it back whole)."""
    assert type in EVENT_TYPES, type
    kept = {k: v for k, v in lead.items() if v is not None}
    return {"type": type, "timestamp": iso(at or utcnow()), "lead": kept, "detail": detail or {}}


def lead_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The lead object an event's payload carries, whole and in the documented key order."""
    kept: dict[str, Any] = payload["lead"]
    return {k: kept.get(k) for k in LEAD_KEYS} | kept


def read_once(session: Session, key: tuple[Any, ...], read: Callable[[], T]) -> T:
    """``read()``, once per ``key`` in the session's current transaction. The worker hands
    a whole batch of lead events to the subscribers in one transaction, and under load most
    events of a batch ask the same question of the same account (its workflows, its webhook
    endpoints, an office's autocaller): asked once, not once an event."""
    transaction = session.get_transaction()
    if transaction is None:  # no transaction yet: nothing to share an answer with
        return read()
    held = session.info.get("doorstep_reads")
    if held is None or held[0] is not transaction:
        held = session.info["doorstep_reads"] = (transaction, {})
    answers: dict[tuple[Any, ...], Any] = held[1]
    if key not in answers:
        answers[key] = read()
    return cast(T, answers[key])


Subscriber = Callable[[Session, LeadChange], None]
_subscribers: dict[str, Subscriber] = {}


def subscriber(name: str) -> Callable[[Subscriber], Subscriber]:
    """Register ``fn(session, change)``: it writes its follow-on work in ``session``."""

    def register(fn: Subscriber) -> Subscriber:
        _subscribers[name] = fn
        return fn

    return register


@handler(JOB_KIND, in_transaction=True)
def fan_out(work: Work) -> None:
    """Hands a lead's change to every subscriber."""
    p = work.payload
    change = LeadChange(
        type=p["type"],
        timestamp=p["timestamp"],
        account_id=int(work.job.account_id or p["lead"]["account_id"]),
        lead_id=int(work.job.lead_id or p["lead"]["id"]),
        lead=lead_of(p),
        detail=p.get("detail") or {},
    )
    # Written with the job's completion, whatever records it: nothing is written before the
    # handler returns, so the worker may record many events' follow-on work in one commit.
    subscribers = list(_subscribers.values())

    def hand_over(session: Session) -> None:
        for fn in subscribers:
            fn(session, change)

    work.on_outcome(hand_over)
