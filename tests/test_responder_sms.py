"""Texts from a workflow: only to UK mobiles, only in the office's opening hours, through the
account's provider (Twilio's API, here its simulator; or log only), each outcome recorded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from doorstep import db
from doorstep.cli import app as cli
from doorstep.config import get_settings
from doorstep.models import Job, Office
from doorstep.models.base import utcnow
from tests.conftest import create_lead_api
from tests.test_responder import _drain, _import, _timeline
from tests.twilio_sim import twilio_sim  # noqa: F401  (the fixture)

runner = CliRunner()
ALWAYS = "Mon-Sun 00:00-24:00"
TEXT = {
    "name": "Text back",
    "steps": [{"action": "sms_lead", "text": "Hi {{ lead.first_name }}, {{ office.name }} here."}],
}


def _hours(office_id: int, hours: str | None, phone: str | None = "+441159000000") -> None:
    with db.transaction() as s:
        s.execute(
            update(Office).where(Office.id == office_id).values(opening_hours=hours, phone=phone)
        )


@pytest.fixture
def twilio(twilio_sim, owner, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DOORSTEP_TWILIO_API_URL", twilio_sim.base_url)
    get_settings.cache_clear()
    sid, token = twilio_sim.add_account()
    r = runner.invoke(
        cli,
        ["telephony", "set", "--account", str(owner.account_id), "--provider", "twilio",
         "--account-sid", sid, "--auth-token", token, "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    yield twilio_sim
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_mobile_is_texted_from_the_offices_number(engine, client, owner, twilio, tmp_path):
    _hours(owner.offices["Nottingham"], ALWAYS)
    _import(owner.account_id, TEXT, tmp_path=tmp_path)
    lead = create_lead_api(client, owner, phone="07986 000000")
    _drain(engine)
    (sent,) = twilio.messages
    assert (sent["To"], sent["From"]) == ("+447986000000", "+441159000000")
    assert sent["Body"] == "Hi Marla, Nottingham here."
    (t,) = _timeline(lead["id"])
    assert t["outcome"] == "sent" and t["provider_id"].startswith("SM")


def test_a_landline_is_not_texted(engine, client, owner, twilio, tmp_path):
    _hours(owner.offices["Nottingham"], ALWAYS)
    _import(owner.account_id, TEXT, tmp_path=tmp_path)
    lead = create_lead_api(client, owner, phone="01623 000000")
    _drain(engine)
    assert twilio.messages == []
    assert _timeline(lead["id"])[0]["detail"] == "01623 000000 is not a UK mobile number"


def test_outside_opening_hours_a_text_waits_for_the_next_opening(
    engine, client, owner, twilio, tmp_path
):
    now = utcnow()
    # open only on a day other than today (UK time), so it is closed now
    from doorstep.offices.hours import DAYS, UK

    other_day = DAYS[(now.astimezone(UK).weekday() + 3) % 7]
    _hours(owner.offices["Nottingham"], f"{other_day} 09:00-17:00")
    _import(owner.account_id, TEXT, tmp_path=tmp_path)
    create_lead_api(client, owner, phone="07986 000000")
    _drain(engine)
    assert twilio.messages == []
    with db.transaction() as s:
        job = s.scalars(select(Job).where(Job.kind == "workflow.step")).one()
    assert job.state == "pending" and job.attempts == 0  # waiting is not a failed attempt
    assert job.run_at - now > timedelta(hours=12) and "waiting for the office" in job.last_error
    # once open, it goes
    _hours(owner.offices["Nottingham"], ALWAYS)
    with db.transaction() as s:
        s.execute(update(Job).values(run_at=utcnow()))
    _drain(engine)
    assert len(twilio.messages) == 1


def test_provider_errors_are_retried_or_failed_by_their_kind(
    engine, client, owner, twilio, tmp_path
):
    _hours(owner.offices["Nottingham"], ALWAYS)
    _import(owner.account_id, TEXT, tmp_path=tmp_path)
    twilio.fail_next(503, 20503, "Service unavailable")
    lead = create_lead_api(client, owner, phone="07986 000000")
    _drain(engine)
    with db.transaction() as s:
        job = s.scalars(select(Job).where(Job.kind == "workflow.step")).one()
    assert job.state == "pending" and "20503" in (job.last_error or "")
    twilio.unsubscribed.add("+447986000000")
    with db.transaction() as s:
        s.execute(update(Job).values(run_at=utcnow()))
    _drain(engine)
    t = _timeline(lead["id"])[-1]
    assert t["outcome"] == "failed" and "21610" in t["detail"]


def test_without_a_provider_texts_are_recorded_as_not_sent(engine, client, owner, tmp_path):
    _hours(owner.offices["Nottingham"], ALWAYS)
    _import(owner.account_id, TEXT, tmp_path=tmp_path)
    lead = create_lead_api(client, owner, phone="07986 000000")
    _drain(engine)
    assert "no text provider" in _timeline(lead["id"])[0]["detail"]


def test_the_log_only_provider_records_the_text(engine, client, owner, tmp_path):
    _hours(owner.offices["Nottingham"], ALWAYS)
    r = runner.invoke(
        cli, ["telephony", "set", "--account", str(owner.account_id), "--provider", "log"]
    )
    assert r.exit_code == 0, r.output
    _import(owner.account_id, TEXT, tmp_path=tmp_path)
    lead = create_lead_api(client, owner, phone="07986 000000")
    _drain(engine)
    (t,) = _timeline(lead["id"])
    assert t["outcome"] == "logged" and t["text"] == "Hi Marla, Nottingham here."


def test_telephony_settings_are_checked_and_the_token_never_shown_again(engine, owner):
    acc = str(owner.account_id)
    r = runner.invoke(
        cli,
        ["telephony", "set", "--account", acc, "--provider", "twilio", "--account-sid", "AC1",
         "--auth-token", "x", "--sms-from", "+1 202 555 0100", "--json"],
    )  # fmt: skip
    assert r.exit_code == 1
    assert set(json.loads(r.stdout)["errors"]) == {"account_sid", "auth_token", "sms_from"}
    token = "a" * 32
    r = runner.invoke(
        cli,
        ["telephony", "set", "--account", acc, "--provider", "twilio", "--account-sid",
         "AC" + "b" * 32, "--auth-token", token, "--sms-from", "07986 000001", "--json"],
    )  # fmt: skip
    out = json.loads(r.stdout)
    assert out["auth_token"] == "…aaaa" and out["sms_from"] == "+447986000001"
    # changing the number keeps the stored token
    r = runner.invoke(
        cli,
        ["telephony", "set", "--account", acc, "--provider", "twilio", "--account-sid",
         "AC" + "b" * 32, "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["telephony", "show", "--account", acc, "--json"])
    assert token not in r.stdout and json.loads(r.stdout)["auth_token"] == "…aaaa"
