"""GET /api/v103/offices and GET /api/v103/statuses."""

from __future__ import annotations

from doorstep import db
from doorstep.statuses.service import create_status


def test_offices_lists_the_accounts_offices(client, owner, other):
    r = client.get("/api/v103/offices", headers=owner.headers)
    assert r.status_code == 200
    data = r.json()["data"]
    assert {o["name"]: o["id"] for o in data} == owner.offices
    assert all(isinstance(o["id"], int) for o in data)


def test_statuses_are_predefined_first_with_stages(client, owner, other):
    with db.transaction() as s:
        create_status(s, owner.account_id, "Another one", 50)
        create_status(s, other.account_id, "Not mine", 100)
    r = client.get("/api/v103/statuses", headers=owner.headers)
    assert r.status_code == 200
    rows = r.json()
    assert [(x["name"], x["stageId"], x["isPredefined"]) for x in rows] == [
        ("New", 50, True),
        ("Contacted", 100, True),
        ("Appointment booked", 100, True),
        ("Instructed", 150, True),
        ("Not interested", 150, True),
        ("Another one", 50, False),
    ]
    assert list(rows[0]) == ["id", "name", "stageId", "isPredefined"]


def test_a_status_name_is_unique_within_the_account(engine, owner):
    import pytest

    from doorstep.errors import ValidationFailed

    with pytest.raises(ValidationFailed), db.transaction() as s:
        create_status(s, owner.account_id, "contacted", 100)
    with pytest.raises(ValidationFailed), db.transaction() as s:
        create_status(s, owner.account_id, "Odd", 75)


def test_a_status_in_use_cannot_be_deleted(client, owner):
    import pytest

    from doorstep.errors import DoorstepError
    from doorstep.statuses.service import delete_status
    from tests.conftest import lead_body

    with db.transaction() as s:
        sid = create_status(s, owner.account_id, "Viewing", 100).id
    lead = client.post("/api/v103/leads", json=lead_body(), headers=owner.headers).json()
    client.patch(f"/api/v103/leads/{lead['id']}", json={"status": sid}, headers=owner.headers)
    with pytest.raises(DoorstepError) as e, db.transaction() as s:
        delete_status(s, owner.account_id, sid)
    assert e.value.status_code == 409
    client.patch(f"/api/v103/leads/{lead['id']}", json={"status": "New"}, headers=owner.headers)
    with db.transaction() as s:
        delete_status(s, owner.account_id, sid)
