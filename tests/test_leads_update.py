"""PATCH /api/v103/leads/{id} and GET /api/v103/leads/{id}."""

from __future__ import annotations

import pytest

from doorstep import db
from doorstep.statuses.service import create_status
from tests.conftest import lead_body


@pytest.fixture
def lead(client, owner):
    body = lead_body(meta={"a": "1", "b": "2"}, questionnaire=[["Pets?", "Yes"]])
    return client.post("/api/v103/leads", json=body, headers=owner.headers).json()


def patch(client, agency, lead_id, body):
    return client.patch(f"/api/v103/leads/{lead_id}", json=body, headers=agency.headers)


def test_get_returns_the_same_object_as_create(client, owner, lead):
    assert client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json() == lead


# 2147483648 is past the INTEGER id column: PostgreSQL refused the query with a 500.
@pytest.mark.parametrize(
    "bad", ["0", "-1", "abc", "1.5", "99999999", "1e3", "2147483648", "9" * 19, "9" * 30]
)
def test_ids_that_are_not_known_positive_integers_are_404(client, owner, bad):
    assert client.get(f"/api/v103/leads/{bad}", headers=owner.headers).status_code == 404
    assert patch(client, owner, bad, {"first_name": "X"}).status_code == 404


def test_it_updates_the_documented_fields(client, owner, lead):
    from doorstep.leads.examples import UPDATE_REQUEST

    body = {**UPDATE_REQUEST, "office_id": owner.offices["Derby"]}
    r = patch(client, owner, lead["id"], body)
    assert r.status_code == 200, r.text
    out = r.json()
    for key in ("first_name", "last_name", "address", "advert_address", "gdpr_checkbox"):
        assert out[key] == body[key]
    assert out["postcode"] == "EX1 2MP" and out["advert_postcode"] == "EX3 4NP"
    assert (out["status"], out["stage"]) == ("Contacted", "In progress")
    assert out["office_name"] == "Derby"
    assert out["next_action_date"] == "2025-07-12T10:00:00.000Z"
    assert out["full_name"] == "Joe Bloggs"
    for key in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "utm_gclid"):
        assert out[key] == body[key]
    assert client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json() == out


def test_it_returns_the_whole_lead_object(client, owner, lead):
    from doorstep.leads.serialize import LEAD_KEYS

    assert list(patch(client, owner, lead["id"], {"first_name": "Jo"}).json()) == LEAD_KEYS


def test_questionnaire_pairs_are_appended(client, owner, lead):
    out = patch(client, owner, lead["id"], {"questionnaire": [["Garden?", "No"]]}).json()
    assert out["questionnaire"] == [["Pets?", "Yes"], ["Garden?", "No"]]


def test_the_appended_questionnaire_must_still_fit(client, owner, lead):
    r = patch(client, owner, lead["id"], {"questionnaire": [["q", "a" * 2030]]})
    assert r.status_code == 422 and "questionnaire" in r.json()["errors"]


def test_meta_is_merged_and_null_removes_a_key(client, owner, lead):
    out = patch(client, owner, lead["id"], {"meta": {"b": None, "c": "3"}}).json()
    assert out["meta"] == {"a": "1", "c": "3"}


def test_the_merged_meta_must_fit_1024_bytes(client, owner, lead):
    r = patch(client, owner, lead["id"], {"meta": {"z": "v" * 1010}})
    assert r.status_code == 422 and "meta" in r.json()["errors"]


@pytest.mark.parametrize(
    ("value", "status", "stage"),
    [
        ("contacted", "Contacted", "In progress"),
        ("APPOINTMENT BOOKED", "Appointment booked", "In progress"),
        ("Instructed", "Instructed", "Closed"),
        (5, "Not interested", "Closed"),
        ("1", "New", "Unread"),
    ],
)
def test_status_by_name_or_id_moves_the_stage(client, owner, lead, value, status, stage):
    out = patch(client, owner, lead["id"], {"status": value}).json()
    assert (out["status"], out["stage"]) == (status, stage)


def test_an_accounts_own_status_can_be_set(client, owner, other, lead):
    with db.transaction() as s:
        mine = create_status(s, owner.account_id, "Viewing booked", 100).id
        theirs = create_status(s, other.account_id, "Their status", 150).id
    out = patch(client, owner, lead["id"], {"status": "viewing booked"}).json()
    assert (out["status"], out["stage"]) == ("Viewing booked", "In progress")
    r = patch(client, owner, lead["id"], {"status": theirs})
    assert r.status_code == 422 and "status" in r.json()["errors"]
    assert patch(client, owner, lead["id"], {"status": mine}).status_code == 200


def test_an_unknown_status_is_422(client, owner, lead):
    r = patch(client, owner, lead["id"], {"status": "Sold to aliens"})
    assert r.status_code == 422 and "status" in r.json()["errors"]


def test_an_office_of_another_account_is_422(client, owner, other, lead):
    r = patch(client, owner, lead["id"], {"office_id": other.offices["Oxford"]})
    assert r.status_code == 422 and "office_id" in r.json()["errors"]


@pytest.mark.parametrize("big", [2**31, 2**63])
def test_ids_past_the_id_column_are_unknown_not_a_500(client, owner, lead, big):
    for body, field in (({"office_id": big}, "office_id"), ({"status": big}, "status")):
        r = patch(client, owner, lead["id"], body)
        assert r.status_code == 422, r.text
        assert field in r.json()["errors"]


@pytest.mark.parametrize(
    "field",
    [
        "type",
        "email",
        "phone",
        "source",
        "message",
        "title",
        "average_sale_estimation",
        "valuation_status",
        "comparable_props",
        "office_name",
        "eta",
        "referred_by_office_id",
    ],
)
def test_fields_that_cannot_change_are_named(client, owner, lead, field):
    r = patch(client, owner, lead["id"], {field: "x", "first_name": ""})
    assert r.status_code == 422
    assert set(r.json()["errors"]) == {field, "first_name"}


def test_unknown_fields_are_ignored(client, owner, lead):
    assert patch(client, owner, lead["id"], {"shoe_size": 9}).status_code == 200


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_names_stay_1_to_50(client, owner, lead, field):
    assert patch(client, owner, lead["id"], {field: "n" * 50}).status_code == 200
    for bad in ("n" * 51, "", None):
        r = patch(client, owner, lead["id"], {field: bad})
        assert r.status_code == 422 and field in r.json()["errors"], bad


@pytest.mark.parametrize("field", ["address", "postcode", "advert_address", "advert_postcode"])
def test_addresses_are_at_most_255(client, owner, lead, field):
    assert patch(client, owner, lead["id"], {field: "a" * 255}).status_code == 200
    r = patch(client, owner, lead["id"], {field: "a" * 256})
    assert r.status_code == 422 and field in r.json()["errors"]


def test_next_action_date_is_converted_to_utc_and_can_be_cleared(client, owner, lead):
    out = patch(client, owner, lead["id"], {"next_action_date": "2025-07-12T11:30:00+01:00"}).json()
    assert out["next_action_date"] == "2025-07-12T10:30:00.000Z"
    assert (
        patch(client, owner, lead["id"], {"next_action_date": None}).json()["next_action_date"]
        is None
    )
    r = patch(client, owner, lead["id"], {"next_action_date": "next tuesday"})
    assert r.status_code == 422 and "next_action_date" in r.json()["errors"]


def test_updates_are_recorded_in_the_timeline(client, owner, lead, session):
    from sqlalchemy import select

    from doorstep.models import LeadEvent

    patch(client, owner, lead["id"], {"status": "Contacted", "first_name": "Jo"})
    kinds = session.scalars(
        select(LeadEvent.kind).where(LeadEvent.lead_id == lead["id"]).order_by(LeadEvent.id)
    ).all()
    assert kinds == ["status_changed", "updated"]
    tokens = session.scalars(select(LeadEvent.actor_token_id)).all()
    assert set(tokens) == {owner.token_id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": True}, "status"),
        ({"office_id": True}, "office_id"),
        ({"gdpr_checkbox": "yes"}, "gdpr_checkbox"),
    ],
)
def test_true_is_not_status_or_office_1(client, owner, lead, body, field):
    r = patch(client, owner, lead["id"], body)
    assert r.status_code == 422 and set(r.json()["errors"]) == {field}
