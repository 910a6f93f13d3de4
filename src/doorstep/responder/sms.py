"""Texts to leads through a provider: Twilio Messaging (the official library), or "log only" for
an account without telephony.

Texts go only to valid UK mobiles (`uk_mobile`). Each account brings its own Twilio credentials;
where Twilio's REST API is reached is one setting, ``DOORSTEP_TWILIO_API_URL``, so an edge or a
simulator speaking the same API can stand in. The library is synchronous: callers send from
worker threads. A failure is transient (Twilio 5xx or 429, no answer in time, unreachable: try
again later) or permanent (any other 4xx: a bad number, an unsubscribed recipient, wrong
credentials), with Twilio's error code and message.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import phonenumbers
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from doorstep.config import get_settings
from doorstep.leads.contact import normalise_phone
from doorstep.responder.mail import is_loopback

log = logging.getLogger(__name__)
# The library logs each request and response at INFO, a dozen lines apiece; Doorstep records
# each text's outcome itself, so only the library's warnings are wanted.
_twilio_http_log = logging.getLogger(f"{__name__}.twilio_http")
_twilio_http_log.setLevel(logging.WARNING)

DEFAULT_TIMEOUT = 30.0
_E164 = re.compile(r"\+[1-9]\d{6,14}")
# A Messaging Service SID sends from the service's pool of numbers instead of one number.
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")


class SmsError(Exception):
    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code  # the provider's error code, when it gave one


class TransientSmsError(SmsError):
    """Not sent this time (provider down or busy, no answer in time): try again later."""


class PermanentSmsError(SmsError):
    """Refused for good (invalid number, unsubscribed recipient 21610, bad credentials)."""


class SmsProvider(Protocol):
    def send(self, to_e164: str, body: str, from_: str) -> str:
        """Send one text; return the provider's message id. `from_` is a number in E.164 or,
        for Twilio, a Messaging Service SID (MG...). Raises TransientSmsError or
        PermanentSmsError."""
        ...


def uk_mobile(phone: str) -> str | None:
    """The E.164 form of a valid UK mobile number, or None: texts go to nothing else."""
    e164, callable_ = normalise_phone(phone)
    if e164 is None or not callable_:
        return None
    number_type = phonenumbers.number_type(phonenumbers.parse(e164))
    return e164 if number_type == phonenumbers.PhoneNumberType.MOBILE else None


def check_twilio_api_url(url: str) -> None:
    """Raise ValueError unless `url` is where a Twilio REST API can be: https, or http on this
    machine only (the auth token travels with every request)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL such as https://api.twilio.com.")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a base URL has no ?query or #fragment.")
    try:
        parts.port  # noqa: B018 - reading it is what checks it
    except ValueError:
        raise ValueError(f"{url!r} has a bad port.") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{url!r}: the auth token would travel unencrypted; use https://.")


class _RebasedHttpClient(TwilioHttpClient):
    """The library's own HTTP client, sending what it would send to api.twilio.com (or to an
    edge it was told of through TWILIO_EDGE / TWILIO_REGION) to Doorstep's configured base."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_twilio_http_log)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host == "api.twilio.com" or (host.startswith("api.") and host.endswith(".twilio.com")):
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, url, *args, **kwargs)


def twilio_client(account_sid: str, auth_token: str, api_url: str | None, timeout: float) -> Client:
    """Twilio's official client, reaching DOORSTEP_TWILIO_API_URL (or ``api_url``): texts
    and calls alike."""
    base = api_url if api_url is not None else get_settings().twilio_api_url
    check_twilio_api_url(base)
    return Client(account_sid, auth_token, http_client=_RebasedHttpClient(base, timeout))


class TwilioSms:
    """Twilio Programmable Messaging, with one account's credentials. Cheap to make, so a
    worker can make one for each text rather than share one between threads."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.account_sid = account_sid
        self._client = twilio_client(account_sid, auth_token, api_url, timeout)

    def send(self, to_e164: str, body: str, from_: str) -> str:
        if not _E164.fullmatch(to_e164):
            raise PermanentSmsError(f"not sent: {to_e164!r} is not a number in E.164 form")
        sender = (
            {"messaging_service_sid": from_}
            if _MESSAGING_SERVICE.fullmatch(from_)
            else {"from_": from_}
        )
        try:
            message = self._client.messages.create(to=to_e164, body=body, **sender)
        except TwilioRestException as exc:
            message_text = str(exc.msg).removeprefix("Unable to create record: ")
            raise _by_status(exc.status, exc.code, message_text) from exc
        except TwilioServiceException as exc:
            detail = f"{exc.title}: {exc.detail}" if exc.detail else exc.title
            raise _by_status(exc.status, exc.code, detail) from exc
        except requests.Timeout as exc:
            raise TransientSmsError(f"Twilio did not answer in time: {exc}") from exc
        except requests.RequestException as exc:
            raise TransientSmsError(f"Twilio could not be reached: {exc}") from exc
        except TwilioException as exc:  # e.g. an answer that is not Twilio's JSON
            raise TransientSmsError(f"Twilio: {exc}") from exc
        return str(message.sid)


def _by_status(status: int, code: int | None, message: str) -> SmsError:
    reason = f"Twilio {code}: {message} (HTTP {status})" if code else f"Twilio: {message}"
    if status >= 500 or status == 429:
        return TransientSmsError(reason, code)
    return PermanentSmsError(reason, code)


@dataclass(frozen=True)
class LoggedSms:
    id: str
    to: str
    body: str
    from_: str


class LogOnlySms:
    """For an account without telephony: the text is recorded (and logged, without its body,
    which is personal data), and nothing is sent."""

    def __init__(self) -> None:
        self.sent: list[LoggedSms] = []

    def send(self, to_e164: str, body: str, from_: str) -> str:
        record = LoggedSms(f"log-{uuid.uuid4().hex}", to_e164, body, from_)
        self.sent.append(record)
        log.info(
            "Text not sent (log-only provider)",
            extra={"sms_id": record.id, "to": to_e164, "from": from_, "chars": len(body)},
        )
        return record.id
