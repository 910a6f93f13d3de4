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
    assert event["type"] == "lead.created" and events.lead_of(event) == lead
    assert list(events.lead_of(event)) == list(lead)  # the documented key order
    assert event["timestamp"].endswith("Z")
    # Kept without its empty fields: about half the row every claim and finish copies.
    assert None not in event["lead"].values() and len(event["lead"]) < len(lead)


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
    assert events.lead_of(updated) == r.json()
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


def test_a_batch_of_events_asks_each_question_of_an_account_once(client, owner, engine):
    """The worker records finished lead events in batches, one transaction each: the
    subscribers' reads (the account's workflows, its webhook endpoints, an office's
    autocaller) are made once a batch, not once an event."""
    from sqlalchemy import event

    offices = list(owner.offices.values())
    for i in range(6):  # in two offices
        create_lead_api(client, owner, email=f"b{i}@example.com", office_id=offices[i % 2])
    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    w = Worker(engine, 1, name="w")
    batch: list = []
    event.listen(engine, "before_cursor_execute", count)
    try:
        for job in queue.claim(engine, "w", 10, timedelta(seconds=30)):
            assert w.run_one(job, record_later=batch.append)
        w._record_done(batch)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(batch) == 6
    for table in ("workflows", "webhook_endpoints", "office_autocallers"):
        assert len([s for s in seen if f"FROM {table}" in s]) == 1, table
    with db.transaction() as s:
        assert s.scalar(select(Job.state).where(Job.kind == "lead.event").distinct()) == "done"


def test_read_once_asks_again_in_a_new_transaction(engine):
    from sqlalchemy import text

    asked: list[int] = []

    def ask(s):  # type: ignore[no-untyped-def]
        asked.append(s.scalar(text("SELECT 1")))
        return len(asked)

    with db.session_factory()() as s:
        s.execute(text("SELECT 1"))
        assert [events.read_once(s, ("q",), lambda: ask(s)) for _ in range(3)] == [1, 1, 1]
        s.commit()
        s.execute(text("SELECT 1"))
        assert events.read_once(s, ("q",), lambda: ask(s)) == 2
