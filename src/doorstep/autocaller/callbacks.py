"""Twilio's webhooks for Doorstep's calls, at ``DOORSTEP_PUBLIC_URL/telephony/twilio/...``:
the TwiML that tells a negotiator who the lead is and waits for a key, the Dial that puts them
through to the lead (showing the office's number), and the status callbacks that say how each
leg went. The web app records the outcome; the worker that started the call need not live.

Every request must carry a valid ``X-Twilio-Signature`` (Twilio's RequestValidator with the
account's auth token, over the public URL and the form). A request seen before (the same call
and event), or one whose ``Timestamp`` is stale, is refused: a replay cannot move a call on.
No recorded message is ever played to the lead: the lead's leg is only ever a Dial from a
negotiator already on the line."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from doorstep.autocaller import service
from doorstep.autocaller.provider import CallError, VoiceProvider, voice_provider
from doorstep.config import get_settings
from doorstep.db import SessionDep
from doorstep.models import Call, CallCallback, CallLeg, Lead, Office
from doorstep.models.base import utcnow
from doorstep.telephony import service as telephony

log = logging.getLogger(__name__)
router = APIRouter(prefix="/telephony/twilio", include_in_schema=False)

# Older than this, a callback is refused as stale (Twilio sends them within seconds).
MAX_AGE = timedelta(minutes=5)
VOICE = {"voice": "Polly.Amy", "language": "en-GB"}


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


FormDep = Annotated[dict[str, str], Depends(_form)]


def _refuse(status: int, why: str) -> Response:
    log.warning("Twilio callback refused: %s", why)
    return PlainTextResponse(why, status_code=status)


def _twiml(r: VoiceResponse) -> Response:
    return Response(str(r), media_type="application/xml")


class Refused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def _checked(
    session: Session, request: Request, leg_id: int, form: dict[str, str], event: str
) -> tuple[CallLeg, Call, VoiceProvider]:
    """The leg and its call, locked, once the request is known to be Twilio's and new."""
    leg = session.get(CallLeg, leg_id)
    call = session.get(Call, leg.call_id, with_for_update=True) if leg else None
    if leg is None or call is None:
        raise Refused(404, "no such call")
    settings = telephony.get(session, call.account_id)
    if settings is None or settings.provider != "twilio" or not settings.auth_token:
        raise Refused(403, "the account takes no Twilio callbacks")
    url = get_settings().public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not signature or not RequestValidator(settings.auth_token).validate(url, form, signature):
        raise Refused(403, "bad X-Twilio-Signature")
    if form.get("AccountSid") != settings.account_sid:
        raise Refused(403, "another Twilio account")
    sid = form.get("CallSid", "")
    if not sid:
        raise Refused(400, "no CallSid")
    stamp = form.get("Timestamp")
    if stamp:
        try:
            at = parsedate_to_datetime(stamp)
        except (TypeError, ValueError):
            raise Refused(400, "unreadable Timestamp") from None
        if at.tzinfo is None or abs(utcnow() - at) > MAX_AGE:
            raise Refused(403, "stale callback")
    if call.ended_at is not None and utcnow() - call.ended_at > MAX_AGE:
        raise Refused(403, "stale callback: the call ended long ago")
    try:
        with session.begin_nested():
            session.add(CallCallback(call_id=call.id, call_sid=sid, event=event[:40]))
    except IntegrityError:
        raise Refused(409, "replayed callback") from None
    return leg, call, voice_provider(settings)


def _handle(session: Session, fn: Any) -> Response:
    try:
        result: Response = fn()
    except Refused as r:
        session.rollback()
        return _refuse(r.status, r.why)
    return result


def _goodbye(text: str) -> Response:
    r = VoiceResponse()
    r.say(text, **VOICE)
    r.hangup()
    return _twiml(r)


@router.post("/legs/{leg_id}/answer")
def answer(request: Request, leg_id: int, form: FormDep, session: SessionDep) -> Response:
    """A negotiator's phone was answered: who the lead is, then a key."""

    def run() -> Response:
        leg, call, _ = _checked(session, request, leg_id, form, "answer")
        answered_by = form.get("AnsweredBy", "")
        leg.answered_by = answered_by or None
        if answered_by.startswith(("machine", "fax")):
            # A voicemail box is no negotiator: hang up, leave no message.
            leg.status = "machine"
            r = VoiceResponse()
            r.hangup()
            return _twiml(r)
        leg.status = "answered"
        if call.state != "ringing":
            return _goodbye("A colleague has taken this call. Goodbye.")
        lead = session.get(Lead, call.lead_id)
        office = session.get(Office, call.office_id) if call.office_id else None
        if lead is None:
            return _goodbye("The lead has been removed. Goodbye.")
        r = VoiceResponse()
        g = r.gather(
            num_digits=1,
            timeout=10,
            action=service.callback_url(leg.id, "key"),
            method="POST",
        )
        g.say(service.describe_lead(lead, office), **VOICE)
        g.say("Press 1 to be connected now, or any other key to decline.", **VOICE)
        r.say("No key was pressed. Goodbye.", **VOICE)
        r.hangup()
        return _twiml(r)

    return _handle(session, run)


@router.post("/legs/{leg_id}/key")
def key(request: Request, leg_id: int, form: FormDep, session: SessionDep) -> Response:
    """The negotiator pressed a key: 1 puts them through to the lead."""

    def run() -> Response:
        leg, call, provider = _checked(session, request, leg_id, form, "key")
        if form.get("Digits", "") != "1":
            leg.status = "declined"
            return _goodbye("Declined. Goodbye.")
        if call.state != "ringing":
            return _goodbye("A colleague has taken this call. Goodbye.")
        leg.status = "accepted"
        call.state = "dialling"
        call.answered_at = utcnow()
        call.negotiator_number = leg.number
        call.provider_sid = form.get("CallSid")
        for other in service.legs(session, call.id):
            if other.id != leg.id and other.sid and not other.ended:
                try:
                    provider.hang_up(other.sid)
                except CallError as e:
                    log.warning("could not end a colleague's ringing phone: %s", e.reason)
        lead_leg = CallLeg(call_id=call.id, role="lead", number=call.to_number)
        session.add(lead_leg)
        session.flush()
        r = VoiceResponse()
        r.say("Connecting you to the lead now.", **VOICE)
        d = r.dial(
            caller_id=call.from_number,
            timeout=service.ring_seconds_of(session, call),
            action=service.callback_url(lead_leg.id, "dialled"),
            method="POST",
        )
        d.number(
            call.to_number,
            status_callback=service.callback_url(lead_leg.id, "status"),
            status_callback_method="POST",
            status_callback_event="initiated ringing answered completed",
            machine_detection="Enable",
            amd_status_callback=service.callback_url(lead_leg.id, "machine"),
            amd_status_callback_method="POST",
        )
        return _twiml(r)

    return _handle(session, run)


_DIAL_OUTCOMES = {"busy": "busy", "no-answer": "no_answer", "canceled": "no_answer",
                  "failed": "failed"}  # fmt: skip


def _lead_outcome(
    session: Session, call: Call, lead_leg: CallLeg, status: str, duration: str | None
) -> None:
    if lead_leg.answered_by and lead_leg.answered_by.startswith(("machine", "fax")):
        service.finish(session, call, "machine", f"answered by {lead_leg.answered_by}")
    elif status in ("completed", "answered", "in-progress"):
        seconds = int(duration) if duration and duration.isdigit() else 0
        service.finish(session, call, "connected", None, seconds)
    elif status in _DIAL_OUTCOMES:
        reason = "the provider could not reach the lead's number" if status == "failed" else None
        service.finish(session, call, _DIAL_OUTCOMES[status], reason)


@router.post("/legs/{leg_id}/dialled")
def dialled(request: Request, leg_id: int, form: FormDep, session: SessionDep) -> Response:
    """The Dial to the lead is over (Twilio's Dial action)."""

    def run() -> Response:
        leg, call, _ = _checked(session, request, leg_id, form, "dialled")
        leg.ended = True
        leg.status = form.get("DialCallStatus", "") or leg.status
        if form.get("DialCallSid"):
            leg.sid = leg.sid or form["DialCallSid"]
            call.lead_sid = call.lead_sid or form["DialCallSid"]
        _lead_outcome(session, call, leg, leg.status, form.get("DialCallDuration"))
        return _goodbye("The call has ended. Goodbye.")

    return _handle(session, run)


@router.post("/legs/{leg_id}/machine")
def machine(request: Request, leg_id: int, form: FormDep, session: SessionDep) -> Response:
    """The lead's phone was answered by voicemail (Twilio's AMD): end it, record it."""

    def run() -> Response:
        leg, call, provider = _checked(session, request, leg_id, form, "machine")
        answered_by = form.get("AnsweredBy", "")
        leg.answered_by = answered_by or None
        if answered_by.startswith(("machine", "fax")):
            try:
                provider.hang_up(form["CallSid"])
            except CallError as e:
                log.warning("could not end the call to a voicemail: %s", e.reason)
            service.finish(session, call, "machine", f"answered by {answered_by}")
        return Response(status_code=204)

    return _handle(session, run)


@router.post("/legs/{leg_id}/status")
def status(request: Request, leg_id: int, form: FormDep, session: SessionDep) -> Response:
    """How a leg is going: ringing, answered, ended (and how)."""

    def run() -> Response:
        state = form.get("CallStatus", "")
        event = f"status:{state}:{form.get('SequenceNumber', '')}"
        leg, call, provider = _checked(session, request, leg_id, form, event)
        leg.sid = leg.sid or form.get("CallSid")
        if leg.role == "lead":
            call.lead_sid = call.lead_sid or form.get("CallSid")
            if state == "in-progress" and call.connected_at is None:
                # When Doorstep heard of it: Twilio's Timestamp has whole seconds only.
                call.connected_at = utcnow()
                call.state = "connected" if call.outcome is None else call.state
            if state in service.FINAL_LEG_STATUSES:
                leg.ended = True
                _lead_outcome(session, call, leg, state, form.get("CallDuration"))
            return Response(status_code=204)
        if state in service.FINAL_LEG_STATUSES:
            leg.ended = True
            if leg.status not in ("declined", "machine", "accepted", "answered"):
                leg.status = "failed" if state == "failed" else "unanswered"
            if state == "failed" and form.get("ErrorMessage"):
                call.reason = f"Twilio {form.get('ErrorCode', '')}: {form['ErrorMessage']}"
            if call.state == "ringing":
                service.settle_negotiators(session, provider, call)
            elif leg.status == "accepted" and call.outcome is None:
                # The negotiator hung up before the lead's leg reported its end.
                session.flush()
        return Response(status_code=204)

    return _handle(session, run)
