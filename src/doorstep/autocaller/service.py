"""A call's life. ``begin`` writes the call and its negotiator legs (committed before anything
rings, so every callback finds them); ``ring`` places legs through the provider; the provider's
callbacks (callbacks.py) move the call on: a negotiator accepts (presses 1) or not, the lead
answers or not; ``finish`` records the outcome on the lead's activity, once, and for the
autocaller schedules the next attempt by the office's policy.

Outcomes: no_negotiator, declined (a negotiator pressed another key), no_answer (the lead),
busy, machine (the lead's voicemail), failed (with the provider's reason), connected (with
its duration), logged (the log-only provider: recorded, nothing rang)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from doorstep.autocaller.provider import CallError, Leg, VoiceProvider
from doorstep.config import get_settings
from doorstep.jobs import enqueue
from doorstep.models import Call, CallLeg, Lead, LeadEvent, Office, OfficeAutocaller
from doorstep.models.base import utcnow

log = logging.getLogger(__name__)

JOB_KIND = "autocaller.call"
# Outcomes in words: leads.workflow.CALL_OUTCOMES (the timeline and the reports).
# Worth another attempt later; a machine answer is not (no repeat within 24 h, Ofcom).
RETRYABLE = {"no_negotiator", "declined", "no_answer", "busy", "failed"}
FINAL_LEG_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}


def callback_url(leg_id: int, what: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/telephony/twilio/legs/{leg_id}/{what}"


@dataclass(frozen=True)
class Plan:
    """What a call needs to start, read before it does."""

    account_id: int
    lead_id: int
    office_id: int | None
    kind: str  # auto | manual
    user_id: int | None
    attempt: int
    job_id: int | None
    from_number: str
    to_number: str
    negotiators: list[str]
    ring_mode: str
    ring_seconds: int


def begin(session: Session, plan: Plan, provider: str) -> Call:
    call = Call(
        account_id=plan.account_id,
        lead_id=plan.lead_id,
        office_id=plan.office_id,
        kind=plan.kind,
        user_id=plan.user_id,
        attempt=plan.attempt,
        provider=provider,
        job_id=plan.job_id,
        state="ringing",
        from_number=plan.from_number,
        to_number=plan.to_number,
    )
    session.add(call)
    session.flush()
    for i, number in enumerate(plan.negotiators):
        session.add(CallLeg(call_id=call.id, role="negotiator", position=i, number=number))
    session.flush()
    return call


def ring_seconds_of(session: Session, call: Call) -> int:
    if call.office_id is not None:
        s = session.get(OfficeAutocaller, call.office_id)
        if s is not None:
            return int(s.ring_seconds)
    return 20


def ring_mode_of(session: Session, call: Call) -> str:
    if call.kind == "manual" or call.office_id is None:
        return "sequential"
    s = session.get(OfficeAutocaller, call.office_id)
    return s.ring_mode if s is not None else "sequential"


def legs(session: Session, call_id: int, role: str = "negotiator") -> list[CallLeg]:
    return list(
        session.scalars(
            select(CallLeg)
            .where(CallLeg.call_id == call_id, CallLeg.role == role)
            .order_by(CallLeg.position, CallLeg.id)
        )
    )


def place_leg(session: Session, provider: VoiceProvider, call: Call, leg: CallLeg) -> bool:
    """Ring one negotiator's phone; False (the leg ended, with the reason kept) when the
    provider would not."""
    try:
        leg.sid = provider.place(
            Leg(
                to=leg.number,
                from_=call.from_number or "",
                url=callback_url(leg.id, "answer"),
                status_url=callback_url(leg.id, "status"),
                ring_seconds=ring_seconds_of(session, call),
            )
        )
    except CallError as e:
        leg.status, leg.ended = "failed", True
        call.reason = e.reason
        session.flush()
        return False
    leg.status = "placed"
    session.flush()
    return True


def ring_next(session: Session, provider: VoiceProvider, call: Call) -> bool:
    """Sequential ringing: the next negotiator not yet rung. False when none is left (or
    none could be rung)."""
    for leg in legs(session, call.id):
        if leg.sid is None and not leg.ended and place_leg(session, provider, call, leg):
            return True
    return False


def settle_negotiators(session: Session, provider: VoiceProvider, call: Call) -> None:
    """After a negotiator's leg ended with nobody having accepted: ring the next one, or,
    once every leg has ended, record that no negotiator took the call."""
    if call.state != "ringing":
        return
    all_legs = legs(session, call.id)
    if any(not leg.ended and leg.sid is not None for leg in all_legs):
        return  # another phone is still ringing (simultaneous), or on the line
    if ring_next(session, provider, call):
        return
    if any(leg.status == "declined" for leg in all_legs):
        finish(session, call, "declined", "every negotiator rung declined or hung up")
    elif all(leg.status == "failed" for leg in all_legs) and call.reason:
        finish(session, call, "failed", call.reason)
    else:
        machines = [leg.number for leg in all_legs if (leg.answered_by or "").startswith("machine")]
        reason = f"voicemail answered on {', '.join(machines)}" if machines else None
        finish(session, call, "no_negotiator", reason)


def finish(
    session: Session,
    call: Call,
    outcome: str,
    reason: str | None = None,
    duration: int | None = None,
    *,
    at: datetime | None = None,
) -> bool:
    """The call's outcome, once: on the lead's activity, a connected call moves the lead on,
    and an automatic call that did not reach the lead is tried again by the office's policy.
    False when the call already had its outcome."""
    if call.outcome is not None:
        return False
    now = at or utcnow()
    call.state, call.outcome, call.reason = "ended", outcome, reason
    call.ended_at = now
    call.duration = duration
    session.add(
        LeadEvent(
            lead_id=call.lead_id,
            account_id=call.account_id,
            kind="call",
            actor_user_id=call.user_id,
            data={
                "call_id": call.id,
                "call": call.kind,
                "attempt": call.attempt,
                "outcome": outcome,
                "reason": reason,
                "duration": duration,
                "negotiator": call.negotiator_number,
                "to": call.to_number,
                "from": call.from_number,
            },
        )
    )
    session.flush()
    lead = session.get(Lead, call.lead_id)
    if outcome == "connected" and lead is not None:
        from doorstep.statuses.progression import record_connected_call

        record_connected_call(
            session, lead, user_id=call.user_id, note=f"Connected call, {duration or 0} s"
        )
    if call.kind == "auto" and outcome in RETRYABLE and lead is not None:
        schedule_retry(session, call, now)
    return True


def schedule_retry(session: Session, call: Call, now: datetime) -> int | None:
    s = session.get(OfficeAutocaller, call.office_id) if call.office_id else None
    if s is None or call.attempt >= s.max_attempts:
        return None
    waits = list(s.retry_minutes or [10])
    wait = waits[min(call.attempt - 1, len(waits) - 1)]
    return enqueue(
        session,
        JOB_KIND,
        {"attempt": call.attempt + 1},
        account_id=call.account_id,
        lead_id=call.lead_id,
        run_at=now + timedelta(minutes=wait),
    )


def not_called(session: Session, account_id: int, lead_id: int, reason: str, **extra: Any) -> None:
    session.add(
        LeadEvent(
            lead_id=lead_id,
            account_id=account_id,
            kind="call",
            data={"call": "auto", "outcome": "not_called", "reason": reason, **extra},
        )
    )


def calls_since(session: Session, lead_id: int, since: datetime) -> list[Call]:
    return list(
        session.scalars(
            select(Call)
            .where(Call.lead_id == lead_id, Call.created_at > since)
            .order_by(Call.created_at)
        )
    )


def count_calls(session: Session, lead_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Call.lead_id == lead_id)) or 0)


def describe_lead(lead: Lead, office: Office | None) -> str:
    """What the negotiator hears: who the lead is (name, type, source, area)."""
    from doorstep.leads.labels import source_name

    kind = {"sale": "sale", "let": "letting", "valuation": "valuation",
            "sale_valuation": "sales valuation", "let_valuation": "lettings valuation"}.get(
        lead.type, lead.type.replace("_", " ")
    )  # fmt: skip
    where = lead.advert_postcode if lead.type in ("sale", "let") else lead.postcode
    area = (where or "").strip().upper().split(" ")[0]
    name = " ".join(x for x in (lead.first_name, lead.last_name) if x).strip() or "no name given"
    parts = [f"New {kind} lead from {source_name(lead.source)}: {name}."]
    if area:
        parts.append(f"Area {' '.join(area)}.")
    if office is not None:
        parts.append(f"For {office.name}.")
    return " ".join(parts)
