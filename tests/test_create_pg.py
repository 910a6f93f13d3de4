"""The asyncpg create path (leads/create_pg.py) on PostgreSQL: taken when it can be, and then
storing exactly what the thread path stores: the lead, its group, its lead.event job and its
request-log row, committed together; its errors answered and logged as the thread path's.

The simultaneous-create, idempotency, rate-limit and crash guarantees are proved for both
paths against a live server in test_concurrency.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from doorstep.config import get_settings
from doorstep.leads import events
from doorstep.models import Job, Lead, RateCounter, RequestLog
from tests.conftest import IS_POSTGRES, lead_body, make_agency

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="the asyncpg path is PostgreSQL's")

LEADS = "/api/v103/leads"


def creates(path: str) -> float:
    return REGISTRY.get_sample_value("doorstep_lead_create_path_total", {"path": path}) or 0.0


def post(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(LEADS, json=lead_body(**body), headers=headers)


def test_a_create_with_a_secret_key_takes_the_async_path(client, owner):
    before = creates("async"), creates("thread")
    assert post(client, owner.headers).status_code == 200
    assert (creates("async"), creates("thread")) == (before[0] + 1, before[1])


@pytest.fixture
def thread_client(app, monkeypatch) -> Iterator[TestClient]:
    """The same app served with DOORSTEP_DB_ASYNC=false: every create takes the thread path
    (the setting is read when the app starts)."""
    monkeypatch.setenv("DOORSTEP_DB_ASYNC", "false")
    get_settings.cache_clear()
    try:
        with TestClient(app) as client:
            monkeypatch.delenv("DOORSTEP_DB_ASYNC")
            get_settings.cache_clear()
            yield client
    finally:
        get_settings.cache_clear()


def test_with_db_async_off_creates_take_the_thread_path(thread_client, owner):
    before = creates("async"), creates("thread")
    assert post(thread_client, owner.headers).status_code == 200
    assert (creates("async"), creates("thread")) == (before[0], before[1] + 1)


def test_idempotency_keys_on_the_async_path(client, owner, session):
    before = creates("async"), creates("thread")
    headers = {**owner.headers, "Idempotency-Key": "order-1"}
    first = post(client, headers, email="once@example.com")
    again = post(client, headers, email="once@example.com")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = post(client, headers, email="twice@example.com")
    assert other.status_code == 409 and "different request body" in other.json()["message"]
    bad = post(client, {**owner.headers, "Idempotency-Key": "order-2"}, email="nope")
    assert bad.status_code == 422
    # The key of a request that failed is not kept: the corrected body is created.
    fixed = post(client, {**owner.headers, "Idempotency-Key": "order-2"}, email="ok@example.com")
    assert fixed.status_code == 200
    assert (creates("async"), creates("thread")) == (before[0] + 2, before[1])
    leads = session.scalars(select(Lead.id).order_by(Lead.id)).all()
    assert leads == [first.json()["id"], fixed.json()["id"]]
    logged = session.scalars(
        select(RequestLog.status_code).where(RequestLog.token_id == owner.token_id)
    ).all()
    assert sorted(logged) == [200, 200, 200, 409, 422]


def _stored(session, lead_id: int) -> tuple[Lead, Job, RequestLog]:
    lead = session.get(Lead, lead_id)
    job = session.scalars(select(Job).where(Job.lead_id == lead_id)).one()
    log = session.scalars(
        select(RequestLog).where(RequestLog.lead_id == lead_id, RequestLog.method == "POST")
    ).one()
    return lead, job, log


def test_both_paths_store_the_same_lead_job_and_log_row(client, thread_client, owner, session):
    body = {
        "meta": {"b": "2", "a": "1"},
        "questionnaire": {"1": ["Pets?", "No"]},
        "appointment_availability": {"hours": ["2026-01-01T08:00:00.000Z"]},
        "property_bedrooms": 3,
        "utm_source": "portal",
        "postcode": "NG1 5FS",
    }
    fast = post(client, owner.headers, email="fast@example.com", phone="07700900111", **body)
    slow = post(
        thread_client,
        {**owner.headers, "Idempotency-Key": "same"},
        email="slow@example.com",
        phone="07700900222",
        **body,
    )
    assert fast.status_code == slow.status_code == 200
    a, b = fast.json(), slow.json()
    differ = {"id", "created_at", "email", "phone"}
    assert {k: v for k, v in a.items() if k not in differ} == {
        k: v for k, v in b.items() if k not in differ
    }
    assert list(a) == list(b)  # the documented key order
    assert client.get(f"{LEADS}/{a['id']}", headers=owner.headers).json() == a
    lead, job, log = _stored(session, a["id"])
    _, slow_job, slow_log = _stored(session, b["id"])
    assert lead.office_id is not None and lead.email_normalized == "fast@example.com"
    assert lead.created_by_token_id == owner.token_id and lead.phone_normalized
    assert (job.kind, job.state, job.account_id) == ("lead.event", "pending", owner.account_id)
    assert job.max_attempts == slow_job.max_attempts
    assert job.payload["type"] == "lead.created" and events.lead_of(job.payload) == a
    assert events.lead_of(slow_job.payload) == b
    assert (log.status_code, log.token_id, log.method, log.path) == (
        200,
        owner.token_id,
        "POST",
        LEADS,
    )
    assert log.body and "fast@example.com" in log.body and log.request_id
    assert fast.headers["x-request-id"] == log.request_id
    assert slow_log.lead_id == b["id"]


def test_a_person_is_grouped_across_the_two_paths(client, thread_client, owner):
    first = post(client, owner.headers, email="pat@example.com", phone="07700900001").json()
    by_phone = post(
        thread_client,
        owner.headers,
        email="other@example.com",
        phone="+44 7700 900001",
    ).json()
    by_email = post(client, owner.headers, email="PAT@example.com", phone="07700900999").json()
    assert first["is_parent"] and first["parent_id"] is None
    for lead in (by_phone, by_email):
        assert (lead["is_parent"], lead["parent_id"]) == (False, first["id"])
    # A lead of another account with the same email is a person of that account.
    other = make_agency("Other Lets", (("Leeds", "LS1 4DY", "LS1"),))
    theirs = post(client, other.headers, email="pat@example.com").json()
    assert theirs["is_parent"] and theirs["account_id"] == other.account_id


def test_errors_on_the_async_path_are_answered_and_logged(client, owner, session):
    assert client.post(LEADS, json=lead_body(), headers={"X-API-KEY": "ds_nope"}).status_code == 401
    bad = post(client, owner.headers, email="not-an-email")
    assert bad.status_code == 422 and "email" in bad.json()["errors"]
    office = post(client, owner.headers, office_id=999_999)
    assert office.status_code == 422 and "office_id" in office.json()["errors"]
    huge = post(client, owner.headers, office_id=2**40)
    assert huge.status_code == 422
    form = client.post(
        LEADS, content=b"<xml/>", headers={**owner.headers, "content-type": "text/xml"}
    )
    assert form.status_code == 415
    big = client.post(
        LEADS,
        content=b"{" + b" " * (get_settings().max_body_bytes + 10) + b"}",
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert big.status_code == 413
    explicit = post(client, owner.headers, office_id=owner.offices["Derby"])
    assert explicit.status_code == 200 and explicit.json()["office_name"] == "Derby"
    logged = session.scalars(
        select(RequestLog.status_code).where(RequestLog.token_id == owner.token_id)
    ).all()
    assert sorted(logged) == [200, 413, 415, 422, 422, 422]
    assert session.scalars(select(Lead.id)).all() == [explicit.json()["id"]]


def test_the_rate_limit_on_the_async_path_answers_429_with_retry_after(client, session):
    limited = make_agency("Limited", (("Derby", "DE1 1JX", "DE1"),), rate_limit=3)
    codes = [post(client, limited.headers, email=f"r{i}@example.com") for i in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert 1 <= int(codes[-1].headers["retry-after"]) <= 120
    assert "Rate limit of 3" in codes[-1].json()["message"]
    counted = session.scalars(
        select(RateCounter.count).where(RateCounter.token_id == limited.token_id)
    ).all()
    assert sum(counted) == 3


def test_a_routing_postcode_is_routed_as_by_the_thread_path(client, thread_client, owner):
    # NG1 is Nottingham's; DE22 is Derby's (DE); LS1 is covered by neither: the nearest.
    for postcode, office in (("NG1 5FS", "Nottingham"), ("DE22 3HH", "Derby")):
        for served_by in (client, thread_client):
            lead = post(served_by, owner.headers, type="vendor", postcode=postcode).json()
            assert lead["office_name"] == office, (postcode, served_by)
    fast = post(client, owner.headers, type="vendor", postcode="LS1 4DY").json()
    slow = post(thread_client, owner.headers, type="vendor", postcode="LS1 4DY").json()
    assert (fast["office_id"], fast["out_of_area_distance"]) == (
        slow["office_id"],
        slow["out_of_area_distance"],
    )


def test_a_postcode_new_to_the_process_is_placed_without_a_database_thread(
    client, owner, session, monkeypatch
):
    # Most leads carry a postcode no earlier lead had: once the account's table is read, an
    # uncovered postcode's unit is looked up on the request's own connection, not on a
    # database thread, and placed as the thread path places it.
    from doorstep import db
    from doorstep.leads import create_pg
    from doorstep.models import PostcodeUnit
    from doorstep.offices import routing

    session.add(PostcodeUnit(postcode="LS1 4DY", latitude=53.79648, longitude=-1.54785))
    session.commit()
    assert post(client, owner.headers, type="vendor", postcode="NG1 5FS").status_code == 200
    hops: list[Any] = []
    real = db.in_thread

    async def counted(fn: Any, *args: Any) -> Any:
        hops.append(fn)
        return await real(fn, *args)

    monkeypatch.setattr(create_pg.db, "in_thread", counted)
    placed = post(client, owner.headers, type="vendor", postcode="LS1 4DY").json()
    sector = post(client, owner.headers, type="vendor", postcode="LS1 4ZZ").json()  # no unit
    assert hops == []
    by_thread_path = routing.route(session, owner.account_id, "LS1 4DY", locate=True)
    assert by_thread_path.location is not None and by_thread_path.location.precision == "unit"
    assert (placed["office_id"], placed["out_of_area_distance"]) == (
        by_thread_path.office_id,
        by_thread_path.out_of_area_distance,
    )
    assert sector["out_of_area_distance"] != placed["out_of_area_distance"]


def test_a_bad_body_is_answered_after_the_key_and_the_rate_limit(client, owner, session):
    # The body is checked before a connection is taken, but its error still comes after
    # the key's 401, the token's 429 and an Idempotency-Key's 409, as on the thread path.
    bad_key = {"X-API-KEY": "ds_nope"}
    assert post(client, bad_key, email="not-an-email").status_code == 401
    not_json = {**bad_key, "content-type": "text/xml"}
    assert client.post(LEADS, content=b"<xml/>", headers=not_json).status_code == 401
    limited = make_agency("Limited", (("Derby", "DE1 1JX", "DE1"),), rate_limit=1)
    assert post(client, limited.headers).status_code == 200
    assert post(client, limited.headers, email="not-an-email").status_code == 429
    keyed = {**owner.headers, "Idempotency-Key": "order-1"}
    assert post(client, keyed, first_name="Marla").status_code == 200
    reused = post(client, keyed, first_name="Marla", email="not-an-email")
    assert reused.status_code == 409
    logged = session.scalars(
        select(RequestLog.status_code).where(RequestLog.token_id == limited.token_id)
    ).all()
    assert sorted(logged) == [200, 429]
