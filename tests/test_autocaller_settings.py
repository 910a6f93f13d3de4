"""An office's autocaller settings: from the command line and the office page, bad numbers
refused with the reason, numbers shown back in E.164, Ofcom's minimum ring time kept."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from doorstep import db
from doorstep.autocaller import settings
from doorstep.cli import app as cli
from doorstep.models import Office
from tests.browser import chromium, live_server  # noqa: F401  (fixtures)
from tests.factories import PASSWORD, make_user, post_form, sign_in

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(cli, ["offices", "autocaller", *args, "--json"])


def test_the_command_line_turns_it_on_with_numbers_shown_back_in_e164(engine, owner):
    oid = owner.offices["Nottingham"]
    r = _cli(
        str(oid), "--on", "--from-number", "0115 900 0000", "--negotiator", "07986 000001",
        "--negotiator", "+44 7986 000002", "--hours", "mon-fri 09:00-17:30",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["enabled"] is True and out["from_number"] == "+441159000000"
    assert out["negotiators"] == ["+447986000001", "+447986000002"]
    assert out["calling_hours"] == "Mon-Fri 09:00-17:30"
    # the defaults: 20 s a phone, 3 attempts 10 and 30 minutes apart, 3 calls a day at most
    assert (out["ring_seconds"], out["max_attempts"], out["retry_minutes"], out["daily_cap"]) == (
        20, 3, [10, 30], 3,
    )  # fmt: skip
    # only what is given changes
    r = _cli(str(oid), "--ring-mode", "simultaneous")
    out = json.loads(r.stdout)
    assert out["ring_mode"] == "simultaneous" and out["negotiators"][0] == "+447986000001"
    r = _cli(str(oid), "--off")
    assert json.loads(r.stdout)["enabled"] is False


def test_bad_numbers_and_settings_are_refused_with_the_reason(engine, owner):
    oid = owner.offices["Nottingham"]
    r = _cli(
        str(oid), "--on", "--from-number", "+1 202 555 0123", "--negotiator", "12345",
        "--ring-seconds", "10", "--hours", "Mon 25:00-26:00", "--ring-mode", "loud",
    )  # fmt: skip
    assert r.exit_code == 1
    errors = json.loads(r.stdout)["errors"]
    assert errors["from_number"] == ["'+1 202 555 0123' is not a valid UK phone number."]
    assert errors["negotiators"] == ["'12345' is not a valid UK phone number."]
    assert "at least 15" in errors["ring_seconds"][0]
    assert set(errors) == {
        "from_number",
        "negotiators",
        "ring_seconds",
        "calling_hours",
        "ring_mode",
    }
    with db.transaction() as s:
        assert settings.get(s, oid) is None  # nothing kept
    # on needs a number to call from and someone to ring
    r = _cli(str(oid), "--on")
    assert set(json.loads(r.stdout)["errors"]) == {"from_number", "negotiators"}
    r = _cli("999999")
    assert r.exit_code == 1 and "no office 999999" in json.loads(r.stdout)["error"]


def test_the_office_page_saves_the_settings_and_names_each_bad_one(client, owner):
    admin = make_user(owner.account_id)
    sign_in(client, admin)
    oid = owner.offices["Derby"]
    page = f"/offices/{oid}"
    form = {
        "enabled": "1", "from_number": "01332 000000", "negotiators": "07986 000001, 07986 000002",
        "ring_mode": "simultaneous", "ring_seconds": "25", "calling_hours": "Mon-Sat 08:00-20:00",
        "max_attempts": "2", "retry_minutes": "15", "daily_cap": "2",
    }  # fmt: skip
    r = post_form(client, f"/offices/{oid}/autocaller", form, page)
    assert r.status_code == 303
    html = client.get(page).text
    assert 'value="+441332000000"' in html and "+447986000001, +447986000002" in html
    with db.transaction() as s:
        saved = settings.get(s, oid)
        assert saved and saved.enabled and saved.ring_mode == "simultaneous"
        assert (saved.ring_seconds, saved.max_attempts, saved.retry_minutes) == (25, 2, [15])
    r = post_form(
        client,
        f"/offices/{oid}/autocaller",
        {**form, "negotiators": "999", "ring_seconds": "5"},
        page,
    )
    assert r.status_code == 422
    assert "999" in r.text and "is not a phone number." in r.text
    assert "at least 15" in r.text
    # an agent cannot
    agent = make_user(owner.account_id, "agent", [oid])
    client.cookies.clear()
    sign_in(client, agent)
    r = post_form(client, f"/offices/{oid}/autocaller", form)
    assert r.status_code in (403, 404)


@pytest.mark.browser
def test_an_admin_sets_the_autocaller_in_the_browser(chromium, live_server, owner):  # noqa: F811
    admin = make_user(owner.account_id)
    oid = owner.offices["Nottingham"]
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto("/login")
        page.get_by_label("Email").fill(admin.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/leads")
        page.goto(f"/offices/{oid}")
        page.get_by_label("Ring new leads automatically").check()
        page.get_by_label("Call from").fill("0115 900 0000")
        page.get_by_label("Negotiators to ring").fill("07986 00000")  # one digit short
        page.get_by_role("button", name="Save autocaller").click()
        page.get_by_text("'07986 00000' is not a valid UK phone number.").wait_for()
        page.get_by_label("Negotiators to ring").fill("07986 000001")
        page.get_by_label("Ring the negotiators").select_option("simultaneous")
        page.get_by_role("button", name="Save autocaller").click()
        page.get_by_text("The autocaller of “Nottingham” is on.").wait_for()
        assert page.get_by_label("Call from").input_value() == "+441159000000"
        assert page.get_by_label("Negotiators to ring").input_value() == "+447986000001"
    finally:
        context.close()
    with db.transaction() as s:
        saved = settings.get(s, oid)
        office = s.get(Office, oid)
        assert saved and office and saved.enabled and saved.ring_mode == "simultaneous"


def test_an_admin_sets_the_provider_on_the_automation_page_and_the_token_is_masked(client, owner):
    from doorstep.telephony import service as telephony

    sign_in(client, make_user(owner.account_id))
    sid, token = "AC" + "1" * 32, "ab" * 16
    r = post_form(
        client,
        "/automation/telephony",
        {"provider": "twilio", "account_sid": sid, "auth_token": token},
        "/automation",
    )
    assert r.status_code == 303
    html = client.get("/automation").text
    assert "Texts and calls now go through Twilio." in html
    assert "Stored: …abab" in html and token not in html
    # an empty token keeps the stored one; a bad SID is refused with the reason
    post_form(
        client, "/automation/telephony", {"provider": "twilio", "account_sid": sid}, "/automation"
    )
    with db.transaction() as s:
        assert telephony.get(s, owner.account_id).auth_token == token
    r = post_form(
        client,
        "/automation/telephony",
        {"provider": "twilio", "account_sid": "AC12"},
        "/automation",
    )
    assert (
        "A Twilio account SID: AC and 32 hexadecimal characters."
        in client.get(r.headers["location"]).text
    )
    with db.transaction() as s:
        assert telephony.get(s, owner.account_id).account_sid == sid
