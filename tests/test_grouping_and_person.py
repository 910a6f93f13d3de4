"""Person grouping (is_parent / parent_id) and GET /api/v103/person/leads."""

from __future__ import annotations

import pytest

from tests.conftest import lead_body


def create(client, agency, **kw):
    r = client.post("/api/v103/leads", json=lead_body(**kw), headers=agency.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_second_lead_with_the_same_email_joins_the_group(client, owner):
    first = create(client, owner, email="Marla@Example.com", phone="01623000001")
    second = create(client, owner, email="marla@example.COM", phone="07700900123")
    assert (second["is_parent"], second["parent_id"]) == (False, first["id"])


def test_the_same_phone_in_another_format_joins_the_group(client, owner):
    first = create(client, owner, email="a@example.com", phone="07986 000000")
    second = create(client, owner, email="b@example.com", phone="+447986000000")
    assert second["parent_id"] == first["id"]


def test_a_child_of_a_child_points_at_the_groups_parent(client, owner):
    first = create(client, owner, email="a@example.com", phone="07986000001")
    create(client, owner, email="a@example.com", phone="07986000002")
    third = create(client, owner, email="c@example.com", phone="07986000002")
    assert third["parent_id"] == first["id"]


def test_matches_in_several_groups_take_the_earliest_leads_group(client, owner):
    older = create(client, owner, email="old@example.com", phone="07986000011")
    newer = create(client, owner, email="new@example.com", phone="07986000022")
    both = create(client, owner, email="new@example.com", phone="07986000011")
    assert newer["is_parent"] and older["is_parent"]
    assert both["parent_id"] == older["id"]


def test_groups_do_not_cross_accounts(client, owner, other):
    create(client, owner, email="same@example.com")
    theirs = create(client, other, email="same@example.com")
    assert (theirs["is_parent"], theirs["parent_id"]) == (True, None)


def test_a_phone_that_is_not_a_number_never_groups(client, owner):
    create(client, owner, email="a@example.com", phone="ask for Bob")
    second = create(client, owner, email="b@example.com", phone="ask for Bob")
    assert second["is_parent"]


def find(client, agency, **params):
    return client.get("/api/v103/person/leads", params=params, headers=agency.headers)


def test_person_leads_by_email_newest_first(client, owner):
    a = create(client, owner, email="p@example.com")
    b = create(client, owner, email="P@EXAMPLE.com")
    create(client, owner, email="someone@else.com", phone="07700900999")
    r = find(client, owner, email="p@example.com")
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [b["id"], a["id"]]


def test_person_leads_by_phone_in_any_uk_format(client, owner):
    a = create(client, owner, phone="07986 000000")
    assert [x["id"] for x in find(client, owner, phone="+447986000000").json()] == [a["id"]]
    assert [x["id"] for x in find(client, owner, phone="07986000000").json()] == [a["id"]]


def test_person_parameters_combine_with_and(client, owner):
    a = create(client, owner, first_name="Marla", last_name="Singer", email="m@example.com")
    create(client, owner, first_name="Tyler", last_name="Durden", email="m@example.com")
    r = find(client, owner, email="m@example.com", firstName="MARLA", lastName="singer")
    assert [x["id"] for x in r.json()] == [a["id"]]
    r = find(client, owner, email="m@example.com", phone="07000000000")
    assert r.json() == []


def test_person_leads_need_email_or_phone(client, owner):
    r = find(client, owner, firstName="Marla", lastName="Singer")
    assert r.status_code == 422
    assert set(r.json()["errors"]) == {"email", "phone"}


def test_no_match_is_an_empty_list(client, owner):
    r = find(client, owner, email="nobody@example.com")
    assert (r.status_code, r.json()) == (200, [])


def test_person_leads_are_full_lead_objects(client, owner):
    from doorstep.leads.serialize import LEAD_KEYS

    create(client, owner)
    assert list(find(client, owner, email="cloud9@cloud.com").json()[0]) == LEAD_KEYS


@pytest.mark.parametrize("email", ["cloud9@cloud.com", " CLOUD9@cloud.com "])
def test_person_email_is_trimmed_and_case_insensitive(client, owner, email):
    create(client, owner)
    assert len(find(client, owner, email=email).json()) == 1
