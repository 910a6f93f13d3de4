"""A real SMTP server for tests (aiosmtpd on a thread): plain, STARTTLS or implicit TLS, with or
without AUTH, refusing chosen recipients. Tests read what it received.

    from tests.smtp_server import smtp_server  # the fixture: a plain server, no AUTH

    def test_it_mails_the_lead(smtp_server):
        ... DOORSTEP_SMTP_URL = smtp_server.url() ...
        assert smtp_server.received[0].message["To"] == "ann@example.com"

Or start one with `running_smtp_server(tls=..., users=..., ca=...)`. TLS servers use a throwaway
CA (trustme): its certificate file is in the URL as ``?cafile=``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    login: str | None  # the user name it authenticated with, if any


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    # address -> the reply to its RCPT TO, e.g. "550 5.1.1 No such user"
    refusals: dict[str, str] = field(default_factory=dict)
    # The next `holds` messages wait `hold_s` seconds before the server answers their DATA
    # (a slow relay: a client can be killed mid-send). `data_started` is set at each DATA.
    holds: int = 0
    hold_s: float = 0.0
    data_started: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_started.set()
        if self.holds > 0:
            self.holds -= 1
            await asyncio.sleep(self.hold_s)
        raw = cast(bytes, envelope.original_content or envelope.content)
        login = session.auth_data.login.decode() if session.auth_data else None
        self.received.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                message=cast(EmailMessage, message_from_bytes(raw, policy=policy.default)),
                login=login,
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "implicit"],
        users: dict[str, str] | None,
        ca: trustme.CA | None,
        cafile: Path | None,
        auth_mechanisms: tuple[str, ...] | None,
    ) -> None:
        self.tls = tls
        self.users = users
        self.cafile = cafile
        self.host = HOST
        self.port = free_port()
        self._handler = _Handler()
        kwargs: dict[str, Any] = {}
        server_context = None
        if tls != "none":
            assert ca is not None
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(HOST, "localhost").configure_cert(server_context)
        if tls == "starttls":
            kwargs.update(tls_context=server_context, require_starttls=True)
        if users is not None:
            # aiosmtpd only knows a connection is encrypted after STARTTLS, so over implicit
            # TLS it must allow AUTH "without TLS", and it warns when that AUTH is required.
            starttls = tls == "starttls"
            kwargs.update(
                authenticator=self._authenticate, auth_require_tls=starttls, auth_required=starttls
            )
            if auth_mechanisms is not None:
                every = {"LOGIN", "PLAIN"}
                kwargs["auth_exclude_mechanism"] = every - set(auth_mechanisms)
        self._controller = Controller(
            self._handler,
            hostname=HOST,
            port=self.port,
            ssl_context=server_context if tls == "implicit" else None,
            **kwargs,
        )

    @property
    def received(self) -> list[Received]:
        return self._handler.received

    def hold(self, messages: int, seconds: float) -> threading.Event:
        """The next `messages` wait `seconds` before their DATA is answered; returns the
        event set when a DATA command arrives."""
        self._handler.holds = messages
        self._handler.hold_s = seconds
        self._handler.data_started.clear()
        return self._handler.data_started

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Answer RCPT TO for `address` with `reply` (a 5xx refuses it, a 4xx defers it)."""
        self._handler.refusals[address] = reply

    def url(self, user: str | None = None, password: str | None = None, **params: str) -> str:
        """``DOORSTEP_SMTP_URL`` for this server (credentials URL-encoded, the CA trusted)."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        creds = ""
        if user is not None:
            creds = quote(user, safe="") + ":" + quote(password or "", safe="") + "@"
        query = dict(params)
        if self.tls == "starttls":
            query.setdefault("starttls", "true")
        if self.cafile is not None:
            query.setdefault("cafile", str(self.cafile))
        suffix = "?" + urlencode(query) if query else ""
        return f"{scheme}://{creds}{self.host}:{self.port}{suffix}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.users is not None
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@contextmanager
def running_smtp_server(
    *,
    tls: Literal["none", "starttls", "implicit"] = "none",
    users: dict[str, str] | None = None,
    auth_mechanisms: tuple[str, ...] | None = None,
) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 for the duration of the block; `users` turns AUTH on (and
    required), `auth_mechanisms` limits what it offers, e.g. ("LOGIN",)."""
    with tempfile.TemporaryDirectory() as tmp:
        ca = cafile = None
        if tls != "none":
            ca = trustme.CA()
            cafile = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(cafile))
        server = SmtpServer(
            tls=tls, users=users, ca=ca, cafile=cafile, auth_mechanisms=auth_mechanisms
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def free_port() -> int:
    """A port nothing listens on (now): for a server to take, or to find nobody home."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return cast(int, s.getsockname()[1])
