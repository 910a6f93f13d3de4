"""E-mail goes out through a real SMTP server (aiosmtpd, started here): plain, STARTTLS and
implicit TLS, with AUTH; failures come back transient or permanent with the server's reply."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from doorstep.config import Settings
from doorstep.responder.mail import (
    NoMailer,
    NotConfigured,
    OutgoingEmail,
    PermanentMailError,
    SmtpConfig,
    SmtpMailer,
    SmtpUrlError,
    TransientMailError,
    check_smtp_url,
    mailer_from_url,
    parse_smtp_url,
)
from tests.smtp_server import free_port, running_smtp_server, smtp_server  # noqa: F401


def email(**overrides: object) -> OutgoingEmail:
    fields: dict[str, object] = {
        "to": "ann.lead@example.com",
        "to_name": "Ann Lead",
        "subject": "Thanks Ann",
        "text": "Hello Ann, Skyline Nottingham will call you shortly.",
        "from_address": "nottingham@skyline.example",
        "from_name": "Skyline Estates – Nottingham",
    }
    fields.update(overrides)
    return OutgoingEmail(**fields)


# -- the URL --------------------------------------------------------------------------------------


def test_smtp_urls_name_the_server_and_how_to_reach_it():
    assert parse_smtp_url("smtp://localhost") == SmtpConfig("localhost", 25)
    assert parse_smtp_url("smtps://smtp.example.com") == SmtpConfig(
        "smtp.example.com", 465, tls="implicit"
    )
    config = parse_smtp_url(
        "smtp://ann%40agency.co.uk:p%40ss%3Aw%2Frd@smtp.example.com?starttls=true"
    )
    assert config == SmtpConfig(
        "smtp.example.com",
        587,
        tls="starttls",
        username="ann@agency.co.uk",
        password="p@ss:w/rd",
    )
    assert "p@ss" not in repr(config)
    assert parse_smtp_url("smtp://relay:2525?starttls=false&timeout=5").timeout == 5
    assert parse_smtp_url("smtp://relay:2525?starttls=false").port == 2525


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://smtp.example.com", "http:// is not an SMTP URL"),
        ("smtp.example.com:587", "is not an SMTP URL"),
        ("smtp://", "has no host"),
        ("smtp://smtp.example.com:58x7", "'58x7' is not a port"),
        ("smtp://smtp.example.com:70000", "'70000' is not a port"),
        ("smtp://smtp.example.com:0", "0 is not a port"),
        ("smtps://smtp.example.com?starttls=true", "use one of them"),
        ("smtp://smtp.example.com?starttls=maybe", "must be true or false"),
        ("smtp://smtp.example.com?startls=true", "Unknown SMTP URL parameter 'startls'"),
        ("smtp://smtp.example.com?starttls=true&starttls=true", "given twice"),
        ("smtp://smtp.example.com?timeout=0", "must be seconds"),
        ("smtp://smtp.example.com/mail", "no path"),
        ("smtp://ann@smtp.example.com?starttls=true", "has no password"),
        ("smtp://:secret@smtp.example.com?starttls=true", "no user name"),
        ("smtp://ann:secret@smtp.example.com", "unencrypted"),
        ("smtps://smtp.example.com?cafile=/nowhere/ca.pem", "no readable file"),
        ("smtp://smtp.example.com?cafile=/etc/hostname", "cafile= is for TLS"),
    ],
)
def test_an_smtp_url_that_cannot_work_is_refused_saying_why(url, says):
    with pytest.raises(SmtpUrlError, match=says):
        check_smtp_url(url)


def test_no_smtp_url_is_allowed_and_means_no_mail():
    check_smtp_url("")
    mailer = mailer_from_url("")
    assert isinstance(mailer, NoMailer)
    with pytest.raises(NotConfigured, match="not sent: no SMTP server"):
        mailer.send(email())


def test_settings_refuse_to_start_with_a_bad_smtp_url_or_sender():
    with pytest.raises(RuntimeError, match=r"DOORSTEP_SMTP_URL: .*use one of them"):
        Settings(smtp_url="smtps://mail.example.com?starttls=true").check()
    with pytest.raises(RuntimeError, match="DOORSTEP_MAIL_FROM: 'not an address'"):
        Settings(mail_from="not an address").check()
    Settings(smtp_url="smtp://mail.example.com:587?starttls=true", mail_from="a@b.example").check()


# -- the message ----------------------------------------------------------------------------------


def test_the_message_has_text_and_an_html_alternative():
    msg = email(html="<p>Hello <b>Ann</b></p>", reply_to="nottingham@skyline.example").build()
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_payload()
    assert text.get_content_type() == "text/plain" and "Hello Ann" in text.get_content()
    assert html.get_content_type() == "text/html" and "<b>Ann</b>" in html.get_content()
    assert msg["Reply-To"] == "nottingham@skyline.example"
    assert msg["To"] == "Ann Lead <ann.lead@example.com>"
    assert msg["Date"]


def test_a_text_only_message_is_one_part():
    assert email().build().get_content_type() == "text/plain"


def test_the_message_id_is_made_once_with_the_senders_domain():
    msg = email()
    assert msg.message_id.endswith("@skyline.example>")
    assert msg.build()["Message-ID"] == msg.message_id == msg.build()["Message-ID"]
    assert email().message_id != msg.message_id
    assert email(message_id="<kept@skyline.example>").message_id == "<kept@skyline.example>"


def test_one_click_unsubscribe_headers_follow_rfc_8058():
    msg = email(unsubscribe_url="https://doorstep.example/u/abc").build()
    assert msg["List-Unsubscribe"] == "<https://doorstep.example/u/abc>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # One-click needs https; a plain http address is still a link, not a one-click POST.
    plain = email(unsubscribe_url="http://localhost:8000/u/abc").build()
    assert plain["List-Unsubscribe"] == "<http://localhost:8000/u/abc>"
    assert plain["List-Unsubscribe-Post"] is None


def test_extra_headers_are_added_and_a_subject_stays_on_one_line():
    msg = email(subject="Thanks\r\nBcc: everyone@example.com", headers={"X-Doorstep-Lead": "42"})
    built = msg.build()
    assert built["Subject"] == "Thanks Bcc: everyone@example.com"
    assert built["Bcc"] is None
    assert built["X-Doorstep-Lead"] == "42"


def test_a_message_that_cannot_be_built_is_a_permanent_failure(smtp_server):  # noqa: F811
    mailer = SmtpMailer(parse_smtp_url(smtp_server.url()))
    with pytest.raises(PermanentMailError, match="not an e-mail address"):
        mailer.send(email(to="not-an-address"))
    with pytest.raises(PermanentMailError, match="not sent"):
        mailer.send(email(headers={"X-Evil": "a\r\nBcc: x@example.com"}))
    assert smtp_server.received == []


# -- sending --------------------------------------------------------------------------------------


def test_it_sends_over_plain_smtp(smtp_server):  # noqa: F811
    msg = email(html="<p>Hello</p>", unsubscribe_url="https://doorstep.example/u/abc")
    assert mailer_from_url(smtp_server.url()).send(msg) == msg.message_id
    [got] = smtp_server.received
    assert got.mail_from == "nottingham@skyline.example"
    assert got.rcpt_tos == ["ann.lead@example.com"]
    assert got.message["Message-ID"] == msg.message_id
    assert got.message["Subject"] == "Thanks Ann"
    assert str(got.message["From"]) == "Skyline Estates – Nottingham <nottingham@skyline.example>"
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got.message.get_body(("plain",)).get_content().startswith("Hello Ann")
    assert got.login is None


def test_it_sends_over_starttls_trusting_the_given_ca():
    with running_smtp_server(tls="starttls") as server:
        mailer_from_url(server.url()).send(email())
        assert len(server.received) == 1


def test_it_sends_over_implicit_tls():
    with running_smtp_server(tls="implicit") as server:
        assert server.url().startswith("smtps://")
        mailer_from_url(server.url()).send(email())
        assert len(server.received) == 1


def test_a_certificate_from_an_unknown_ca_is_refused():
    with running_smtp_server(tls="starttls") as server:
        untrusted = server.url().split("&cafile=")[0]
        with pytest.raises(PermanentMailError, match="certificate is not trusted"):
            mailer_from_url(untrusted).send(email())
        assert server.received == []


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_it_logs_in_with_url_encoded_credentials(mechanism, tls):
    user, password = "ann@agency.co.uk", "p@ss:w/rd %&?"
    with running_smtp_server(
        tls=tls, users={user: password}, auth_mechanisms=(mechanism,)
    ) as server:
        mailer_from_url(server.url(user, password)).send(email())
        assert [m.login for m in server.received] == [user]


def test_a_wrong_password_is_a_permanent_failure_with_the_servers_reply():
    with running_smtp_server(tls="starttls", users={"ann": "right"}) as server:
        with pytest.raises(PermanentMailError, match=r"refused the user name and password: 535"):
            mailer_from_url(server.url("ann", "wrong")).send(email())
        # Without logging in, the server's own refusal of the mail is permanent too.
        with pytest.raises(PermanentMailError, match="530"):
            mailer_from_url(server.url()).send(email())
        assert server.received == []


def test_a_refused_recipient_is_a_permanent_failure(smtp_server):  # noqa: F811
    smtp_server.refuse("gone@example.com", "550 5.1.1 <gone@example.com>: Recipient unknown")
    with pytest.raises(PermanentMailError) as caught:
        mailer_from_url(smtp_server.url()).send(email(to="gone@example.com"))
    assert "550 5.1.1 <gone@example.com>: Recipient unknown" in caught.value.reason
    assert smtp_server.received == []


def test_a_deferred_recipient_is_a_transient_failure(smtp_server):  # noqa: F811
    smtp_server.refuse("busy@example.com", "451 4.7.1 Greylisted, try again later")
    with pytest.raises(TransientMailError, match=r"451 4\.7\.1 Greylisted"):
        mailer_from_url(smtp_server.url()).send(email(to="busy@example.com"))


def test_a_server_that_is_down_is_a_transient_failure():
    url = f"smtp://127.0.0.1:{free_port()}"
    with pytest.raises(TransientMailError, match="could not be reached"):
        mailer_from_url(url).send(email())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()


def test_a_server_that_never_answers_times_out_as_a_transient_failure(silent_server):
    url = f"smtp://127.0.0.1:{silent_server}?timeout=0.5"
    with pytest.raises(TransientMailError, match=r"did not answer within 0\.5 s"):
        mailer_from_url(url).send(email())
