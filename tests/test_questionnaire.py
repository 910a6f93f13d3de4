"""Pre-qualification: a workflow's questionnaire step e-mails a signed link to a hosted form;
the answers go into the lead through the update path, once; a rule on the answers creates a
linked lead, routed by its postcode or kept on the original office."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from doorstep import db
from doorstep.cli import app as cli
from doorstep.config import get_settings
from doorstep.models import Job, Lead, LeadEvent, Questionnaire
from doorstep.models.base import utcnow
from doorstep.responder import questionnaire
from doorstep.responder.definition import DefinitionErrors, parse
from tests.conftest import create_lead_api
from tests.factories import make_user, sign_in
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)
from tests.test_responder import _drain, _import

runner = CliRunner()

QUESTIONS = [
    {"id": "has_property", "text": "Do you have a property to sell?", "answers": ["Yes", "No"]},
    {"id": "on_market", "text": "Is it on the market?", "answers": ["Yes", "No"],
     "ask_if": {"has_property": "Yes"}},
    {"id": "mip", "text": "Do you have a mortgage in principle?",
     "answers": ["Yes", "No", "Not needed"]},
    {"id": "when", "text": "When would you like to move?", "answers": None, "max_length": 80,
     "required": False},
]  # fmt: skip
PREQUAL = {
    "name": "Buyer pre-qualification",
    "when": {"type": ["sale"]},
    "steps": [
        {
            "action": "questionnaire",
            "subject": "A few questions, {{ lead.first_name }}",
            "body": "Hello {{ lead.first_name }},\n\nPlease answer: {{ questionnaire_url }}\n",
            "questions": QUESTIONS,
            "rules": [{"if": {"has_property": "Yes"}, "create_lead": {"type": "vendor"}}],
        }
    ],
}
LINK = re.compile(r"https?://\S+/q/[A-Za-z0-9_.\-]+")


@pytest.fixture
def smtp(smtp_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DOORSTEP_SMTP_URL", smtp_server.url())
    monkeypatch.setenv("DOORSTEP_MAIL_FROM", "leads@agency.example.com")
    get_settings.cache_clear()
    yield smtp_server
    monkeypatch.undo()
    get_settings.cache_clear()


def _path(url: str) -> str:
    return url.replace(get_settings().public_url.rstrip("/"), "")


def _sent_link(smtp, tmp_path: Path, owner, client, flow=PREQUAL, **lead) -> tuple[dict, str]:
    """Import the workflow, create a lead, run the step: the lead and its link's path."""
    _import(owner.account_id, flow, tmp_path=tmp_path)
    created = create_lead_api(client, owner, **lead)
    _drain(db.get_engine())
    (msg,) = [m.message for m in smtp.received if m.rcpt_tos == [created["email"]]]
    text = msg.get_body(("plain",)).get_content()
    links = LINK.findall(text)
    assert links, text
    return created, _path(links[0])


def _api_lead(client, owner, lead_id: int) -> dict:
    r = client.get(f"/api/v103/leads/{lead_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _events(lead_id: int, kind: str) -> list[dict]:
    with db.transaction() as s:
        return [
            e.data or {}
            for e in s.scalars(
                select(LeadEvent)
                .where(LeadEvent.lead_id == lead_id, LeadEvent.kind == kind)
                .order_by(LeadEvent.id)
            )
        ]


def _linked_leads(lead_id: int) -> list[Lead]:
    with db.transaction() as s:
        return list(s.scalars(select(Lead).where(Lead.linked_from_lead_id == lead_id)))


# -- the JSON form -------------------------------------------------------------------------


def test_the_questionnaire_step_parses_and_exports_as_written():
    d = parse(PREQUAL)
    (step,) = d.steps
    assert step.action == "questionnaire"
    assert step.expires == "14d" and step.lifetime == timedelta(days=14)
    assert [q.id for q in step.questions] == ["has_property", "on_market", "mip", "when"]
    assert step.questions[3].free_text and step.questions[3].limit == 80
    assert step.rules[0].create_lead.type == "vendor"
    custom = parse({**PREQUAL, "steps": [{**PREQUAL["steps"][0], "expires": "2d12h"}]})
    assert custom.steps[0].lifetime == timedelta(days=2, hours=12)


def test_a_questionnaire_with_problems_names_each_one():
    bad = {
        "name": "Broken",
        "steps": [
            {
                "action": "questionnaire",
                "subject": "Hi {{ lead.first_name }}",
                "body": "Answer: {{ questionnaire_link }}",
                "expires": "soon",
                "questions": [
                    {"id": "has_property", "text": "Selling?", "answers": []},
                    {"id": "has_property", "text": "Again?", "answers": ["Yes", "yes"]},
                    {"id": "on market", "text": "On the market?", "answers": ["Yes", "No"],
                     "ask_if": {"has_propety": "Yes"}},
                    {"id": "notes", "text": "Anything else?", "answers": None,
                     "max_length": "long"},
                    {"id": "mip", "text": "", "answers": "Yes",
                     "ask_if": {"notes": "x", "later": "Yes"}},
                    {"id": "later", "text": "Later?", "answers": ["Yes", "No"]},
                ],
                "rules": [
                    {"if": {"nope": "Yes"}, "create_lead": {"type": "vendor"}},
                    {"if": {"later": "Maybe"}, "create_lead": {"type": "flat"}},
                    {"create_lead": {"type": "landlord"}, "then": "x"},
                ],
            }
        ],
    }  # fmt: skip
    with pytest.raises(DefinitionErrors) as e:
        parse(bad)
    problems = e.value.problems
    expected = [
        "steps[0].expires: 'soon' is not a duration",
        "steps[0].questions[0].answers: give at least one answer, or null for a free-text",
        "steps[0].questions[1].answers: the same answer twice: yes",
        "steps[0].questions[1].id: 'has_property' is the id of an earlier question too",
        "steps[0].questions[2].id: 'on market' is not a question id",
        "steps[0].questions[2].ask_if: unknown question 'has_propety'",
        "steps[0].questions[3].max_length: Input should be a valid integer",
        "steps[0].questions[4].text: String should have at least 1 character",
        "steps[0].questions[4].answers: Input should be a valid list",
        "steps[0].questions[4].ask_if.notes: notes is a free-text question",
        "steps[0].questions[4].ask_if.later: later is asked later",
        "steps[0].rules[0].if: unknown question 'nope'",
        "steps[0].rules[1].if.later: 'Maybe' is not an answer of later (Yes, No)",
        "steps[0].rules[1].create_lead.type: Input should be 'sale', 'let', 'vendor'",
        "steps[0].rules[2].if: Field required",
        "steps[0].rules[2].then: not a known key here",
        "steps[0].body: line 1: 'questionnaire_link' is undefined",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems


def test_a_link_that_expires_too_soon_or_answers_too_long_for_a_lead_are_refused():
    step = PREQUAL["steps"][0]
    with pytest.raises(DefinitionErrors) as e:
        parse({**PREQUAL, "steps": [{**step, "expires": "10m"}]})
    assert e.value.problems == [
        "steps[0].expires: '10m' is too short for a link a person opens later: 1h at least."
    ]
    long_text = [{"id": f"q{i}", "text": f"Question {i}?", "answers": None, "max_length": 1000}
                 for i in range(3)]  # fmt: skip
    with pytest.raises(DefinitionErrors) as e:
        parse({**PREQUAL, "steps": [{**step, "questions": long_text, "rules": []}]})
    assert "more than the 2048 a lead's questionnaire holds" in e.value.problems[0]


def test_the_questionnaire_url_is_only_a_questionnaires_variable():
    with pytest.raises(DefinitionErrors) as e:
        parse({"name": "x", "steps": [{"action": "email_lead", "subject": "s",
                                       "body": "{{ questionnaire_url }}"}]})  # fmt: skip
    assert e.value.problems == ["steps[0].body: line 1: 'questionnaire_url' is undefined"]


# -- the e-mail ----------------------------------------------------------------------------


def test_the_step_emails_a_signed_link_that_opens_the_questionnaire(
    engine, client, owner, smtp, tmp_path
):
    lead, path = _sent_link(smtp, tmp_path, owner, client)
    (msg,) = smtp.received
    assert msg.message["Subject"] == "A few questions, Marla"
    assert msg.message["To"].endswith("<cloud9@cloud.com>")
    body = msg.message.get_content()
    assert body.count("/q/") == 1 and "List-Unsubscribe" not in msg.message  # not marketing
    (note,) = [e for e in _events(lead["id"], "responder") if e.get("action") == "questionnaire"]
    assert note["outcome"] == "sent" and "the link works until" in note["detail"]
    with db.transaction() as s:
        (row,) = s.scalars(select(Questionnaire)).all()
    assert row.lead_id == lead["id"] and row.answered_at is None
    assert timedelta(days=13, hours=23) < row.expires_at - utcnow() <= timedelta(days=14)

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert "Demo Brand" in html and "Nottingham" in html  # the agency and the lead's office
    assert '<legend class="question-label">Do you have a property to sell?' in html
    # one per choice question, and the address: the rule would make a vendor lead of it
    assert html.count("<fieldset") == 4
    assert "Only if you answered “Yes” to “Do you have a property to sell?”. </span>" in html
    # the conditional question is there for a browser without JavaScript, with its hint
    assert "Only if you answered “Yes” to “Do you have a property to sell?”." in html
    assert '<script src="/static/questionnaire.js" defer></script>' in html
    assert "<script>" not in html and " style=" not in html  # ready for a strict CSP
    assert 'for="q_when"' in html and 'maxlength="80"' in html


def test_a_body_without_the_link_gets_it_appended(engine, client, owner, smtp, tmp_path):
    step = {**PREQUAL["steps"][0], "body": "Hello {{ lead.first_name }}, a few questions.",
            "html": "<p>Hello {{ lead.first_name }}</p>", "expires": "3d"}  # fmt: skip
    _, path = _sent_link(smtp, tmp_path, owner, client, {**PREQUAL, "steps": [step]})
    msg = smtp.received[0].message
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = msg.get_body(("html",)).get_content()
    assert text.startswith("Hello Marla, a few questions.\n\n") and _path(LINK.findall(text)[0])
    assert f'<a href="{get_settings().public_url.rstrip("/")}{path}">Answer the questions</a>' in (
        html
    )
    with db.transaction() as s:
        (row,) = s.scalars(select(Questionnaire)).all()
    assert timedelta(days=2, hours=23) < row.expires_at - utcnow() <= timedelta(days=3)


# -- answering -----------------------------------------------------------------------------


def test_answers_are_appended_to_the_leads_questionnaire_through_the_update_path(
    engine, client, owner, smtp, tmp_path
):
    lead, path = _sent_link(smtp, tmp_path, owner, client, questionnaire=[["Budget?", "£300k"]])
    r = client.post(path, data={"q_has_property": "No", "q_mip": "Not needed",
                                "q_when": "  Within three months "})  # fmt: skip
    assert r.status_code == 200, r.text
    assert "Thank you" in r.text and "Within three months" in r.text
    after = _api_lead(client, owner, lead["id"])
    assert after["questionnaire"] == [
        ["Budget?", "£300k"],
        ["Do you have a property to sell?", "No"],
        ["Do you have a mortgage in principle?", "Not needed"],
        ["When would you like to move?", "Within three months"],
    ]
    # the update path: its timeline entry, and the lead.updated event for webhooks/workflows
    (updated,) = _events(lead["id"], "updated")
    assert updated["by"] == "the person (questionnaire link)"
    assert updated["fields"]["questionnaire"][0] == ["Do you have a property to sell?", "No"]
    (answered,) = _events(lead["id"], "questionnaire_answered")
    assert answered["answers"] == 3 and answered["workflow"] == PREQUAL["name"]
    with db.transaction() as s:
        kinds = [
            (j.payload["type"], j.payload.get("detail"))
            for j in s.scalars(select(Job).where(Job.kind == "lead.event").order_by(Job.id))
        ]
    assert ("lead.updated", {"fields": ["questionnaire"]}) in kinds
    assert _linked_leads(lead["id"]) == []  # "No" to the rule's question: no vendor lead


def test_an_answer_to_a_question_that_does_not_apply_is_dropped(
    engine, client, owner, smtp, tmp_path
):
    lead, path = _sent_link(smtp, tmp_path, owner, client)
    # Without JavaScript every question shows: "Is it on the market?" answered after "No".
    r = client.post(path, data={"q_has_property": "No", "q_on_market": "Yes", "q_mip": "Yes"})
    assert r.status_code == 200, r.text
    pairs = _api_lead(client, owner, lead["id"])["questionnaire"]
    assert pairs == [
        ["Do you have a property to sell?", "No"],
        ["Do you have a mortgage in principle?", "Yes"],
    ]


def test_missing_or_made_up_answers_are_named_and_nothing_is_stored(
    engine, client, owner, smtp, tmp_path
):
    lead, path = _sent_link(smtp, tmp_path, owner, client, advert_postcode="NG1 5FS")
    r = client.post(path, data={"q_has_property": "Yes", "q_mip": "Perhaps", "q_when": "x" * 81})
    assert r.status_code == 422
    html = r.text
    assert '<div class="error-summary" role="alert"' in html
    summary = html[html.index("error-summary") : html.index("</div>", html.index("error-summary"))]
    for anchor, text in [
        ("#q_on_market-0", "Choose an answer to “Is it on the market?”"),
        ("#q_mip-0", "Choose one of the answers to “Do you have a mortgage in principle?”"),
        ("#q_when", "must be 80 characters or fewer (it is 81)"),
        ("#address", "Enter the address of the property"),
        ("#postcode", "Enter its postcode"),
    ]:
        assert anchor in summary and text in summary, (anchor, summary)
    assert 'aria-invalid="true"' in html and 'value="Yes" checked' in html  # answers kept
    assert _api_lead(client, owner, lead["id"])["questionnaire"] is None
    with db.transaction() as s:
        assert s.scalar(select(Questionnaire.answered_at)) is None


def test_answering_twice_stores_the_answers_once(engine, client, owner, smtp, tmp_path):
    lead, path = _sent_link(smtp, tmp_path, owner, client, postcode="DE1 1JX",
                            address="1 Friar Gate")  # fmt: skip
    answers = {"q_has_property": "Yes", "q_on_market": "No", "q_mip": "Yes"}
    assert client.post(path, data=answers).status_code == 200
    again = client.post(path, data={**answers, "q_mip": "No"})
    assert again.status_code == 200 and "already answered" in again.text
    later = client.get(path)
    assert later.status_code == 200 and "You have already answered these questions" in later.text
    assert len(_api_lead(client, owner, lead["id"])["questionnaire"]) == 3
    assert len(_linked_leads(lead["id"])) == 1
    assert len(_events(lead["id"], "questionnaire_answered")) == 1


def test_two_submissions_at_once_store_the_answers_once(
    engine, client, second_client, owner, smtp, tmp_path
):
    """A double click, or the same link open on two devices: the stored questionnaire is
    locked, so the second waits for the first and finds it answered."""
    lead, path = _sent_link(smtp, tmp_path, owner, client, postcode="DE1 1JX",
                            address="1 Friar Gate")  # fmt: skip
    answers = {"q_has_property": "Yes", "q_on_market": "No", "q_mip": "Yes"}
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda c: c.post(path, data=answers), [client, second_client]))
    assert [r.status_code for r in replies] == [200, 200]
    assert sorted("<h1>Thank you</h1>" in r.text for r in replies) == [False, True]
    assert sum("already answered" in r.text for r in replies) == 1
    assert len(_api_lead(client, owner, lead["id"])["questionnaire"]) == 3
    assert len(_linked_leads(lead["id"])) == 1


# -- linked leads --------------------------------------------------------------------------


def test_a_rule_creates_a_linked_vendor_lead_routed_by_its_postcode(
    engine, client, owner, smtp, tmp_path
):
    # A buyer enquiring about a Nottingham flat, with no address of their own on the lead.
    lead, path = _sent_link(smtp, tmp_path, owner, client, advert_postcode="NG1 5FS",
                            gdpr_checkbox=True)  # fmt: skip
    assert lead["office_name"] == "Nottingham"
    html = client.get(path).text
    assert "The property’s address" in html and 'autocomplete="postal-code"' in html
    r = client.post(path, data={"q_has_property": "Yes", "q_on_market": "No", "q_mip": "No",
                                "address": "12 Friar Gate", "postcode": "de11jx"})  # fmt: skip
    assert r.status_code == 200, r.text
    (vendor,) = _linked_leads(lead["id"])
    new = _api_lead(client, owner, vendor.id)
    assert (new["type"], new["office_name"]) == ("vendor", "Derby")  # DE: Derby covers it
    assert (new["address"], new["postcode"]) == ("12 Friar Gate", "DE1 1JX")
    assert (new["first_name"], new["email"], new["gdpr_checkbox"]) == (
        "Marla", "cloud9@cloud.com", True
    )  # fmt: skip
    assert new["parent_id"] == lead["id"]  # the same person's group
    assert "Do you have a property to sell? Yes" in new["message"]
    # the address asked for is the person's: it is on the original lead too
    original = _api_lead(client, owner, lead["id"])
    assert (original["address"], original["postcode"]) == ("12 Friar Gate", "DE1 1JX")
    assert original["office_name"] == "Nottingham"
    # its own lead.created event, so workflows and webhooks answer it too
    with db.transaction() as s:
        created = [
            j.payload["lead"]["id"]
            for j in s.scalars(select(Job).where(Job.kind == "lead.event"))
            if j.payload["type"] == "lead.created"
        ]
    assert vendor.id in created
    (answered,) = _events(lead["id"], "questionnaire_answered")
    assert answered["linked"] == [{"id": vendor.id, "type": "vendor"}]
    # each lead's page links the other
    sign_in(client, make_user(owner.account_id))
    page = client.get(f"/leads/{lead['id']}").text
    assert f"Linked lead #{vendor.id} (vendor)" in page
    assert "Questionnaire answered" in page and "Is it on the market?" in page
    assert "the person (questionnaire link)" in page
    back = client.get(f"/leads/{vendor.id}").text
    assert f"Linked lead #{lead['id']} (sale)" in back


def test_the_address_is_not_asked_for_when_the_lead_has_it(engine, client, owner, smtp, tmp_path):
    lead, path = _sent_link(smtp, tmp_path, owner, client, address="3 Low Pavement",
                            postcode="NG1 7DQ")  # fmt: skip
    html = client.get(path).text
    assert "The property’s address" not in html
    r = client.post(path, data={"q_has_property": "Yes", "q_on_market": "Yes", "q_mip": "Yes"})
    assert r.status_code == 200, r.text
    (vendor,) = _linked_leads(lead["id"])
    new = _api_lead(client, owner, vendor.id)
    assert (new["postcode"], new["office_name"]) == ("NG1 7DQ", "Nottingham")


def test_the_account_setting_keeps_a_linked_lead_on_the_original_office(
    engine, client, owner, smtp, tmp_path
):
    r = runner.invoke(
        cli,
        ["accounts", "update", str(owner.account_id), "--linked-leads-same-office", "on",
         "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "id": owner.account_id,
        "name": "Demo Brand",
        "linked_leads_same_office": True,
        "strict_progression": False,
    }
    lead, path = _sent_link(smtp, tmp_path, owner, client, advert_postcode="NG1 5FS")
    r = client.post(path, data={"q_has_property": "Yes", "q_on_market": "No", "q_mip": "No",
                                "address": "12 Friar Gate", "postcode": "DE1 1JX"})  # fmt: skip
    assert r.status_code == 200, r.text
    (vendor,) = _linked_leads(lead["id"])
    assert _api_lead(client, owner, vendor.id)["office_name"] == "Nottingham"
    off = runner.invoke(
        cli, ["accounts", "update", str(owner.account_id), "--linked-leads-same-office", "OFF",
              "--json"],
    )  # fmt: skip
    assert json.loads(off.stdout)["linked_leads_same_office"] is False
    bad = runner.invoke(
        cli, ["accounts", "update", "999999", "--linked-leads-same-office", "on", "--json"]
    )
    assert bad.exit_code == 1 and json.loads(bad.stdout)["error"] == "There is no account 999999."


def test_a_vendor_lead_is_not_linked_to_a_vendor_lead(engine, client, owner, smtp, tmp_path):
    flow = {**PREQUAL, "when": {}}
    lead, path = _sent_link(smtp, tmp_path, owner, client, flow, type="vendor",
                            postcode="DE1 1JX")  # fmt: skip
    assert "The property’s address" not in client.get(path).text  # no lead to make of it
    r = client.post(path, data={"q_has_property": "Yes", "q_on_market": "Yes", "q_mip": "No"})
    assert r.status_code == 200, r.text
    assert _linked_leads(lead["id"]) == []
    (answered,) = _events(lead["id"], "questionnaire_answered")
    assert answered["not_created"] == ["No vendor lead created: this lead is one"]


# -- links that do not work ----------------------------------------------------------------


def test_an_expired_link_says_so(engine, client, owner, smtp, tmp_path):
    lead, path = _sent_link(smtp, tmp_path, owner, client)
    with db.transaction() as s:
        s.execute(update(Questionnaire).values(expires_at=utcnow() - timedelta(minutes=1)))
    r = client.get(path)
    assert r.status_code == 410 and "This link has expired" in r.text
    assert "Demo Brand" in r.text and "<form" not in r.text
    r = client.post(path, data={"q_has_property": "No", "q_mip": "Yes"})
    assert r.status_code == 410
    assert _api_lead(client, owner, lead["id"])["questionnaire"] is None
    # the expiry signed into the link holds on its own too
    with db.transaction() as s:
        s.execute(update(Questionnaire).values(expires_at=utcnow() + timedelta(days=1)))
        row = s.scalars(select(Questionnaire)).one()
        stale = questionnaire.link(owner.account_id, row.key, utcnow() - timedelta(seconds=1))
    assert client.get(_path(stale)).status_code == 410


def test_a_forged_or_damaged_link_says_it_does_not_work(engine, client, owner, smtp, tmp_path):
    lead, path = _sent_link(smtp, tmp_path, owner, client)
    token = path.removeprefix("/q/")
    for bad in ["/q/forged", "/q/" + token[:-3], "/q/" + token.replace(".", "x.", 1)]:
        r = client.get(bad)
        assert r.status_code == 404 and "This link does not work" in r.text, bad
        assert client.post(bad, data={"q_mip": "Yes"}).status_code == 404
    # a link naming another account does not reach this account's questionnaire
    with db.transaction() as s:
        row = s.scalars(select(Questionnaire)).one()
    other = questionnaire.link(owner.account_id + 1, row.key, utcnow() + timedelta(days=1))
    assert client.get(_path(other)).status_code == 410
    assert _api_lead(client, owner, lead["id"])["questionnaire"] is None


def test_a_deleted_leads_link_is_gone(engine, client, owner, smtp, tmp_path):
    lead, path = _sent_link(smtp, tmp_path, owner, client)
    with db.transaction() as s:
        s.delete(s.get(Lead, lead["id"]))
    r = client.get(path)
    assert r.status_code == 410 and "no longer available" in r.text
