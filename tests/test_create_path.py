"""What the fast create-lead path must keep: the response is the stored lead, nearest-coverage
search agrees with a scan of every point, fields filled before the insert are stored, and the
bookkeeping statements still count, log and refuse as before."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from doorstep import db, statements
from doorstep.auth.principal import Actor
from doorstep.geo.distance import haversine_m
from doorstep.geo.geography import Location, centroids
from doorstep.leads import service
from doorstep.leads.schemas import LeadCreate
from doorstep.models import Lead, RateCounter
from doorstep.offices.routing import CoverageIndex
from doorstep.tokens import service as tokens
from tests.conftest import IS_POSTGRES, create_lead_api, lead_body


def test_the_create_response_is_the_lead_as_stored(client, owner):
    body = lead_body(
        meta={"b": "2", "a": "1"},
        questionnaire={"1": ["Pets?", "No"]},
        appointment_availability={"hours": ["2026-01-01T08:00:00.000Z"]},
        property_bedrooms=3,
        gdpr_checkbox=True,
        advert_postcode="le1 1aa",  # not covered: routed to the nearest, with a distance
    )
    created = client.post("/api/v103/leads", json=body, headers=owner.headers).json()
    again = client.get(f"/api/v103/leads/{created['id']}", headers=owner.headers).json()
    assert created == again
    assert created["out_of_area_distance"] is not None
    second = client.post("/api/v103/leads", json=body, headers=owner.headers).json()
    assert (second["is_parent"], second["parent_id"]) == (False, created["id"])
    assert second == client.get(f"/api/v103/leads/{second['id']}", headers=owner.headers).json()


def test_fields_filled_before_the_insert_are_stored(owner, session):
    def estimate(lead: Lead) -> None:
        lead.valuation_status = "Success"
        lead.minimum_sale_estimation, lead.maximum_sale_estimation = 200_000, 240_000

    data = LeadCreate.model_validate(lead_body(type="vendor", postcode="DE1 1JX"))
    actor = Actor(account_id=owner.account_id, token_id=owner.token_id)
    new = service.create_lead(session, actor, data, before_insert=estimate)
    stored = session.get(Lead, new.id)
    assert (stored.valuation_status, stored.maximum_sale_estimation) == ("Success", 240_000)
    shown = new.as_dict()
    assert (shown["minimum_sale_estimation"], shown["account_name"]) == (200_000, "Demo Brand")
    assert shown["office_name"] == "Derby"


@pytest.mark.skipif(not IS_POSTGRES, reason="prepared statements are PostgreSQL's")
def test_the_lead_insert_is_prepared_whatever_a_request_leaves_out(owner, session):
    # psycopg prepares a statement after five runs with the same parameter types; a NULL has
    # no type of its own, so without as_text each mix of optional fields was a statement of
    # its own, parsed and planned on every create.
    actor = Actor(account_id=owner.account_id, token_id=owner.token_id)
    mixes = [
        {"meta": {"a": "1"}},
        {"gdpr_checkbox": True},
        {"property_bedrooms": 3, "advert_postcode": "le1 1aa"},
        {"questionnaire": {"1": ["Pets?", "No"]}, "gdpr_checkbox": False},
        {},
        {"meta": {"b": "2"}, "property_bedrooms": 12},
        {"advert_postcode": "DE1 1JX", "office_id": owner.offices["Derby"]},
    ]
    for mix in mixes:
        service.create_lead(session, actor, LeadCreate.model_validate(lead_body(**mix)))
    prepared = session.execute(
        text(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO leads%'"
        )
    ).scalar_one()
    assert prepared == 1


def test_the_lead_insert_stays_within_psycopgs_cache_of_parsed_queries():
    # psycopg re-parses (no cache) any query with more than 50 parameters; the insert runs
    # on every create. A new LeadCreate field pushes it over: then send fewer columns.
    keys = [*LeadCreate.model_fields, "account_id", "out_of_area_distance", "status_id"]
    keys += ["stage_id", "email_normalized", "phone_normalized", "phone_callable"]
    keys += ["created_at", "updated_at", "created_by_token_id", "created_by_user_id"]
    compiled = service._INSERT.compile(dialect=postgresql.dialect(), column_keys=keys)
    assert len(compiled.binds) <= 50


# Offices covering areas, districts, sectors and units all over the country, some sharing
# entries (equal distances), to compare the index with a scan of every covered point.
_CODES = sorted(centroids().district)
entry = st.tuples(
    st.integers(1, 4),
    st.sampled_from(["area", "district", "sector", "unit"]),
    st.sampled_from(_CODES),
)


def _expand(kind, district):
    c = centroids()
    if kind == "area":
        return "".join(ch for ch in district if ch.isalpha())
    if kind == "district":
        return district
    sectors = sorted(c.sectors_in_district.get(district, [])) or [district + " 1"]
    return sectors[0] if kind == "sector" else sectors[0] + "AB"


@settings(max_examples=60, deadline=None)
@given(
    raw=st.lists(entry, min_size=1, max_size=12),
    lat=st.floats(50.0, 58.5),
    lon=st.floats(-5.5, 1.7),
    unit_point=st.booleans(),
)
def test_the_nearest_coverage_index_agrees_with_a_full_scan(raw, lat, lon, unit_point):
    c = centroids()
    entries = tuple(
        (
            office,
            kind,
            _expand(kind, district),
            f"Office {office}",
            *((lat + 0.01, lon) if kind == "unit" and unit_point else (None, None)),
        )
        for office, kind, district in raw
    )
    best = None
    for office, kind, code, name, la, lo in entries:
        if kind == "unit":
            pts = [(la, lo)] if la is not None else c.points_of("sector", code[:-2])
        else:
            pts = c.points_of(kind, code)
        for p in pts:
            d = haversine_m(lat, lon, *p)
            if best is None or (d, office, code) < best[:3]:
                best = (d, office, code, name)
    found = CoverageIndex(entries).nearest(Location(lat, lon, "sector"))
    if best is None:
        assert found is None
    else:
        office, code, name, dist = found
        assert (dist, office, code, name) == best


def test_one_statement_counts_the_request_and_finds_the_token(owner, session):
    now = 1_800_000_040.0  # 20 s before the end of its minute
    with statements.autocommit() as conn:
        first = tokens.admit(conn, owner.token, default_limit=2, now=now)
        tokens.admit(conn, owner.token, default_limit=2, now=now)
        third = tokens.admit(conn, owner.token, default_limit=2, now=now)
        unknown = tokens.admit(conn, owner.token + "x", default_limit=2, now=now)
    assert (first.token_id, first.account_id) == (owner.token_id, owner.account_id)
    assert first.account_name == "Demo Brand"
    # The third waits until the first two weigh no more than one: 20 s to the minute's turn,
    # then half of the next minute.
    assert (first.retry_after, third.retry_after) == (0, 50)
    assert unknown is None
    window = int(now // 60)
    counter = session.scalar(select(RateCounter.count).where(RateCounter.window == window))
    assert counter == 2  # a refused request is not counted


def test_the_limit_slides_over_the_turn_of_the_minute(owner):
    """Fixed windows let the limit through at :59 and again at :00: twice it in 2 s."""
    turn = 1_800_000_000.0 - 1_800_000_000.0 % 60 + 60  # a minute's turn
    with statements.autocommit() as conn:

        def admitted(at: float) -> bool:
            return tokens.admit(conn, owner.token, default_limit=3, now=at).retry_after == 0

        assert [admitted(turn - 1) for _ in range(3)] == [True, True, True]
        assert not admitted(turn + 1)  # 3 x 59/60 of the last minute still count
        refused = tokens.admit(conn, owner.token, default_limit=3, now=turn + 1)
        assert refused.retry_after == 19  # at :20, 3 x 40/60 + 1 <= 3
        assert admitted(turn + 21)
        assert admitted(turn + 41) and not admitted(turn + 41)


def test_an_unlimited_token_is_not_counted(owner, session):
    with statements.autocommit() as conn:
        admitted = tokens.admit(conn, owner.token, default_limit=0)
    assert (admitted.limit, admitted.retry_after) == (0, 0)
    assert session.scalars(select(RateCounter)).all() == []


def test_a_revoked_token_is_refused_on_its_very_next_request(client, owner):
    assert client.get("/api/v103/offices", headers=owner.headers).status_code == 200
    with db.transaction() as s:
        tokens.revoke_token(s, owner.account_id, owner.token_id)
    assert client.get("/api/v103/offices", headers=owner.headers).status_code == 401


def test_a_postcode_is_routed_once_per_routing_version(client, owner, monkeypatch):
    # A listing's leads all carry its advert postcode: the second one is routed from memory,
    # until the account's routing changes.
    from doorstep.offices import routing
    from doorstep.offices.service import update_office

    looked_up = []
    real = routing.locate_codes
    monkeypatch.setattr(routing, "locate_codes", lambda *a: looked_up.append(1) or real(*a))

    def office_for(postcode):
        return create_lead_api(client, owner, advert_postcode=postcode)

    first = office_for("LE1 5AA")  # outside every coverage: located, then the nearest
    second = office_for("le1 5aa")
    assert first["out_of_area_distance"] > 0
    for key in ("office_id", "office_name", "out_of_area_distance"):
        assert second[key] == first[key]
    assert len(looked_up) == 1
    with db.transaction() as s:
        update_office(
            s, owner.account_id, owner.offices["Derby"], name="Derby", postcode="DE1 1JX",
            coverage=["DE", "LE1"],
        )  # fmt: skip
    assert office_for("LE1 5AA")["office_name"] == "Derby"
