"""A small Twilio REST API for tests: a real HTTP server on 127.0.0.1 that answers as
api.twilio.com does, so Doorstep's providers are tested through the official library and its
HTTP transport, with nothing patched.

    from tests.twilio_sim import twilio_sim  # the fixture

    def test_it_texts(twilio_sim):
        sid, token = twilio_sim.add_account()
        sms = TwilioSms(sid, token, api_url=twilio_sim.base_url)
        sms.send("+447986000000", "Hi", "+441159000000")
        assert twilio_sim.messages[0]["To"] == "+447986000000"

Today it speaks the Messages API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json). Each
resource is one method named ``_create_<resource>`` that gets the account and the form and returns
the status and JSON: the Calls API (``_create_calls``) for the autocaller goes beside it.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import phonenumbers
import pytest

API = "2010-04-01"
_ACCOUNT_PATH = re.compile(rf"^/{API}/Accounts/(?P<sid>AC[0-9a-f]{{32}})/(?P<resource>\w+)\.json$")

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


@pytest.fixture
def twilio_sim() -> Iterator[TwilioSimulator]:
    with running_twilio_sim() as sim:
        yield sim


@contextmanager
def running_twilio_sim() -> Iterator[TwilioSimulator]:
    """The simulator on a free port of 127.0.0.1 for the duration of the block."""
    sim = TwilioSimulator()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(sim))
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
