"""Where calls go: one small interface, Twilio Programmable Voice (its official library, the
account's own credentials, REST calls to ``DOORSTEP_TWILIO_API_URL``), or "log only" for an
account without telephony (the call is recorded, nothing rings).

A provider only starts and ends calls; what happens on them is Doorstep's TwiML, fetched by
the provider from ``DOORSTEP_PUBLIC_URL`` (callbacks.py), and what happened arrives by its
status callbacks, which the web app records: a worker that dies mid-call loses nothing."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from doorstep.models import TelephonySettings
from doorstep.responder.sms import DEFAULT_TIMEOUT, twilio_client

log = logging.getLogger(__name__)

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class CallError(Exception):
    """The provider did not place the call; ``reason`` says why, in its own words."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Leg:
    """One outbound call to place: ``url`` answers it with TwiML, ``status_url`` hears how
    it goes; ``ring_seconds`` before it counts as not answered."""

    to: str
    from_: str
    url: str
    status_url: str
    ring_seconds: int
    detect_machine: bool = True


class VoiceProvider(Protocol):
    name: str

    def place(self, leg: Leg) -> str:
        """Start the call; its provider id. CallError when it was not placed."""
        ...

    def hang_up(self, sid: str) -> None:
        """End a call that is ringing or in progress (CallError when the provider refuses)."""
        ...


class TwilioVoice:
    """Twilio Programmable Voice with one account's credentials."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = twilio_client(account_sid, auth_token, api_url, timeout)

    def place(self, leg: Leg) -> str:
        try:
            call = self._client.calls.create(
                to=leg.to,
                from_=leg.from_,
                url=leg.url,
                method="POST",
                status_callback=leg.status_url,
                status_callback_method="POST",
                status_callback_event=STATUS_EVENTS,
                timeout=leg.ring_seconds,
                # A voicemail box is not a negotiator: the TwiML hangs up on a machine.
                machine_detection="Enable" if leg.detect_machine else None,
            )
        except TwilioRestException as exc:
            text = str(exc.msg).removeprefix("Unable to create record: ")
            reason = f"Twilio {exc.code}: {text} (HTTP {exc.status})" if exc.code else text
            raise CallError(reason, exc.code) from exc
        except requests.Timeout as exc:
            raise CallError(f"Twilio did not answer in time: {exc}") from exc
        except requests.RequestException as exc:
            raise CallError(f"Twilio could not be reached: {exc}") from exc
        except TwilioException as exc:
            raise CallError(f"Twilio: {exc}") from exc
        return str(call.sid)

    def hang_up(self, sid: str) -> None:
        try:
            self._client.calls(sid).update(status="completed")
        except (TwilioException, requests.RequestException) as exc:
            raise CallError(f"Twilio did not end call {sid}: {exc}") from exc


class LogOnlyVoice:
    """For an account without telephony: nothing rings; the call is logged (without the
    numbers' owners) and the lead's activity says it was recorded, not placed."""

    name = "log"

    def __init__(self) -> None:
        self.placed: list[Leg] = []

    def place(self, leg: Leg) -> str:
        self.placed.append(leg)
        sid = f"log-{uuid.uuid4().hex}"
        log.info("Call not placed (log-only provider)", extra={"call_id": sid})
        return sid

    def hang_up(self, sid: str) -> None:
        return None


def voice_provider(t: TelephonySettings | None) -> VoiceProvider:
    if t is not None and t.provider == "twilio":
        assert t.account_sid and t.auth_token
        return TwilioVoice(t.account_sid, t.auth_token)
    return LogOnlyVoice()
