"""Strict lead progression (AUTOMATION.md, issue 11 point 3): an account setting, off by
default; on, a lead moves from New to Contacted only through a connected call and every other
status change needs a note, in the API (`status_note`) and in the dashboard."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from doorstep import db
from doorstep.accounts.service import update_account
from doorstep.cli import app as cli
from doorstep.models import Job, Lead, LeadEvent, RequestLog
from doorstep.statuses.progression import record_connected_call
from tests.conftest import create_lead_api
from tests.factories import make_user, post_form, sign_in

runner = CliRunner()


def strict(account_id: int, on: bool = True) -> None:
    with db.transaction() as s:
        update_account(s, account_id, strict_progression=on)


def patch(client, agency, lead_id, body):
    return client.patch(f"/api/v103/leads/{lead_id}", json=body, headers=agency.headers)


def status_changes(lead_id: int) -> list[dict]:
    with db.transaction() as s:
        rows = s.scalars(
            select(LeadEvent.data)
            .where(LeadEvent.lead_id == lead_id, LeadEvent.kind == "status_changed")
            .order_by(LeadEvent.id)
        ).all()
    return [dict(r or {}) for r in rows]


def status_events(lead_id: int) -> list[dict]:
    with db.transaction() as s:
        payloads = s.scalars(
            select(Job.payload).where(Job.kind == "lead.event", Job.lead_id == lead_id)
        ).all()
    return [p for p in payloads if p["type"] == "lead.status_changed"]


def connect(lead_id: int, user_id: int | None = None, note: str = "Connected call, 42 s") -> bool:
    with db.transaction() as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        return record_connected_call(s, lead, user_id=user_id, note=note)


# Off (the default): as before, with an optional note


def test_off_by_default_statuses_change_freely_and_a_note_is_kept_when_given(client, owner):
    lead = create_lead_api(client, owner)
    r = patch(client, owner, lead["id"], {"status": "Contacted"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Contacted"
    r = patch(client, owner, lead["id"], {"status": "Appointment booked", "status_note": "Thu 3pm"})
    assert r.status_code == 200, r.text
    assert [c.get("note") for c in status_changes(lead["id"])] == [None, "Thu 3pm"]


def test_a_note_without_a_status_is_refused_by_name(client, owner):
    lead = create_lead_api(client, owner)
    r = patch(client, owner, lead["id"], {"status_note": "Spoke to her", "first_name": "Ann"})
    assert r.status_code == 422
    assert "status_note" in r.json()["errors"]
    assert (
        patch(client, owner, lead["id"], {"status_note": "x" * 1001, "status": 2}).status_code
        == 422
    )


# On


def test_strict_new_to_contacted_is_refused_through_the_api_even_with_a_note(client, owner):
    strict(owner.account_id)
    lead = create_lead_api(client, owner)
    r = patch(client, owner, lead["id"], {"status": "Contacted", "status_note": "Rang her"})
    assert r.status_code == 422
    assert "only through a connected call" in " ".join(r.json()["errors"]["status"])
    assert (
        client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json()["status"] == "New"
    )
    with db.transaction() as s:
        log = s.scalars(
            select(RequestLog).where(RequestLog.method == "PATCH").order_by(RequestLog.id.desc())
        ).first()
    assert log is not None and log.status_code == 422 and "connected call" in (log.error or "")


def test_strict_a_status_change_without_a_note_is_a_422_that_says_so(client, owner):
    strict(owner.account_id)
    lead = create_lead_api(client, owner)
    r = patch(client, owner, lead["id"], {"status": "Not interested"})
    assert r.status_code == 422
    (message,) = r.json()["errors"]["status_note"]
    assert "needs a note" in message and "status_note" in message
    r = patch(client, owner, lead["id"], {"status": "Not interested", "status_note": "   "})
    assert r.status_code == 422  # white space is no note
    r = patch(
        client, owner, lead["id"], {"status": "Not interested", "status_note": "Sold privately"}
    )
    assert r.status_code == 200, r.text
    assert status_changes(lead["id"])[-1]["note"] == "Sold privately"


def test_a_connected_call_is_the_way_from_new_to_contacted(client, owner):
    strict(owner.account_id)
    lead = create_lead_api(client, owner)
    assert connect(lead["id"]) is True
    out = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json()
    assert (out["status"], out["stage"]) == ("Contacted", "In progress")
    (change,) = status_changes(lead["id"])
    assert change["by_call"] is True and change["note"] == "Connected call, 42 s"
    (event,) = status_events(lead["id"])
    assert event["detail"] == {"old_status": "New", "status": "Contacted", "stage": "In progress"}
    # Later changes need a note, as any other.
    assert patch(client, owner, lead["id"], {"status": "Appointment booked"}).status_code == 422
    r = patch(
        client, owner, lead["id"], {"status": "Appointment booked", "status_note": "Sat 10am"}
    )
    assert r.status_code == 200, r.text


def test_a_connected_call_moves_only_a_lead_still_in_new(client, owner):
    lead = create_lead_api(client, owner)  # strict off: moved by hand first
    assert patch(client, owner, lead["id"], {"status": "Not interested"}).status_code == 200
    assert connect(lead["id"]) is False
    out = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json()
    assert out["status"] == "Not interested"
    # Strict off, a connected call still records the contact it was.
    fresh = create_lead_api(client, owner)
    assert connect(fresh["id"]) is True
    assert status_changes(fresh["id"])[0]["by_call"] is True


def test_the_timeline_names_the_autocaller_or_the_negotiator_and_shows_the_note(client, owner):
    user = make_user(owner.account_id)
    sign_in(client, user)
    auto = create_lead_api(client, owner)
    manual = create_lead_api(client, owner, email="bo@example.com")
    connect(auto["id"])
    connect(manual["id"], user_id=user.id, note="Call this lead: connected, 1 min 5 s")
    html = client.get(f"/leads/{auto['id']}").text
    assert "New → Contacted (connected call)" in html and "the autocaller" in html
    assert "Connected call, 42 s" in html
    html = client.get(f"/leads/{manual['id']}").text
    assert "Call this lead: connected, 1 min 5 s" in html


# The dashboard


def test_the_dashboard_asks_for_the_note_and_refuses_without_one(client, owner):
    strict(owner.account_id)
    sign_in(client, make_user(owner.account_id))
    lead = create_lead_api(client, owner)
    page = f"/leads/{lead['id']}"
    html = client.get(page).text
    assert 'name="note"' in html and "Strict lead progression" in html
    r = post_form(client, f"{page}/status", {"status_id": "5"}, page)
    assert r.status_code == 303
    assert "needs a note" in client.get(r.headers["location"]).text
    r = post_form(client, f"{page}/status", {"status_id": "2", "note": "Rang"}, page)
    assert "only through a connected call" in client.get(r.headers["location"]).text
    r = post_form(client, f"{page}/status", {"status_id": "5", "note": "Chose another agent"}, page)
    html = client.get(r.headers["location"]).text
    assert "Status changed." in html and "Chose another agent" in html
    assert status_changes(lead["id"])[-1]["note"] == "Chose another agent"


def test_an_admin_turns_it_on_and_off_on_the_statuses_page(client, owner):
    sign_in(client, make_user(owner.account_id))
    assert "Strict lead progression" in client.get("/statuses").text
    r = post_form(client, "/statuses/progression", {"strict": "on"}, "/statuses")
    assert r.status_code == 303
    lead = create_lead_api(client, owner)
    assert patch(client, owner, lead["id"], {"status": "Contacted"}).status_code == 422
    post_form(client, "/statuses/progression", {}, "/statuses")
    assert patch(client, owner, lead["id"], {"status": "Contacted"}).status_code == 200
    bad = post_form(client, "/statuses/progression", {"strict": "yes"}, "/statuses")
    assert "on or off" in client.get(bad.headers["location"]).text


def test_an_agent_cannot_change_the_setting(client, owner):
    sign_in(client, make_user(owner.account_id, role="agent", offices=[owner.offices["Derby"]]))
    r = post_form(client, "/statuses/progression", {"strict": "on"}, "/leads")
    assert r.status_code == 403
    with db.transaction() as s:
        from doorstep.models import Account

        assert s.get(Account, owner.account_id).strict_progression is False


# The command line


def test_the_command_turns_it_on_and_off(engine, owner):
    r = runner.invoke(
        cli, ["accounts", "update", str(owner.account_id), "--strict-progression", "on", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "id": owner.account_id,
        "name": "Demo Brand",
        "linked_leads_same_office": False,
        "strict_progression": True,
    }
    r = runner.invoke(
        cli, ["accounts", "update", str(owner.account_id), "--strict-progression", "OFF"]
    )
    assert r.exit_code == 0 and "strict progression off" in r.stdout
    bad = runner.invoke(
        cli, ["accounts", "update", str(owner.account_id), "--strict-progression", "maybe"]
    )
    assert bad.exit_code != 0


@pytest.mark.parametrize("status", ["Contacted", 2, "contacted"])
def test_every_spelling_of_contacted_is_refused_from_new(client, owner, status):
    strict(owner.account_id)
    lead = create_lead_api(client, owner)
    assert (
        patch(client, owner, lead["id"], {"status": status, "status_note": "x"}).status_code == 422
    )
