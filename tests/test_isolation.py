"""Every endpoint, called with another agency's token, shows and changes nothing of ours."""

from __future__ import annotations

from doorstep import db
from doorstep.statuses.service import create_status
from tests.conftest import lead_body


def test_it_hides_other_accounts_data_on_every_endpoint(client, owner, other):
    with db.transaction() as s:
        my_status = create_status(s, owner.account_id, "Owner only", 100).id
    mine = client.post(
        "/api/v103/leads",
        json=lead_body(email="secret@owner.com", phone="07700900555", meta={"k": "v"}),
        headers=owner.headers,
    ).json()
    lid = mine["id"]
    theirs = other.headers

    # reads: 404 or nothing of ours
    assert client.get(f"/api/v103/leads/{lid}", headers=theirs).status_code == 404
    for params in ({"email": "secret@owner.com"}, {"phone": "07700900555"}):
        r = client.get("/api/v103/person/leads", params=params, headers=theirs)
        assert (r.status_code, r.json()) == (200, [])
    offices = client.get("/api/v103/offices", headers=theirs).json()["data"]
    assert {o["id"] for o in offices} == set(other.offices.values())
    statuses = client.get("/api/v103/statuses", headers=theirs).json()
    assert my_status not in {s["id"] for s in statuses}

    # writes: 404 for our lead, 422 for our office or status
    r = client.patch(f"/api/v103/leads/{lid}", json={"first_name": "Hacked"}, headers=theirs)
    assert r.status_code == 404
    r = client.post(
        "/api/v103/leads", json=lead_body(office_id=owner.offices["Derby"]), headers=theirs
    )
    assert r.status_code == 422 and "office_id" in r.json()["errors"]
    their_lead = client.post("/api/v103/leads", json=lead_body(), headers=theirs).json()
    assert their_lead["is_parent"] and their_lead["account_id"] == other.account_id
    assert their_lead["office_id"] in other.offices.values()  # never routed to our offices
    for body in ({"office_id": owner.offices["Derby"]}, {"status": my_status}):
        r = client.patch(f"/api/v103/leads/{their_lead['id']}", json=body, headers=theirs)
        assert r.status_code == 422

    # idempotency keys do not leak responses across accounts
    key = {"Idempotency-Key": "same-key"}
    a = client.post("/api/v103/leads", json=lead_body(), headers={**owner.headers, **key}).json()
    b = client.post("/api/v103/leads", json=lead_body(), headers={**theirs, **key}).json()
    assert b["account_id"] == other.account_id and b["id"] != a["id"]

    # and ours is untouched
    again = client.get(f"/api/v103/leads/{lid}", headers=owner.headers).json()
    assert again == mine


def test_request_logs_belong_to_the_token_that_made_them(client, owner, other, session):
    from sqlalchemy import select

    from doorstep.models import RequestLog

    client.get("/api/v103/offices", headers=owner.headers)
    client.get("/api/v103/offices", headers=other.headers)
    rows = session.execute(select(RequestLog.token_id, RequestLog.account_id)).all()
    assert sorted(rows) == sorted(
        [(owner.token_id, owner.account_id), (other.token_id, other.account_id)]
    )
