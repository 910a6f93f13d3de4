"""Texts go through the official Twilio library to a Twilio API simulator over real HTTP; only
valid UK mobiles are texted; failures come back transient or permanent with Twilio's code."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from doorstep.config import Settings, get_settings
from doorstep.responder.sms import (
    LogOnlySms,
    PermanentSmsError,
    SmsProvider,
    TransientSmsError,
    TwilioSms,
    check_twilio_api_url,
    uk_mobile,
)
from tests.smtp_server import free_port
from tests.twilio_sim import TwilioSimulator, twilio_sim  # noqa: F401

LEAD = "+447986000000"
OFFICE = "+441159000000"
SERVICE = "MG" + "0" * 32


@pytest.fixture
def twilio(twilio_sim: TwilioSimulator) -> TwilioSms:  # noqa: F811
    sid, token = twilio_sim.add_account()
    return TwilioSms(sid, token, api_url=twilio_sim.base_url)


# -- who can be texted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "e164"),
    [
        ("07986 000000", "+447986000000"),
        ("+44 7986 000000", "+447986000000"),
        ("0044 7986 000000", "+447986000000"),
        ("01159 000000", None),  # a landline
        ("0800 123 4567", None),  # freephone
        ("070 1234 5678", None),  # a "personal number", not a mobile
        ("07624 123456", None),  # Isle of Man: not the UK's numbering plan
        ("+33 6 12 34 56 78", None),  # a French mobile
        ("07986 00000", None),  # a digit short
        ("call me", None),
        ("", None),
    ],
)
def test_only_valid_uk_mobiles_are_texted(phone, e164):
    assert uk_mobile(phone) == e164


# -- sending --------------------------------------------------------------------------------------


def test_a_text_goes_through_the_official_library(twilio, twilio_sim):  # noqa: F811
    message_id = twilio.send(LEAD, "Thanks Ann, we will call you shortly.", OFFICE)
    assert message_id.startswith("SM") and len(message_id) == 34
    assert twilio_sim.messages == [
        {"To": LEAD, "From": OFFICE, "Body": "Thanks Ann, we will call you shortly."}
    ]
    [request] = twilio_sim.requests
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.headers["user-agent"].startswith("twilio-python/")


def test_a_messaging_service_sends_from_its_own_numbers(twilio, twilio_sim):  # noqa: F811
    twilio.send(LEAD, "Hello", SERVICE)
    assert twilio_sim.messages == [{"To": LEAD, "MessagingServiceSid": SERVICE, "Body": "Hello"}]


def test_the_api_url_comes_from_the_settings(twilio_sim, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DOORSTEP_TWILIO_API_URL", twilio_sim.base_url + "/")
    get_settings.cache_clear()
    try:
        sid, token = twilio_sim.add_account()
        TwilioSms(sid, token).send(LEAD, "Hello", OFFICE)
    finally:
        get_settings.cache_clear()
    assert len(twilio_sim.messages) == 1


def test_twilios_own_edge_variables_do_not_send_texts_elsewhere(twilio_sim, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    sid, token = twilio_sim.add_account()
    TwilioSms(sid, token, api_url=twilio_sim.base_url).send(LEAD, "Hello", OFFICE)
    assert len(twilio_sim.messages) == 1


# -- failures -------------------------------------------------------------------------------------


def test_an_unsubscribed_recipient_is_a_permanent_failure_with_twilios_code(twilio, twilio_sim):  # noqa: F811
    twilio_sim.unsubscribed.add(LEAD)
    with pytest.raises(PermanentSmsError) as caught:
        twilio.send(LEAD, "Still looking?", OFFICE)
    assert caught.value.code == 21610
    assert caught.value.reason == (
        "Twilio 21610: Attempt to send to unsubscribed recipient (HTTP 400)"
    )


def test_a_number_twilio_calls_invalid_is_a_permanent_failure(twilio):
    with pytest.raises(PermanentSmsError, match="21211: Invalid 'To' Phone Number") as caught:
        twilio.send("+4474000000", "Hello", OFFICE)
    assert caught.value.code == 21211


def test_a_number_not_in_e164_is_refused_before_asking_twilio(twilio, twilio_sim):  # noqa: F811
    with pytest.raises(PermanentSmsError, match=r"not a number in E\.164 form"):
        twilio.send("07986 000000", "Hello", OFFICE)
    assert twilio_sim.requests == []


def test_wrong_credentials_are_a_permanent_failure(twilio_sim):  # noqa: F811
    sid, _ = twilio_sim.add_account()
    with pytest.raises(PermanentSmsError, match="20003: Authenticate") as caught:
        TwilioSms(sid, "not-the-token", api_url=twilio_sim.base_url).send(LEAD, "Hello", OFFICE)
    assert caught.value.code == 20003
    assert twilio_sim.messages == []


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (500, 20500, "Internal Server Error"),
        (503, 20503, "Service Unavailable"),
        (429, 20429, "Too Many Requests"),
    ],
)
def test_twilio_trouble_is_a_transient_failure(twilio, twilio_sim, status, code, message):  # noqa: F811
    twilio_sim.fail_next(status, code, message)
    with pytest.raises(TransientSmsError, match=f"{code}: {message}") as caught:
        twilio.send(LEAD, "Hello", OFFICE)
    assert caught.value.code == code
    # The next attempt goes through.
    assert twilio.send(LEAD, "Hello", OFFICE).startswith("SM")


def test_no_answer_in_time_is_a_transient_failure(twilio_sim):  # noqa: F811
    sid, token = twilio_sim.add_account()
    twilio_sim.delay = 1.0
    slow = TwilioSms(sid, token, api_url=twilio_sim.base_url, timeout=0.2)
    with pytest.raises(TransientSmsError, match="did not answer in time"):
        slow.send(LEAD, "Hello", OFFICE)


def test_twilio_unreachable_is_a_transient_failure():
    down = TwilioSms("AC" + "0" * 32, "token", api_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientSmsError, match="could not be reached"):
        down.send(LEAD, "Hello", OFFICE)


# -- the API URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://api.twilio.com", "https://api.dublin.ie1.twilio.com", "http://127.0.0.1:8099"]
)
def test_twilio_api_urls_that_can_work(url):
    check_twilio_api_url(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("api.twilio.com", "not an http"),
        ("ftp://api.twilio.com", "not an http"),
        ("https://api.twilio.com?edge=dublin", "a base URL has no"),
        ("https://api.twilio.com:99999", "bad port"),
        ("http://twilio-sim.internal", "unencrypted"),
    ],
)
def test_a_twilio_api_url_that_cannot_work_is_refused(url, says):
    with pytest.raises(ValueError, match=says):
        check_twilio_api_url(url)
    with pytest.raises(RuntimeError, match="DOORSTEP_TWILIO_API_URL"):
        Settings(twilio_api_url=url).check()


# -- log only -------------------------------------------------------------------------------------


def test_the_log_only_provider_records_and_sends_nothing(caplog):
    provider: SmsProvider = LogOnlySms()
    with caplog.at_level(logging.INFO, logger="doorstep.responder.sms"):
        first = provider.send(LEAD, "Thanks Ann", OFFICE)
        second = provider.send(LEAD, "Still looking?", OFFICE)
    assert first != second and first.startswith("log-")
    assert isinstance(provider, LogOnlySms)
    assert [(s.id, s.to, s.body, s.from_) for s in provider.sent] == [
        (first, LEAD, "Thanks Ann", OFFICE),
        (second, LEAD, "Still looking?", OFFICE),
    ]
    # The log says a text was not sent, without what it said (personal data).
    assert len(caplog.records) == 2
    assert "Thanks Ann" not in caplog.text


@pytest.fixture(autouse=True)
def _no_stray_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()
