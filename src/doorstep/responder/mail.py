"""E-mail over SMTP, configured by one URL (``DOORSTEP_SMTP_URL``).

``smtp://[user:pass@]host[:port]`` speaks plain SMTP (port 25; ``?starttls=true`` upgrades the
connection with STARTTLS, port 587), ``smtps://`` is TLS from the first byte (port 465). User name
and password are URL-decoded. ``?cafile=/path/ca.pem`` trusts that CA instead of the system's (a
private relay, the tests), ``?timeout=30`` is the seconds allowed for each network step.

smtplib is synchronous: callers send from worker threads. Each failure is either transient (the
server could not be reached, timed out, or answered 4xx: try again later) or permanent (5xx, or
the credentials were refused: trying again will not help), with the server's reply in the reason.
No SMTP URL at all is its own outcome, `NotConfigured`: the e-mail is recorded as not sent.
"""

from __future__ import annotations

import ipaddress
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from email_validator import EmailNotValidError, validate_email

DEFAULT_TIMEOUT = 30.0
TlsMode = Literal["none", "starttls", "implicit"]
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class SmtpUrlError(ValueError):
    """A ``DOORSTEP_SMTP_URL`` that cannot work; the message says why."""


class MailError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientMailError(MailError):
    """Not sent this time (server unreachable, timed out, a 4xx reply): try again later."""


class PermanentMailError(MailError):
    """Refused for good (a 5xx reply, credentials refused): sending again will not help."""


class NotConfigured(MailError):
    """No SMTP server is configured: the e-mail is recorded as not sent, not retried."""

    def __init__(self) -> None:
        super().__init__("not sent: no SMTP server")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def parse_smtp_url(url: str) -> SmtpConfig:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme}://" if scheme else "no scheme"
        raise SmtpUrlError(f"{shown} is not an SMTP URL: use smtp:// or smtps://.")
    if not parts.hostname:
        raise SmtpUrlError("The SMTP URL has no host, as in smtp://smtp.example.com:587.")
    if parts.path not in ("", "/") or parts.fragment:
        raise SmtpUrlError("The SMTP URL is only a server: it has no path or #fragment.")
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        raise SmtpUrlError(f"{port_text!r} is not a port: give a number from 1 to 65535.") from None
    if port == 0:
        raise SmtpUrlError("0 is not a port: give a number from 1 to 65535.")

    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in ("starttls", "cafile", "timeout"):
            raise SmtpUrlError(
                f"Unknown SMTP URL parameter {key!r}: the parameters are starttls, cafile, timeout."
            )
        if key in params:
            raise SmtpUrlError(f"The SMTP URL parameter {key!r} is given twice.")
        params[key] = value

    starttls = False
    if "starttls" in params:
        flag = params["starttls"].lower()
        if flag not in _TRUE | _FALSE:
            raise SmtpUrlError(f"starttls={params['starttls']} must be true or false.")
        starttls = flag in _TRUE
    if starttls and scheme == "smtps":
        raise SmtpUrlError(
            "starttls=true with smtps://: smtps:// is TLS from the start (port 465) and "
            "STARTTLS upgrades a plain smtp:// connection (port 587); use one of them."
        )
    tls: TlsMode = "implicit" if scheme == "smtps" else "starttls" if starttls else "none"

    cafile = params.get("cafile") or None
    if "cafile" in params and not cafile:
        raise SmtpUrlError("cafile= needs the path of a CA certificate file.")
    if cafile and tls == "none":
        raise SmtpUrlError("cafile= is for TLS: add starttls=true or use smtps://.")
    if cafile and not os.access(cafile, os.R_OK):
        raise SmtpUrlError(f"cafile={cafile}: no readable file there.")

    timeout = DEFAULT_TIMEOUT
    if "timeout" in params:
        try:
            timeout = float(params["timeout"])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 600:
            raise SmtpUrlError(f"timeout={params['timeout']} must be seconds, above 0, up to 600.")

    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise SmtpUrlError("The SMTP URL has a password but no user name: smtp://user:pass@host.")
    if username and password is None:
        raise SmtpUrlError(f"The SMTP user {username!r} has no password: smtp://user:pass@host.")
    if username and tls == "none" and not is_loopback(parts.hostname):
        raise SmtpUrlError(
            "The password would cross the network unencrypted: use smtps:// or ?starttls=true."
        )

    default_port = {"implicit": 465, "starttls": 587, "none": 25}[tls]
    return SmtpConfig(
        host=parts.hostname,
        port=port or default_port,
        tls=tls,
        username=username or None,
        password=password,
        cafile=cafile,
        timeout=timeout,
    )


def check_smtp_url(url: str) -> None:
    """Raise SmtpUrlError for an SMTP URL that cannot work; an empty one is fine (no e-mail)."""
    if url.strip():
        parse_smtp_url(url)


def check_mail_from(address: str) -> None:
    """Raise ValueError unless `address` is empty or one plain e-mail address (no name: the
    office's name is the display name)."""
    if address.strip():
        try:
            validate_email(address.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{address!r} is not an e-mail address: {exc}") from None


def is_loopback(host: str) -> bool:
    """This machine: credentials may travel unencrypted to it, nowhere else."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class OutgoingEmail:
    """One e-mail to one person. The Message-ID is made when the e-mail is, so a caller can keep
    it and a retried send is the same message to the recipient's mail program.

    `unsubscribe_url` adds ``List-Unsubscribe``, and for an https address also
    ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058: the mail program POSTs there
    to unsubscribe without opening a page; the relay's DKIM signature must cover both)."""

    to: str
    subject: str
    text: str
    from_address: str
    from_name: str = ""
    to_name: str = ""
    html: str | None = None
    reply_to: str | None = None
    unsubscribe_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.message_id:
            domain = self.from_address.rpartition("@")[2] or None
            object.__setattr__(self, "message_id", make_msgid(domain=domain))

    def build(self) -> EmailMessage:
        """The MIME message: text always, with the HTML as an alternative when there is one.
        Raises ValueError for an address or header that cannot be put in an e-mail."""
        msg = EmailMessage()
        msg["From"] = _address(self.from_address, self.from_name)
        msg["To"] = _address(self.to, self.to_name)
        if self.reply_to:
            msg["Reply-To"] = _address(self.reply_to)
        # A template's stray line break would be a header injection, or refused: keep one line.
        msg["Subject"] = " ".join(self.subject.split())
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = self.message_id
        if self.unsubscribe_url:
            msg["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
            if self.unsubscribe_url.startswith("https://"):
                msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        for name, value in self.headers.items():
            if name in msg:
                del msg[name]
            msg[name] = value
        msg.set_content(self.text)
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html")
        return msg


def _address(addr_spec: str, display_name: str = "") -> Address:
    if "\r" in addr_spec or "\n" in addr_spec or "@" not in addr_spec:
        raise ValueError(f"{addr_spec!r} is not an e-mail address.")
    name = " ".join(display_name.split())
    try:
        return Address(display_name=name, addr_spec=addr_spec.strip())
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{addr_spec!r} is not an e-mail address.") from exc


class Mailer(Protocol):
    def send(self, msg: OutgoingEmail) -> str:
        """Send `msg`; return its Message-ID. Raises TransientMailError, PermanentMailError or
        NotConfigured."""
        ...


class NoMailer:
    """What Doorstep has when no SMTP URL is set."""

    def send(self, msg: OutgoingEmail) -> str:
        raise NotConfigured()


class SmtpMailer:
    """One connection per e-mail: sends are rare enough that a pool would only hold sockets
    open for the server to time out."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, msg: OutgoingEmail) -> str:
        try:
            email = msg.build()
        except ValueError as exc:
            raise PermanentMailError(f"not sent: {exc}") from exc
        c = self.config
        where = f"{c.host}:{c.port}"
        try:
            with self._connect() as smtp:
                if c.tls == "starttls":
                    smtp.starttls(context=self._tls_context())
                if c.username and c.password is not None:
                    smtp.login(c.username, c.password)
                smtp.send_message(email, from_addr=msg.from_address, to_addrs=[msg.to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _by_code(code, f"{where} refused {msg.to}: {code} {_text(reply)}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            text = f"{where} refused the user name and password: {exc.smtp_code} {_text(exc)}"
            # 454 is "try again later"; 535 and the rest are the credentials themselves.
            if 400 <= exc.smtp_code < 500:
                raise TransientMailError(text) from exc
            raise PermanentMailError(text) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentMailError(f"{where}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"{where}: {exc.smtp_code} {_text(exc)}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a read that timed out as a lost connection.
            if isinstance(exc.__context__, TimeoutError):
                raise TransientMailError(f"{where} did not answer within {c.timeout:g} s") from exc
            raise TransientMailError(f"{where} closed the connection: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentMailError(
                f"{where}: its TLS certificate is not trusted ({exc.verify_message}); "
                "a private CA can be given with ?cafile="
            ) from exc
        except smtplib.SMTPException as exc:
            # What is left is the client's own refusal, e.g. no AUTH method both sides know.
            raise PermanentMailError(f"{where}: {exc}") from exc
        except TimeoutError as exc:
            raise TransientMailError(f"{where} did not answer within {c.timeout:g} s") from exc
        except OSError as exc:
            raise TransientMailError(f"{where} could not be reached: {exc}") from exc
        return msg.message_id

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls == "implicit":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._tls_context())
        return smtplib.SMTP(c.host, c.port, timeout=c.timeout)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile)


def mailer_from_url(url: str) -> Mailer:
    """The mailer for ``DOORSTEP_SMTP_URL``: SMTP, or NoMailer when it is empty."""
    if not url.strip():
        return NoMailer()
    return SmtpMailer(parse_smtp_url(url))


def _by_code(code: int, reason: str) -> MailError:
    return PermanentMailError(reason) if code >= 500 else TransientMailError(reason)


def _text(reply: bytes | str | BaseException) -> str:
    if isinstance(reply, BaseException):
        reply = getattr(reply, "smtp_error", str(reply))
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply).split())
