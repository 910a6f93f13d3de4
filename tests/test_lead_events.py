"""Every change that automation follows is written as a lead.event job in the change's own
transaction, with the lead object as it stands after the change."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from doorstep import db
from doorstep.jobs import queue
from doorstep.jobs.worker import Worker
from doorstep.leads import events
from doorstep.models import Job
from tests.conftest import create_lead_api, lead_body


def _events() -> list[dict]:
    with db.transaction() as s:
        return [
            j.payload
            for j in s.scalars(select(Job).where(Job.kind == "lead.event").order_by(Job.id))
        ]


def test_a_created_lead_is_an_event_carrying_its_lead_object(client, owner):
    lead = create_lead_api(client, owner)
    (event,) = _events()
    assert event["type"] == "lead.created" and event["lead"] == lead
    assert event["timestamp"].endswith("Z")


def test_a_refused_create_leaves_no_event(client, owner):
    r = client.post("/api/v103/leads", json=lead_body(email="nope"), headers=owner.headers)
    assert r.status_code == 422
    assert _events() == []


def test_a_status_change_is_an_update_and_a_status_change(client, owner):
    lead = create_lead_api(client, owner)
    r = client.patch(
        f"/api/v103/leads/{lead['id']}", json={"status": "Contacted"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    _, updated, status = _events()
    assert updated["type"] == "lead.updated" and updated["detail"] == {"fields": ["status"]}
    assert updated["lead"] == r.json()
    assert status["type"] == "lead.status_changed"
    assert status["detail"] == {"old_status": "New", "status": "Contacted", "stage": "In progress"}


def test_a_patch_that_changes_nothing_is_no_event(client, owner):
    lead = create_lead_api(client, owner)
    r = client.patch(
        f"/api/v103/leads/{lead['id']}",
        json={"first_name": lead["first_name"]},
        headers=owner.headers,
    )
    assert r.status_code == 200
    assert [e["type"] for e in _events()] == ["lead.created"]
    client.patch(f"/api/v103/leads/{lead['id']}", json={"meta": {"a": "1"}}, headers=owner.headers)
    assert _events()[-1]["detail"] == {"fields": ["meta"]}


def test_each_subscriber_gets_each_change_once(client, owner, engine):
    got: list[tuple[str, int]] = []

    @events.subscriber("test")
    def _record(session, change):
        got.append((change.type, change.lead_id))

    try:
        lead = create_lead_api(client, owner)
        w = Worker(engine, 1, name="w")
        for job in queue.claim(engine, "w", 10, timedelta(seconds=30)):
            w.run_one(job)
        assert queue.claim(engine, "w", 10, timedelta(seconds=30)) == []
    finally:
        events._subscribers.pop("test")
    assert got == [("lead.created", lead["id"])]
