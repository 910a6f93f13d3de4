"""Lead Responder workflows: checked JSON, matching on the lead, messages that really reach an
SMTP server, follow-ups that stop, unsubscribes, and every outcome on the lead's timeline."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from doorstep import db
from doorstep.cli import app as cli
from doorstep.config import get_settings
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.leads.events import LeadChange
from doorstep.models import Job, LeadEvent, Office
from doorstep.models.base import utcnow
from doorstep.responder import service
from doorstep.responder.definition import DefinitionErrors, parse
from tests.conftest import create_lead_api
from tests.factories import make_user
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)

runner = CliRunner()

SPRING = {
    "name": "Spring campaign: instant reply",
    "enabled": True,
    "trigger": "lead.created",
    "when": {
        "type": ["sale", "let"],
        "source": ["rightmove", "homepage"],
        "meta": {"campaign": "spring"},
    },
    "steps": [
        {
            "after": "0s",
            "action": "email_lead",
            "subject": "Thanks {{ lead.first_name }}",
            "body": "Hello {{ lead.first_name }}, {{ office.name }} will call you shortly.",
        },
        {"after": "0s", "action": "notify_office"},
        {"after": "2d", "action": "email_lead", "subject": "Still looking?", "body": "Call us."},
    ],
}


def _import(account_id: int, *flows: dict, tmp_path: Path) -> dict:
    f = tmp_path / "flows.json"
    f.write_text(json.dumps(list(flows)))
    r = runner.invoke(cli, ["workflows", "import", str(f), "--account", str(account_id), "--json"])
    out = json.loads(r.stdout)
    out["exit_code"] = r.exit_code
    return out


def _drain(engine, rounds: int = 5) -> None:
    """Run every due job (and the jobs they make) with a worker in this process."""
    w = Worker(engine, 1, name="test-worker")
    for _ in range(rounds):
        jobs = queue.claim(engine, w.name, 50, timedelta(seconds=60))
        if not jobs:
            return
        for j in jobs:
            w.run_one(j)


def _timeline(lead_id: int) -> list[dict]:
    with db.transaction() as s:
        return [
            e.data
            for e in s.scalars(
                select(LeadEvent)
                .where(LeadEvent.lead_id == lead_id, LeadEvent.kind == "responder")
                .order_by(LeadEvent.id)
            )
        ]


@pytest.fixture
def smtp(smtp_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DOORSTEP_SMTP_URL", smtp_server.url())
    monkeypatch.setenv("DOORSTEP_MAIL_FROM", "leads@agency.example.com")
    get_settings.cache_clear()
    yield smtp_server
    monkeypatch.undo()
    get_settings.cache_clear()


def _office_contacts(office_id: int, **values) -> None:
    with db.transaction() as s:
        s.execute(update(Office).where(Office.id == office_id).values(**values))


def _spring_lead(client, owner, **overrides):
    return create_lead_api(client, owner, meta={"campaign": "spring"}, **overrides)


# -- the JSON form -------------------------------------------------------------------------


def test_the_documented_example_imports_and_exports_as_written(engine, owner, tmp_path):
    out = _import(owner.account_id, SPRING, tmp_path=tmp_path)
    assert out == {"created": [SPRING["name"]], "replaced": [], "exit_code": 0}
    r = runner.invoke(cli, ["workflows", "export", "--account", str(owner.account_id)])
    (exported,) = json.loads(r.stdout)
    assert exported["steps"][2] == SPRING["steps"][2]
    assert exported["when"] == SPRING["when"]
    # the same name replaces
    again = _import(owner.account_id, {**SPRING, "enabled": False}, tmp_path=tmp_path)
    assert again["replaced"] == [SPRING["name"]]
    r = runner.invoke(cli, ["workflows", "list", "--account", str(owner.account_id), "--json"])
    (row,) = json.loads(r.stdout)["workflows"]
    assert row["enabled"] is False and row["steps"][2] == "email_lead after 2d"


def test_a_file_with_problems_names_each_and_imports_nothing(engine, owner, tmp_path):
    bad = {
        "name": "Broken",
        "when": {"typ": "sale", "source": ["fax"], "postcode_district": ["XX"]},
        "steps": [
            {"after": "2 fortnights", "action": "email_lead", "subject": "Hi", "body": "x"},
            {"action": "fax_lead"},
            {"action": "email_lead", "subject": "Hi", "body": "Dear\n{{ lead.nickname }}"},
            {"action": "sms_lead", "text": "{{ lead.first_name "},
        ],
    }
    out = _import(owner.account_id, SPRING, bad, tmp_path=tmp_path)
    assert out["exit_code"] == 1 and out["error"].startswith("Nothing imported: 7 problem(s)")
    problems = out["errors"]["workflow"]
    assert "workflows[1].when.typ: not a known key here" in problems
    assert any(p.startswith("workflows[1].when.source: Unknown source fax") for p in problems)
    assert any(
        p.startswith("workflows[1].when.postcode_district: Not a postcode") for p in problems
    )
    assert any(p.startswith("workflows[1].steps[0].after: '2 fortnights' is not") for p in problems)
    assert any(p.startswith("workflows[1].steps[1]: unknown action 'fax_lead'") for p in problems)
    assert (
        "workflows[1].steps[2].body: line 2: 'dict object' has no attribute 'nickname'" in problems
    )
    assert any(p.startswith("workflows[1].steps[3].text: line 1: unexpected") for p in problems)
    with db.transaction() as s:
        assert service.list_workflows(s, owner.account_id) == []


def test_templates_run_in_a_sandbox():
    with pytest.raises(DefinitionErrors) as e:
        parse({**SPRING, "steps": [{**SPRING["steps"][0], "body": "{{ lead.__class__ }}"}]})
    assert "not allowed" in e.value.problems[0]


def test_a_file_that_is_not_json_or_missing_says_so(engine, owner, tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{nope")
    r = runner.invoke(cli, ["workflows", "import", str(f), "--account", str(owner.account_id)])
    assert r.exit_code == 1 and "is not JSON" in r.stderr
    r = runner.invoke(cli, ["workflows", "import", "/no/such", "--account", str(owner.account_id)])
    assert r.exit_code == 1 and "Cannot read" in r.stderr


# -- matching ------------------------------------------------------------------------------


def _change(**lead) -> LeadChange:
    base = {"type": "sale", "source": "homepage", "office_id": 3, "meta": None,
            "postcode": None, "advert_postcode": "NG1 5FS", "gdpr_checkbox": None,
            "status": "New"}  # fmt: skip
    return LeadChange("lead.created", "2026-12-04T10:00:00.000Z", 1, 1, {**base, **lead})


@pytest.mark.parametrize(
    ("when", "lead", "expected"),
    [
        ({}, {}, True),
        ({"type": "let"}, {}, False),
        ({"type": ["let", "sale"]}, {}, True),
        ({"source": ["rightmove"]}, {}, False),
        ({"office_id": [3, 4]}, {}, True),
        ({"meta": {"campaign": "spring"}}, {"meta": {"campaign": "spring", "x": "1"}}, True),
        ({"meta": {"campaign": "spring"}}, {"meta": {"campaign": "autumn"}}, False),
        ({"meta": {"campaign": "spring"}}, {}, False),
        ({"postcode_area": ["ng"]}, {}, True),
        ({"postcode_district": ["NG2"]}, {}, False),
        # a vendor is placed by their own postcode, a buyer by the advert's
        ({"postcode_district": ["DE1"]}, {"type": "vendor", "postcode": "DE1 1JX"}, True),
        ({"consent": True}, {}, False),
        ({"consent": True}, {"gdpr_checkbox": True}, True),
    ],
)
def test_every_filter_must_hold(when, lead, expected):
    d = parse({"name": "x", "when": when, "steps": [{"action": "notify_office"}]})
    assert service.matches(d, _change(**lead)) is expected


def test_a_status_workflow_matches_the_status_moved_to():
    d = parse(
        {
            "name": "confirm",
            "trigger": "lead.status_changed",
            "when": {"status": "appointment booked"},
            "steps": [{"action": "notify_office"}],
        }
    )
    change = LeadChange(
        "lead.status_changed", "2026-12-04T10:00:00.000Z", 1, 1, _change().lead,
        {"status": "Appointment booked"},
    )  # fmt: skip
    assert service.matches(d, change)
    assert not service.matches(d, _change())


# -- messages ------------------------------------------------------------------------------


def test_a_matching_lead_is_answered_and_its_office_alerted(engine, client, owner, smtp, tmp_path):
    office = owner.offices["Nottingham"]
    _office_contacts(office, email="notts@agency.example.com", sender_name="Demo Notts")
    make_user(owner.account_id, role="agent", offices=[office], email="neg@agency.example.com")
    _import(owner.account_id, SPRING, tmp_path=tmp_path)
    lead = _spring_lead(client, owner)
    create_lead_api(client, owner, email="other@example.com")  # no campaign: no match
    _drain(engine)
    to = sorted((m.rcpt_tos[0], m.message["Subject"]) for m in smtp.received)
    assert to == [
        ("cloud9@cloud.com", "Thanks Marla"),
        ("neg@agency.example.com", "New sale lead: Marla Singer (homepage)"),
        ("notts@agency.example.com", "New sale lead: Marla Singer (homepage)"),
    ]
    reply = next(m.message for m in smtp.received if m.rcpt_tos == ["cloud9@cloud.com"])
    assert reply["From"] == "Demo Notts <notts@agency.example.com>"
    assert "Nottingham will call you shortly." in reply.get_content()
    assert "List-Unsubscribe" not in reply  # the instant reply is not marketing
    alert = next(m.message for m in smtp.received if m.rcpt_tos == ["notts@agency.example.com"])
    assert f"/leads/{lead['id']}" in alert.get_content() and "01623000000" in alert.get_content()
    outcomes = [(t["action"], t["outcome"]) for t in _timeline(lead["id"])]
    assert outcomes == [("email_lead", "sent"), ("notify_office", "sent")]
    # the 2-day follow-up waits
    with db.transaction() as s:
        pending = s.scalars(select(Job).where(Job.state == "pending")).all()
    assert [j.payload["step"]["subject"] for j in pending] == ["Still looking?"]
    assert pending[0].run_at - utcnow() > timedelta(days=1, hours=23)


def _set_status(client, owner, lead, status: str) -> None:
    r = client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": status}, headers=owner.headers
    )
    assert r.status_code == 200, r.text


def _due_now() -> None:
    with db.transaction() as s:
        s.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))


def test_a_follow_up_needs_consent_and_carries_an_unsubscribe_link(
    engine, client, owner, smtp, tmp_path
):
    _import(owner.account_id, SPRING, tmp_path=tmp_path)
    without = _spring_lead(client, owner)
    with_consent = _spring_lead(client, owner, email="yes@example.com", gdpr_checkbox=True)
    _drain(engine)
    _due_now()
    _drain(engine)
    assert _timeline(without["id"])[-1]["outcome"] == "stopped"
    assert "consent" in _timeline(without["id"])[-1]["detail"]
    follow = next(m.message for m in smtp.received if m.message["Subject"] == "Still looking?")
    assert follow["To"].endswith("<yes@example.com>")
    link = follow["List-Unsubscribe"].strip("<>")
    assert link in follow.get_content()
    # one click, no sign-in
    r = client.get(link.replace(get_settings().public_url, ""))
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert client.post(link.replace(get_settings().public_url, "")).status_code == 200
    with db.transaction() as s:
        kinds = s.scalars(
            select(LeadEvent.kind).where(LeadEvent.lead_id == with_consent["id"])
        ).all()
    assert kinds.count("unsubscribed") == 1
    # a later lead of the same person gets no follow-up
    again = _spring_lead(client, owner, email="YES@example.com", gdpr_checkbox=True)
    _drain(engine)
    _due_now()
    _drain(engine)
    assert _timeline(again["id"])[-1] == {
        **_timeline(again["id"])[-1],
        "outcome": "stopped",
        "detail": "the person unsubscribed",
    }
    assert client.get("/unsubscribe/forged-token").status_code == 404


def test_a_follow_up_stops_once_the_lead_leaves_unread(engine, client, owner, smtp, tmp_path):
    _import(owner.account_id, SPRING, tmp_path=tmp_path)
    lead = _spring_lead(client, owner, gdpr_checkbox=True)
    _drain(engine)
    client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": "Contacted"}, headers=owner.headers
    )
    _due_now()
    _drain(engine)
    last = _timeline(lead["id"])[-1]
    assert last["outcome"] == "stopped" and "no longer Unread" in last["detail"]
    assert [m.message["Subject"] for m in smtp.received].count("Still looking?") == 0


def test_without_an_smtp_server_messages_are_recorded_as_not_sent(
    engine, client, owner, tmp_path, monkeypatch
):
    monkeypatch.delenv("DOORSTEP_SMTP_URL", raising=False)
    monkeypatch.setenv("DOORSTEP_MAIL_FROM", "leads@agency.example.com")
    get_settings.cache_clear()
    _office_contacts(owner.offices["Nottingham"], email="notts@agency.example.com")
    _import(owner.account_id, SPRING, tmp_path=tmp_path)
    lead = _spring_lead(client, owner)
    _drain(engine)
    get_settings.cache_clear()
    assert [(t["outcome"], t["detail"]) for t in _timeline(lead["id"])] == [
        ("not_sent", "no SMTP server (set DOORSTEP_SMTP_URL)"),
        ("not_sent", "no SMTP server (set DOORSTEP_SMTP_URL)"),
    ]
    with db.transaction() as s:
        assert all(j.state != "failed" for j in s.scalars(select(Job)))


def test_an_smtp_outage_is_retried_then_failed_and_the_lead_is_untouched(
    engine, client, owner, tmp_path, monkeypatch
):
    from tests.smtp_server import free_port

    monkeypatch.setenv("DOORSTEP_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DOORSTEP_MAIL_FROM", "leads@agency.example.com")
    get_settings.cache_clear()
    flow = {**SPRING, "steps": [SPRING["steps"][0]]}
    _import(owner.account_id, flow, tmp_path=tmp_path)
    lead = _spring_lead(client, owner)
    _drain(engine)
    with db.transaction() as s:
        (job,) = s.scalars(select(Job).where(Job.kind == "workflow.step")).all()
    assert job.state == "pending" and "could not be reached" in (job.last_error or "")
    for _ in range(job.max_attempts):
        _due_now()
        _drain(engine)
    get_settings.cache_clear()
    with db.transaction() as s:
        (job,) = s.scalars(select(Job).where(Job.kind == "workflow.step")).all()
    assert job.state == "failed"
    last = _timeline(lead["id"])[-1]
    assert last["outcome"] == "failed" and "could not be reached" in last["detail"]
    r = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers)
    assert r.json()["status"] == "New"


def test_a_status_change_workflow_sends_the_confirmation(engine, client, owner, smtp, tmp_path):
    confirm = {
        "name": "Appointment confirmation",
        "trigger": "lead.status_changed",
        "when": {"status": ["Appointment booked"]},
        "steps": [
            {
                "action": "email_lead",
                "subject": "See you soon, {{ lead.first_name }}",
                "body": "Your appointment with {{ office.name }} is booked.",
            },
            {"action": "set_next_action", "in": "1d"},
        ],
    }
    _import(owner.account_id, confirm, tmp_path=tmp_path)
    lead = create_lead_api(client, owner)
    client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": "Contacted"}, headers=owner.headers
    )
    _drain(engine)
    assert smtp.received == []
    client.patch(
        f"/api/v103/leads/{lead['id']}",
        json={"status": "Appointment booked"},
        headers=owner.headers,
    )
    _drain(engine)
    assert [m.message["Subject"] for m in smtp.received] == ["See you soon, Marla"]
    after = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json()
    assert after["status"] == "Appointment booked"
    with db.transaction() as s:
        from doorstep.models import Lead

        nad = s.get(Lead, lead["id"]).next_action_date
    assert timedelta(hours=23) < nad - utcnow() <= timedelta(days=1)


def test_the_lead_page_shows_what_the_responder_did(engine, client, owner, smtp, tmp_path):
    from tests.factories import sign_in

    _import(owner.account_id, SPRING, tmp_path=tmp_path)
    lead = _spring_lead(client, owner)
    _drain(engine)
    sign_in(client, make_user(owner.account_id))
    page = client.get(f"/leads/{lead['id']}").text
    assert "Lead Responder: workflow “Spring campaign: instant reply”" in page
    assert "E-mail to the lead: sent" in page and "Thanks Marla" in page


def test_the_demo_answers_every_lead_and_says_why_nothing_was_sent(engine, client, monkeypatch):
    monkeypatch.delenv("DOORSTEP_SMTP_URL", raising=False)
    # The demo's autocaller calls through `make run`'s simulator; none runs here, so its call
    # fails at once on a closed local port rather than reaching out to api.twilio.com.
    monkeypatch.setenv("DOORSTEP_TWILIO_API_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    r = runner.invoke(cli, ["demo", "--json"])
    assert r.exit_code == 0, r.output
    demo = json.loads(r.stdout)
    token = demo["token"]
    r = client.post(
        "/api/v103/leads",
        json={"type": "vendor", "first_name": "Marla", "last_name": "Singer",
              "email": "m@example.com", "phone": "07986000000", "postcode": "NG1 5FS"},
        headers={"X-API-KEY": token},
    )  # fmt: skip
    assert r.status_code == 200
    _drain(engine)
    assert [(t["action"], t["outcome"], t["detail"]) for t in _timeline(r.json()["id"])] == [
        ("email_lead", "not_sent", "no SMTP server (set DOORSTEP_SMTP_URL)"),
        ("notify_office", "not_sent", "no SMTP server (set DOORSTEP_SMTP_URL)"),
    ]
    # running the demo again keeps the one workflow
    runner.invoke(cli, ["demo", "--json"])
    r = runner.invoke(cli, ["workflows", "list", "--account", str(demo["account_id"]), "--json"])
    assert [w["name"] for w in json.loads(r.stdout)["workflows"]] == ["Instant reply to every lead"]


def test_a_webhook_step_posts_the_lead_signed_to_one_of_the_accounts_endpoints(
    engine, client, owner, tmp_path, monkeypatch
):
    from standardwebhooks import Webhook

    from doorstep.webhooks import net
    from doorstep.webhooks import service as webhooks
    from tests.webhook_receiver import Receiver

    monkeypatch.setenv("DOORSTEP_WEBHOOKS_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    net.reset_client()
    try:
        with Receiver() as rx:
            flow = {
                "name": "Tell the CRM",
                "steps": [{"action": "webhook", "url": rx.url}],
            }
            # not an endpoint yet: refused, saying how to fix it
            out = _import(owner.account_id, flow, tmp_path=tmp_path)
            assert out["exit_code"] == 1
            assert "is not one of your webhook endpoints" in out["errors"]["workflow"][0]
            with db.transaction() as s:
                # subscribed to nothing the lead does: only the step sends
                secret = webhooks.create_endpoint(
                    s, owner.account_id, rx.url, ["lead.status_changed"]
                ).secret
            assert _import(owner.account_id, flow, tmp_path=tmp_path)["exit_code"] == 0
            lead = create_lead_api(client, owner)
            _drain(engine)
            (req,) = rx.wait_for(1)
            payload = Webhook(secret).verify(req.body, req.headers)
            assert payload["type"] == "workflow.step" and payload["data"]["id"] == lead["id"]
            assert _timeline(lead["id"])[0]["outcome"] == "sent"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        net.reset_client()
