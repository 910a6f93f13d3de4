"""A Twilio-compatible simulator: a real HTTP server on 127.0.0.1 that answers as
api.twilio.com does, so Doorstep's providers are exercised through the official library and
its HTTP transport with nothing patched. The tests use it, and so does ``make run``'s demo
(``doorstep simulator``), where it plays the phones so a newcomer watches a call happen.

It speaks the Messages API (POST .../Messages.json) and the Calls API: POST .../Calls.json
places a call and plays it out on a thread, as Twilio would: it posts signed status callbacks
(initiated, ringing, in-progress, completed / busy / no-answer / failed), fetches the call's
TwiML from its ``Url`` (with ``AnsweredBy`` when machine detection was asked for), says the
<Say>s, presses the scripted key for a <Gather>, and for a <Dial> rings the <Number> (its own
status callbacks, answering-machine detection callback) and then posts the Dial's action.
POST .../Calls/{CallSid}.json with Status=completed|canceled ends a call.

Each phone number's behaviour is scripted with ``Phone`` (answers or not, after how long,
busy, a voicemail, presses which key, hangs up after N s); simulated seconds pass
``time_scale`` real seconds each, so tests run in a blink and the demo at a watchable pace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import phonenumbers

API = "2010-04-01"
_ACCOUNT_PATH = re.compile(rf"^/{API}/Accounts/(?P<sid>AC[0-9a-f]{{32}})/(?P<resource>\w+)\.json$")
_CALL_PATH = re.compile(
    rf"^/{API}/Accounts/(?P<sid>AC[0-9a-f]{{32}})/Calls/(?P<call>CA[0-9a-f]{{32}})\.json$"
)

Reply = tuple[int, dict[str, Any]]


def twilio_error(status: int, code: int, message: str) -> Reply:
    """Twilio's error body, as the REST API sends it."""
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class TwilioSimulator:
    accounts: dict[str, str] = field(default_factory=dict)  # account SID -> auth token
    messages: list[dict[str, str]] = field(default_factory=list)  # the forms of accepted texts
    requests: list[Request] = field(default_factory=list)  # everything that came in
    # Numbers that have texted STOP: Twilio refuses them with 21610.
    unsubscribed: set[str] = field(default_factory=set)
    # Replies given, in turn, before the normal ones: e.g. twilio_error(503, 20503, "...").
    queued_failures: list[Reply] = field(default_factory=list)
    # Seconds to wait before answering, to make a client time out.
    delay: float = 0.0
    base_url: str = ""
    # -- calls --
    phones: dict[str, Phone] = field(default_factory=dict)  # scripted behaviour by number
    default_phone: Phone = field(default_factory=lambda: Phone())
    time_scale: float = 0.002  # real seconds per simulated second
    calls: dict[str, SimCall] = field(default_factory=dict)  # by CallSid, in placing order
    callbacks: list[Callback] = field(default_factory=list)  # every request made to the app
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self) -> tuple[str, str]:
        sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
        self.accounts[sid] = token
        return sid, token

    def fail_next(self, status: int, code: int, message: str) -> None:
        self.queued_failures.append(twilio_error(status, code, message))

    # -- the server ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if self.delay:
            time.sleep(self.delay)
        instance = _CALL_PATH.match(request.path)
        if request.method == "POST" and instance:
            if self._basic_auth(request) != (instance["sid"], self.accounts.get(instance["sid"])):
                return twilio_error(401, 20003, "Authenticate")
            return self._update_call(instance["call"], request.form)
        match = _ACCOUNT_PATH.match(request.path)
        if request.method != "POST" or not match:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        sid = match["sid"]
        if self._basic_auth(request) != (sid, self.accounts.get(sid)):
            return twilio_error(401, 20003, "Authenticate")
        if self.queued_failures:
            return self.queued_failures.pop(0)
        create = getattr(self, f"_create_{match['resource'].lower()}", None)
        if create is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        result: Reply = create(sid, request.form)
        return result

    def _basic_auth(self, request: Request) -> tuple[str, str | None] | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user, password

    def _create_messages(self, account_sid: str, form: dict[str, str]) -> Reply:
        to = form.get("To")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _valid_number(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return twilio_error(400, 21602, "Message body is required.")
        if to in self.unsubscribed:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        self.messages.append(form)
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        return 201, {
            "account_sid": account_sid,
            "api_version": API,
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "subresource_uris": {
                "media": f"/{API}/Accounts/{account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/{API}/Accounts/{account_sid}/Messages/{sid}.json",
        }

    # -- calls ---------------------------------------------------------------------------------

    def phone(self, number: str) -> Phone:
        return self.phones.get(number, self.default_phone)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until every call placed so far has played out."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(alive)} simulated call(s) still going")
            alive[0].join(0.05)

    def _create_calls(self, account_sid: str, form: dict[str, str]) -> Reply:
        to, from_, url = form.get("To"), form.get("From"), form.get("Url")
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not _valid_number(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ or not _valid_number(from_):
            return twilio_error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if not url:
            return twilio_error(400, 21205, "Url parameter is required.")
        call = SimCall(
            sid="CA" + secrets.token_hex(16),
            account_sid=account_sid,
            to=to,
            from_=from_,
            url=url,
            status_callback=form.get("StatusCallback"),
            timeout=int(form.get("Timeout") or 60),
            machine_detection=form.get("MachineDetection"),
        )
        with self._lock:
            self.calls[call.sid] = call
            thread = threading.Thread(target=self._play, args=(call,), daemon=True)
            self._threads.append(thread)
        thread.start()
        return 201, call.resource("queued")

    def _update_call(self, sid: str, form: dict[str, str]) -> Reply:
        call = self.calls.get(sid) or self._child(sid)
        if call is None:
            return twilio_error(404, 20404, f"The requested resource Calls/{sid} was not found")
        if form.get("Status") in ("completed", "canceled"):
            call.ended_by_api.set()
        return 200, call.resource(call.status)

    def _child(self, sid: str) -> SimCall | None:
        for call in list(self.calls.values()):
            if call.child is not None and call.child.sid == sid:
                return call.child
        return None

    def _sleep(self, seconds: float, call: SimCall) -> bool:
        """Simulated time passes; True when the call was ended through the API meanwhile."""
        return call.ended_by_api.wait(seconds * self.time_scale)

    def _post(self, url: str, params: dict[str, str], call: SimCall) -> httpx.Response | None:
        token = self.accounts.get(call.account_sid, "")
        headers = {"X-Twilio-Signature": signature(token, url, params)}
        try:
            r = httpx.post(url, data=params, headers=headers, timeout=15)
        except httpx.HTTPError as exc:
            self.callbacks.append(Callback(url, params, headers, None, str(exc)))
            return None
        self.callbacks.append(Callback(url, params, headers, r.status_code, r.text))
        return r

    def _status(self, call: SimCall, status: str, **extra: str) -> None:
        call.status = status
        call.statuses.append(status)
        if not call.status_callback:
            return
        params = call.params(status) | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(len(call.statuses) - 1),
            "Timestamp": format_datetime(datetime.now(UTC)),
            **extra,
        }
        self._post(call.status_callback, params, call)

    def _play(self, call: SimCall) -> None:
        phone = self.phone(call.to)
        self._status(call, "initiated")
        self._status(call, "ringing")
        end = self._ring(call, phone)
        if end is not None:
            self._status(call, end[0], **end[1])
            return
        call.answered = True
        self._status(call, "in-progress")
        params = call.params("in-progress")
        if call.machine_detection:
            params["AnsweredBy"] = "machine_start" if phone.machine else "human"
        started = time.monotonic()
        self._run_twiml(call, phone, call.url, params)
        seconds = call.seconds or max(1, round((time.monotonic() - started) / self.time_scale))
        self._status(call, "completed", CallDuration=str(seconds))

    def _ring(self, call: SimCall, phone: Phone) -> tuple[str, dict[str, str]] | None:
        """How a ringing phone ends, or None when it is answered."""
        if phone.fail:
            return "failed", {"ErrorCode": "32009", "ErrorMessage": phone.fail}
        if phone.busy:
            return "busy", {}
        if not phone.answers or phone.answer_after >= call.timeout:
            if self._sleep(call.timeout, call):
                return "canceled", {}
            return "no-answer", {}
        if self._sleep(phone.answer_after, call):
            return "canceled", {}
        return None

    def _run_twiml(self, call: SimCall, phone: Phone, url: str, params: dict[str, str]) -> None:
        for _ in range(10):  # each <Gather> action or <Dial> action gives a new document
            r = self._post(url, params, call)
            if r is None or r.status_code != 200:
                call.errors.append(f"{url}: {r.status_code if r else 'unreachable'}")
                return
            try:
                root = ET.fromstring(r.text)
            except ET.ParseError as exc:
                call.errors.append(f"{url}: not TwiML ({exc})")
                return
            following = self._verbs(call, phone, list(root), params)
            if following is None:
                return
            url, params = following

    def _verbs(
        self, call: SimCall, phone: Phone, verbs: list[ET.Element], params: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        for verb in verbs:
            if call.ended_by_api.is_set():
                return None
            if verb.tag == "Say":
                call.heard.append((verb.text or "").strip())
            elif verb.tag == "Hangup":
                return None
            elif verb.tag == "Pause":
                self._sleep(float(verb.get("length") or 1), call)
            elif verb.tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        call.heard.append((inner.text or "").strip())
                if phone.hang_up_after is not None:
                    self._sleep(phone.hang_up_after, call)
                    return None
                if phone.press is None:
                    self._sleep(float(verb.get("timeout") or 5), call)
                    continue  # no key: on to the verbs after the Gather
                self._sleep(phone.press_after, call)
                if call.ended_by_api.is_set():
                    return None
                action = verb.get("action") or call.url
                return action, call.params("in-progress") | {
                    "Digits": phone.press,
                    "FinishedOnKey": "",
                }
            elif verb.tag == "Dial":
                return self._dial(call, verb)
        return None

    def _dial(self, call: SimCall, dial: ET.Element) -> tuple[str, dict[str, str]] | None:
        number = dial.find("Number")
        to = (number.text or "").strip() if number is not None else (dial.text or "").strip()
        caller_id = dial.get("callerId") or call.from_
        child = SimCall(
            sid="CA" + secrets.token_hex(16),
            account_sid=call.account_sid,
            to=to,
            from_=caller_id,
            url="",
            status_callback=number.get("statusCallback") if number is not None else None,
            timeout=int(dial.get("timeout") or 30),
            machine_detection=number.get("machineDetection") if number is not None else None,
            parent=call.sid,
            dial_attributes=dict(number.attrib) if number is not None else {},
        )
        call.child = child
        phone = self.phone(to)
        self._status(child, "initiated")
        self._status(child, "ringing")
        end = self._ring(child, phone)
        seconds = 0
        if end is not None:
            self._status(child, end[0], **end[1])
            dial_status = end[0]
        else:
            child.answered = True
            self._status(child, "in-progress")
            dial_status = "completed"
            amd = number.get("amdStatusCallback") if number is not None else None
            if child.machine_detection and amd:
                answered_by = "machine_start" if phone.machine else "human"
                self._post(amd, child.params("in-progress") | {"AnsweredBy": answered_by}, child)
            talk = phone.talk if not phone.machine else 20
            started = time.monotonic()
            self._sleep(talk, child)
            seconds = (
                talk
                if not child.ended_by_api.is_set()
                else max(1, round((time.monotonic() - started) / self.time_scale))
            )
            child.seconds = seconds
            self._status(child, "completed", CallDuration=str(seconds))
        action = dial.get("action")
        if not action:
            return None
        return action, call.params("in-progress") | {
            "DialCallSid": child.sid,
            "DialCallStatus": dial_status,
            "DialCallDuration": str(seconds),
        }


@dataclass
class Phone:
    """How the phone at a number behaves when it rings (simulated seconds)."""

    answers: bool = True
    answer_after: float = 3
    busy: bool = False
    fail: str | None = None  # the carrier's reason: the call fails
    machine: bool = False  # a voicemail answers
    press: str | None = "1"  # the key pressed at a <Gather>; None: none
    press_after: float = 2
    talk: int = 45  # seconds on the line once connected
    hang_up_after: float | None = None  # hangs up this long into the <Gather>


@dataclass
class SimCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    timeout: int
    machine_detection: str | None
    parent: str | None = None
    dial_attributes: dict[str, str] = field(default_factory=dict)
    status: str = "queued"
    statuses: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)  # what was said to whoever answered
    errors: list[str] = field(default_factory=list)
    answered: bool = False
    seconds: int = 0
    child: SimCall | None = None  # the <Dial>ed call
    ended_by_api: threading.Event = field(default_factory=threading.Event)

    def params(self, status: str) -> dict[str, str]:
        out = {
            "AccountSid": self.account_sid,
            "ApiVersion": API,
            "CallSid": self.sid,
            "CallStatus": status,
            "Direction": "outbound-dial" if self.parent else "outbound-api",
            "From": self.from_,
            "To": self.to,
        }
        if self.parent:
            out["ParentCallSid"] = self.parent
        return out

    def resource(self, status: str) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        return {
            "sid": self.sid, "account_sid": self.account_sid, "to": self.to,
            "from": self.from_, "status": status, "direction": "outbound-api",
            "date_created": now, "date_updated": now, "api_version": API,
            "parent_call_sid": self.parent, "price": None, "price_unit": "USD",
            "uri": f"/{API}/Accounts/{self.account_sid}/Calls/{self.sid}.json",
        }  # fmt: skip


@dataclass
class Callback:
    """One request the simulator made to the application, and its answer."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int | None
    body: str


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1, keyed by the auth token,
    of the URL followed by each POST parameter's name and value, sorted by name."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _valid_number(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False


def _handler_for(sim: TwilioSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            request = Request(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                form,
            )
            status, body = sim.handle(request)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_twilio_sim(
    port: int = 0, sim: TwilioSimulator | None = None
) -> Iterator[TwilioSimulator]:
    """The simulator on 127.0.0.1 (a free port unless one is given) for the duration of the
    block."""
    sim = sim or TwilioSimulator()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(sim))
    server.daemon_threads = True
    sim.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll: shutdown() waits up to one interval, and every test shuts one down.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield sim
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
