"""The Automation pages: figures per workflow, the editor (same checks as the JSON import,
each problem at its field), the preview, and failed work retried by an admin."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import select, update

from doorstep import db
from doorstep.jobs import GiveUp, enqueue, handler
from doorstep.models import Job, Workflow
from tests.conftest import create_lead_api
from tests.factories import make_user, page_csrf, sign_in
from tests.test_responder import SPRING, _drain


@handler("test.fails")
def _fails(work) -> None:
    raise GiveUp("the relay said no")


def _post(client, path: str, data: list[tuple[str, str]], page: str = "/automation"):
    token = page_csrf(client, page)
    return client.post(
        path,
        content=urlencode([*data, ("csrf_token", token)]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def _editor_form(**over) -> list[tuple[str, str]]:
    form = [
        ("name", "Instant reply"),
        ("enabled", "1"),
        ("trigger", "lead.created"),
        ("when-type", "sale"),
        ("when-type", "let"),
        ("when-meta", "campaign=spring"),
        ("when-postcode_area", "ng, de"),
        ("step-count", "3"),
        ("step-0-action", "email_lead"),
        ("step-0-after", "0s"),
        ("step-0-subject", "Thanks {{ lead.first_name }}"),
        ("step-0-body", "Hello {{ lead.first_name }}, {{ office.name }} will call."),
        ("step-0-text", "ignored: not an e-mail field"),
        ("step-1-action", "notify_office"),
        ("step-1-after", "0s"),
        ("step-2-action", ""),
    ]
    for k, v in over.items():
        name = k.replace("_", "-", 2 if k.startswith("step_") else 1)
        form = [*((a, b) for a, b in form if a != name), (name, v)]
    return form


def _admin(client, owner):
    sign_in(client, make_user(owner.account_id))


def test_an_admin_builds_a_workflow_in_the_editor(client, owner):
    _admin(client, owner)
    r = _post(client, "/automation/workflows", _editor_form(), "/automation/workflows/new")
    assert r.status_code == 303, r.text
    with db.transaction() as s:
        (wf,) = s.scalars(select(Workflow)).all()
    assert wf.definition == {
        "name": "Instant reply",
        "enabled": True,
        "trigger": "lead.created",
        "when": {"type": ["sale", "let"], "meta": {"campaign": "spring"},
                 "postcode_area": ["NG", "DE"]},
        "steps": [
            {"after": "0s", "action": "email_lead", "subject": "Thanks {{ lead.first_name }}",
             "body": "Hello {{ lead.first_name }}, {{ office.name }} will call."},
            {"after": "0s", "action": "notify_office"},
        ],
    }  # fmt: skip
    page = client.get(f"/automation/workflows/{wf.id}").text
    assert 'value="Thanks {{ lead.first_name }}"' in page and "campaign=spring" in page
    # removing a step
    form = _editor_form()
    form.append(("step-1-remove", "1"))
    r = _post(client, f"/automation/workflows/{wf.id}", form, f"/automation/workflows/{wf.id}")
    assert r.status_code == 303
    with db.transaction() as s:
        assert len(s.get(Workflow, wf.id).definition["steps"]) == 1


def test_the_editor_shows_each_problem_at_its_field_and_saves_nothing(client, owner):
    _admin(client, owner)
    form = _editor_form(
        step_0_after="soon", step_0_subject="Hi {{ lead.nickname }}", when_postcode_area="N1"
    )
    form += [("step-2-action", "set_next_action"), ("step-2-after", "1d")]
    r = _post(client, "/automation/workflows", form, "/automation/workflows/new")
    assert r.status_code == 422
    html = r.text
    assert 'id="step-0-after-errors"' in html and "is not a duration" in html
    assert 'id="step-0-subject-errors"' in html and "has no attribute" in html
    assert 'id="when-postcode_area-errors"' in html
    assert 'id="step-2-in-errors"' in html  # set_next_action needs "in"
    assert 'value="soon"' in html  # what was typed is kept
    with db.transaction() as s:
        assert s.scalars(select(Workflow)).all() == []


def test_the_preview_renders_the_messages_a_lead_would_get(client, owner):
    lead = create_lead_api(client, owner, first_name="Tyler")
    _admin(client, owner)
    form = [*_editor_form(), ("preview-lead", str(lead["id"]))]
    r = _post(client, "/automation/preview", form, "/automation/workflows/new")
    assert r.status_code == 200
    assert "Thanks Tyler" in r.text and "Hello Tyler, Nottingham will call." in r.text
    assert "cloud9@cloud.com" in r.text
    assert "nobody: the office has no e-mail address" in r.text
    r = _post(client, "/automation/preview", [*form[:-1], ("preview-lead", "٣")])
    assert "Choose a lead" in r.text


def test_the_automation_page_counts_what_each_workflow_did(engine, client, owner, tmp_path):
    from tests.test_responder import _import

    _import(owner.account_id, SPRING, tmp_path=tmp_path)
    create_lead_api(client, owner, meta={"campaign": "spring"})
    _drain(engine)
    _admin(client, owner)
    html = client.get("/automation").text
    assert "Spring campaign: instant reply" in html
    # matched 1; no SMTP server: 2 not sent; the follow-up is still pending
    row = html[html.index("data-workflow-id") :]
    assert ">1<" in row and "(2 not sent)" in row
    assert "1 pending" in html


def test_failed_work_is_listed_with_its_reason_and_retried(client, owner):
    lead = create_lead_api(client, owner)
    with db.transaction() as s:
        enqueue(s, "test.fails", {}, account_id=owner.account_id, lead_id=lead["id"])
    from doorstep.jobs import queue
    from doorstep.jobs.worker import Worker

    engine = db.get_engine()
    w = Worker(engine, 1, name="w")
    for j in queue.claim(engine, "w", 10, __import__("datetime").timedelta(seconds=30)):
        if j.kind == "test.fails":
            w.run_one(j)
    _admin(client, owner)
    html = client.get("/automation/jobs?state=failed").text
    assert "the relay said no" in html and "test.fails" in html
    r = _post(client, "/automation/jobs/retry", [("all", "1")], "/automation/jobs?state=failed")
    assert r.status_code == 303
    with db.transaction() as s:
        job = s.scalars(select(Job).where(Job.kind == "test.fails")).one()
    assert job.state == "pending"


def test_only_admins_and_only_their_own_workflows(client, owner, other, tmp_path):
    from tests.test_responder import _import

    _import(other.account_id, SPRING, tmp_path=tmp_path)
    with db.transaction() as s:
        wid = s.scalars(select(Workflow.id)).one()
    sign_in(client, make_user(owner.account_id, role="leader"))
    assert client.get("/automation").status_code == 403
    _admin(client, owner)
    assert client.get(f"/automation/workflows/{wid}").status_code == 404
    r = _post(client, f"/automation/workflows/{wid}/delete", [])
    assert r.status_code == 404
    with db.transaction() as s:
        s.execute(update(Workflow).values(enabled=True))
        assert s.scalars(select(Workflow.id)).one() == wid
