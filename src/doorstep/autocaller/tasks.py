"""The autocaller's work: on ``lead.created`` for a lead of an office with the autocaller on,
a call job in the same transaction; the job (one per attempt) checks the lead may be called
now, writes the call, and asks the provider to ring the negotiators. Everything after that
arrives by the provider's callbacks to the web app (callbacks.py).

Not callable: never dialled, and the activity says why. Outside calling hours: the job waits
(``Later``, no attempt spent) for the next opening; leads that waited are called oldest first
(jobs due at one moment are claimed in the order they were written). Never more than the
office's cap of calls to a lead in 24 h, and no repeat within 24 h of a voicemail answer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.autocaller import service
from doorstep.autocaller import settings as autocaller_settings
from doorstep.autocaller.provider import CallError, voice_provider
from doorstep.jobs import GiveUp, Later, enqueue, handler
from doorstep.jobs.worker import Work
from doorstep.leads.events import LEAD_CREATED, LeadChange, read_once, subscriber
from doorstep.models import Call, Lead, Office, OfficeAutocaller, User
from doorstep.models.base import utcnow
from doorstep.offices.hours import HoursError, is_open, next_opening, parse_hours
from doorstep.telephony import service as telephony

DAY = timedelta(hours=24)


@subscriber("autocaller")
def on_lead(session: Session, change: LeadChange) -> None:
    if change.type != LEAD_CREATED or not change.lead.get("office_id"):
        return
    # The account's offices with the autocaller on, read once for a batch of events.
    calling = read_once(
        session,
        ("autocaller offices", change.account_id),
        lambda: set(
            session.scalars(
                select(OfficeAutocaller.office_id).where(
                    OfficeAutocaller.account_id == change.account_id,
                    OfficeAutocaller.enabled.is_(True),
                )
            )
        ),
    )
    if change.lead["office_id"] in calling:
        enqueue(
            session,
            service.JOB_KIND,
            {"attempt": 1},
            account_id=change.account_id,
            lead_id=change.lead_id,
        )


def start_manual(session: Session, account_id: int, lead_id: int, user_id: int) -> int:
    """ "Call this lead": a job that rings the user's phone, then the lead."""
    return enqueue(
        session,
        service.JOB_KIND,
        {"attempt": 1, "manual": True, "user_id": user_id},
        account_id=account_id,
        lead_id=lead_id,
    )


def _not_called(work: Work, reason: str) -> None:
    service.not_called(
        work.session,
        int(work.job.account_id or 0),
        int(work.job.lead_id or 0),
        reason,
        call="manual" if work.payload.get("manual") else "auto",
        user_id=work.payload.get("user_id"),
    )


@handler(service.JOB_KIND, backoff=(60, 300))
def call_lead(work: Work) -> None:
    """One attempt to put a negotiator through to a lead."""
    if work.job.account_id is None or work.job.lead_id is None:
        raise GiveUp("the job names no lead")
    manual = bool(work.payload.get("manual"))
    attempt = int(work.payload.get("attempt") or 1)
    now = utcnow()
    with work.reading() as s:
        if s.scalar(select(Call.id).where(Call.job_id == work.job.id)) is not None:
            return  # placed before a worker died: its callbacks carry it on
        lead = s.get(Lead, work.job.lead_id)
        if lead is None or lead.account_id != work.job.account_id:
            return
        office = s.get(Office, lead.office_id) if lead.office_id else None
        t = telephony.get(s, work.job.account_id)
        settings = autocaller_settings.get(s, office.id) if office else None
        user = s.get(User, work.payload.get("user_id")) if manual else None
        recent = service.calls_since(s, lead.id, now - DAY)
    if not lead.phone_callable or not lead.phone_normalized:
        _not_called(work, f"{lead.phone!r} is not a valid UK number, so it is never dialled")
        return
    if manual:
        if user is None or user.account_id != work.job.account_id or not user.phone:
            _not_called(work, "the negotiator has no phone number of their own to ring first")
            return
        negotiators, ring_mode = [user.phone], "sequential"
        from_number = (settings.from_number if settings else None) or (
            office.phone if office else None
        )
        if not from_number:
            _not_called(work, "the lead's office has no phone number to show the lead")
            return
    else:
        if office is None or settings is None or not settings.enabled:
            _not_called(work, "the office's autocaller is off")
            return
        negotiators, ring_mode = list(settings.negotiators or []), settings.ring_mode
        from_number = settings.from_number or ""
        try:
            hours = parse_hours(autocaller_settings.calling_hours_text(office, settings))
        except HoursError:
            hours = parse_hours(autocaller_settings.DEFAULT_CALLING_HOURS)
        if not is_open(hours, now):
            opens = next_opening(hours, now)
            if opens is None:
                _not_called(work, "the office has no calling hours")
                return
            raise Later(opens, f"waiting for the calling hours ({hours.render()})")
        machine = [c for c in recent if c.outcome == "machine"]
        if machine:
            raise Later(
                machine[-1].ended_at + DAY if machine[-1].ended_at else now + DAY,
                "a voicemail answered the last call: no repeat within 24 hours",
            )
        if len(recent) >= settings.daily_cap:
            raise Later(
                recent[0].created_at + DAY,
                f"{len(recent)} calls to this lead in 24 hours, the office's cap",
            )
    if t is None:
        _not_called(work, "no telephony provider (set one with doorstep telephony set)")
        return
    plan = service.Plan(
        account_id=work.job.account_id,
        lead_id=lead.id,
        office_id=office.id if office else None,
        kind="manual" if manual else "auto",
        user_id=user.id if user else None,
        attempt=attempt,
        job_id=work.job.id,
        from_number=from_number,
        to_number=lead.phone_normalized,
        negotiators=negotiators,
        ring_mode=ring_mode,
        ring_seconds=settings.ring_seconds
        if settings
        else autocaller_settings.DEFAULT_RING_SECONDS,
    )
    provider = voice_provider(t)
    # The call is committed before anything rings: every callback finds it, and a worker
    # killed from here on leaves a call that its callbacks finish, never a second call.
    with Session(work.engine, expire_on_commit=False) as s, s.begin():
        call_id = service.begin(s, plan, provider.name).id
    with Session(work.engine, expire_on_commit=False) as s, s.begin():
        call = s.get(Call, call_id, with_for_update=True)
        assert call is not None
        if provider.name == "log":
            for leg in service.legs(s, call.id):
                provider.place(service.Leg(leg.number, from_number, "", "", plan.ring_seconds))
            who = ", ".join(negotiators)
            service.finish(
                s, call, "logged",
                f"would ring {who}, then dial {call.to_number} showing {from_number}",
            )  # fmt: skip
            return
        legs = service.legs(s, call.id)
        placed = (
            [service.place_leg(s, provider, call, leg) for leg in legs]
            if ring_mode == "simultaneous"
            else [service.ring_next(s, provider, call)]
        )
        if not any(placed):
            service.finish(s, call, "failed", call.reason or "no negotiator's phone could be rung")


__all__ = ["CallError", "call_lead", "on_lead", "start_manual"]
