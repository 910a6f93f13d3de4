"""Every change that automation follows is written as a lead.event job in the change's own
transaction, with the lead object as it stands after the change."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from doorstep import db
from doorstep.jobs import queue, registry
from doorstep.jobs.worker import Worker
from doorstep.leads import events
from doorstep.models import Job
from doorstep.models.base import utcnow
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


def _count_statements(engine):  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def counting():  # type: ignore[no-untyped-def]
        seen: list[str] = []

        def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", count)

    return counting()


def test_the_worker_takes_lead_events_in_one_transaction_with_their_follow_on_work(
    client, owner, engine
):
    """Lead events are taken, fanned out and marked done by one statement in one transaction
    (Worker.take): not claimed, handed to a thread and recorded, a job at a time."""
    got: list[int] = []

    @events.subscriber("test")
    def _record(session, change):  # type: ignore[no-untyped-def]
        got.append(change.lead_id)
        assert change.lead["first_name"] and "utm_source" in change.lead  # whole again

    offices = list(owner.offices.values())
    leads = [
        create_lead_api(client, owner, email=f"t{i}@example.com", office_id=offices[i % 2])
        for i in range(6)
    ]
    w = Worker(engine, 1, name="w")
    try:
        with _count_statements(engine) as seen:
            assert w.take(registry.in_transaction_kinds()) == 6
    finally:
        events._subscribers.pop("test")
    assert sorted(got) == sorted(lead["id"] for lead in leads)
    jobs_written = [s for s in seen if s.lstrip().upper().startswith("UPDATE JOBS")]
    assert len(jobs_written) == 1  # taken and finished at once
    for table in ("workflows", "webhook_endpoints", "office_autocallers"):
        assert len([s for s in seen if f"FROM {table}" in s]) == 1, table
    with db.transaction() as s:
        rows = s.execute(select(Job.state, Job.attempts, Job.claimed_by)).all()
    assert set(rows) == {("done", 1, None)}
    assert w.processed == 6
    # The worker's claim for its threads leaves them alone, and nothing is due any more.
    assert queue.claim(engine, "w", 10, timedelta(seconds=30), skip=("lead.event",)) == []
    assert w.take(registry.in_transaction_kinds()) == 0


def test_a_take_rolled_back_leaves_its_jobs_due(client, owner, engine):
    """A worker killed before its transaction commits: the jobs it took are due again."""
    create_lead_api(client, owner)
    with db.session_factory()() as s:
        (job,) = queue.take(s, ("lead.event",), 10)
        assert job.attempts == 1
        s.rollback()
    with db.transaction() as s:
        assert s.execute(select(Job.state, Job.attempts)).one() == ("pending", 0)
    with db.session_factory()() as s, s.begin():
        assert [j.id for j in queue.take(s, ("lead.event",), 10)] == [job.id]


def test_one_failing_event_in_a_batch_is_retried_alone(client, owner, engine):
    """A subscriber that fails on one lead: the batch is run again one event a transaction,
    the others are done and the failing one is due again on its backoff, its attempt and
    reason recorded; on its last attempt it fails for good."""
    leads = [create_lead_api(client, owner, email=f"f{i}@example.com") for i in range(4)]
    bad = leads[2]["id"]

    @events.subscriber("test")
    def _fail_one(session, change):  # type: ignore[no-untyped-def]
        if change.lead_id == bad:
            raise RuntimeError("the subscriber broke")

    w = Worker(engine, 1, name="w")
    try:
        assert w.take(registry.in_transaction_kinds()) == 4
        with db.transaction() as s:
            rows = {
                j.lead_id: (j.state, j.attempts, j.last_error, j.run_at)
                for j in s.scalars(select(Job))
            }
        assert {k: v[:2] for k, v in rows.items()} == {
            leads[0]["id"]: ("done", 1),
            leads[1]["id"]: ("done", 1),
            bad: ("pending", 1),
            leads[3]["id"]: ("done", 1),
        }
        assert "RuntimeError: the subscriber broke" in rows[bad][2]
        assert rows[bad][3] > utcnow() + timedelta(seconds=20)  # the first backoff: ~30 s
        # Its last attempt: failed for good.
        with db.transaction() as s:
            s.execute(
                update(Job)
                .where(Job.lead_id == bad)
                .values(run_at=utcnow(), attempts=Job.max_attempts - 1)
            )
        assert w.take(registry.in_transaction_kinds()) == 1
        with db.transaction() as s:
            job = s.scalars(select(Job).where(Job.lead_id == bad)).one()
            assert (job.state, job.attempts) == ("failed", job.max_attempts)
    finally:
        events._subscribers.pop("test")


def test_a_claim_or_a_take_of_one_job_takes_one(client, owner, engine):
    """Found on a young PostgreSQL database: run as ``id IN (locking sub-select)``, a take of
    one job took all four due (the planner re-ran the sub-select for each row it joined)."""
    for i in range(4):
        create_lead_api(client, owner, email=f"one{i}@example.com")
    with db.session_factory()() as s, s.begin():
        assert len(queue.take(s, ("lead.event",), 1)) == 1
    assert len(queue.claim(engine, "w", 1, timedelta(seconds=30))) == 1
    with db.transaction() as s:
        states = sorted(s.scalars(select(Job.state)))
    assert states == ["done", "pending", "pending", "running"]


def test_a_failed_batch_stops_its_retries_when_the_database_refuses(
    client, owner, engine, monkeypatch
):
    """A batch that failed because the database went away: its one-by-one retries stop at
    the first take that fails (after a pause), not one failure logged per job."""
    for i in range(5):
        create_lead_api(client, owner, email=f"gone{i}@example.com")
    calls: list[int] = []
    real_take = queue.take

    def take(session, kinds, limit):  # type: ignore[no-untyped-def]
        calls.append(limit)
        if len(calls) == 1:
            return real_take(session, kinds, limit)
        raise RuntimeError("the database went away")

    @events.subscriber("test")
    def _gone(session, change):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away")

    monkeypatch.setattr(queue, "take", take)
    w = Worker(engine, 1, name="w", poll_s=0.01)
    try:
        assert w.take(registry.in_transaction_kinds()) == 5
    finally:
        events._subscribers.pop("test")
    assert calls == [200, 1]
    with db.transaction() as s:  # nothing lost: all still due
        assert set(s.scalars(select(Job.state))) == {"pending"}
