"""How an office answers leads: sender, alert address, phone and opening hours, set in the
dashboard and on the command line, each checked."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from doorstep import db
from doorstep.cli import app as cli
from doorstep.models import Office
from tests.factories import make_user, post_form, sign_in

runner = CliRunner()


def _office(office_id: int) -> Office:
    with db.transaction() as s:
        o = s.get(Office, office_id)
        assert o is not None
        return o


def test_an_admin_sets_the_offices_contact_details(client, owner):
    sign_in(client, make_user(owner.account_id))
    oid = owner.offices["Nottingham"]
    r = post_form(
        client,
        f"/offices/{oid}/contact",
        {
            "email": "Notts@Agency.example.com",
            "phone": "0115 900 0000",
            "sender_name": "  Demo   Notts ",
            "address": "1 High Street",
            "opening_hours": "mon-fri 9:00-17:30, sat 09:00-13:00",
        },
        page=f"/offices/{oid}",
    )
    assert r.status_code == 303 and r.headers["location"] == f"/offices/{oid}"
    assert "is saved" in client.get(r.headers["location"]).text
    o = _office(oid)
    assert (o.email, o.phone, o.sender_name) == (
        "Notts@agency.example.com",
        "+441159000000",
        "Demo Notts",
    )
    assert o.opening_hours == "Mon-Fri 09:00-17:30, Sat 09:00-13:00"
    assert 'value="+441159000000"' in client.get(f"/offices/{oid}").text


def test_every_bad_contact_field_is_named_and_nothing_is_saved(client, owner):
    sign_in(client, make_user(owner.account_id))
    oid = owner.offices["Nottingham"]
    r = post_form(
        client,
        f"/offices/{oid}/contact",
        {"email": "not-an-email", "phone": "+1 202 555 0100", "opening_hours": "Mon 9-5"},
        page=f"/offices/{oid}",
    )
    assert r.status_code == 422
    assert r.text.count('aria-invalid="true"') == 3
    assert "not a valid UK phone number" in r.text and "is not a time range" in r.text
    assert _office(oid).email is None


def test_another_accounts_office_cannot_be_changed(client, owner, other):
    sign_in(client, make_user(owner.account_id))
    oid = other.offices["Oxford"]
    r = post_form(client, f"/offices/{oid}/contact", {"email": "x@y.com"}, page="/offices")
    assert r.status_code == 404
    assert _office(oid).email is None


def test_the_command_line_sets_only_what_it_is_given(engine, owner):
    oid = owner.offices["Derby"]
    r = runner.invoke(
        cli, ["offices", "contact", str(oid), "--email", "derby@a.example.com", "--json"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["offices", "contact", str(oid), "--hours", "Sat 10:00-12:00", "--json"])
    out = json.loads(r.stdout)
    assert out["email"] == "derby@a.example.com" and out["opening_hours"] == "Sat 10:00-12:00"
    r = runner.invoke(cli, ["offices", "contact", str(oid), "--phone", "12", "--json"])
    assert r.exit_code == 1 and "phone" in json.loads(r.stdout)["errors"]
    r = runner.invoke(cli, ["offices", "contact", "999999", "--json"])
    assert r.exit_code == 1 and "no office 999999" in json.loads(r.stdout)["error"]
