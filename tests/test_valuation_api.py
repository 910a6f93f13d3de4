"""POST /api/v103/leads/valuation, through HTTP, on imported sales around Nottingham."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from doorstep.config import get_settings
from doorstep.leads.serialize import LEAD_KEYS
from doorstep.valuation import service
from tests.conftest import lead_body
from tests.factories import make_user, sign_in
from tests.valuation_data import load, market

URL = "/api/v103/leads/valuation"
ESTIMATES = (
    "minimum_sale_estimation",
    "average_sale_estimation",
    "maximum_sale_estimation",
    "minimum_rent_estimation",
    "average_rent_estimation",
    "maximum_rent_estimation",
)


def valuation_body(**overrides: Any) -> dict[str, Any]:
    base = {"type": "vendor", "postcode": "ng1 5fs", "advert_postcode": ...}
    return lead_body(**{**base, **overrides})


@pytest.fixture
def sales(engine, tmp_path):
    return load(tmp_path, market(datetime.now(UTC).date()))


def post(client, agency, body):
    r = client.post(URL, json=body, headers=agency.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_it_values_a_vendor_lead_from_nearby_sales(client, owner, sales):
    lead = post(client, owner, valuation_body(property_type="terraced"))
    assert list(lead) == LEAD_KEYS
    assert lead["valuation_status"] == "Success"
    assert lead["source"] == "ivt"
    assert lead["postcode"] == "NG1 5FS"
    assert lead["office_name"] == "Nottingham"
    low, mid, high = (lead[k] for k in ESTIMATES[:3])
    assert low <= mid <= high
    # Terraced houses there sell for about £200,000 today.
    assert 180_000 <= mid <= 220_000
    rents = [lead[k] for k in ESTIMATES[3:]]
    assert rents[0] <= rents[1] <= rents[2]
    comps = lead["comparable_props"]
    assert comps and all(c["evidence"] == "sale" for c in comps)
    for c in comps:
        assert {"address", "postcode", "price", "date", "property_type", "distance"} <= set(c)
        assert c["property_type"] == "terraced"
        assert isinstance(c["distance"], int)
    # Every later read returns the same estimate.
    again = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).json()
    assert again == lead


def test_it_brings_old_prices_to_today(client, owner, sales):
    lead = post(client, owner, valuation_body(property_type="semi-detached"))
    comps = lead["comparable_props"]
    old = [
        c for c in comps if c["date"] < (datetime.now(UTC).date() - timedelta(days=365)).isoformat()
    ]
    assert old, "the fixture has sales older than a year"
    # The market rose about 1% a month: a year-old sale is worth about 12% more today.
    assert all(c["price_today"] > c["price"] for c in old)
    assert 270_000 <= lead["average_sale_estimation"] <= 330_000


def test_the_property_type_chooses_the_comparables(client, owner, sales):
    flat = post(client, owner, valuation_body(property_type="flat-maisonette"))
    semi = post(client, owner, valuation_body(property_type="semi-detached"))
    assert flat["average_sale_estimation"] < semi["average_sale_estimation"]
    assert {c["property_type"] for c in flat["comparable_props"]} == {"flat-maisonette"}


def test_an_earlier_sale_of_the_same_address_is_used(client, owner, sales):
    lead = post(
        client,
        owner,
        valuation_body(property_type="terraced", address="12 Example St, Nottingham"),
    )
    first = lead["comparable_props"][0]
    assert first["same_property"] is True
    assert first["address"].startswith("12, EXAMPLE STREET")
    # Listed once, though it is also among the comparables (it was listed twice).
    sales = [(c["address"], c["date"], c["price"]) for c in lead["comparable_props"]]
    assert len(sales) == len(set(sales))
    # A flat at the same number is another home (a Tyneside flat is not the terraced house).
    flat = post(
        client,
        owner,
        valuation_body(property_type="flat-maisonette", address="12 Example St, Nottingham"),
    )
    assert not any(c.get("same_property") for c in flat["comparable_props"])


def test_the_range_holds_about_80_percent_of_the_local_prices(client, owner, sales):
    lead = post(client, owner, valuation_body(property_type="terraced"))
    today = [c["price_today"] for c in lead["comparable_props"]]
    inside = sum(
        lead["minimum_sale_estimation"] <= p <= lead["maximum_sale_estimation"] for p in today
    )
    assert inside / len(today) >= 0.6
    assert lead["minimum_sale_estimation"] < statistics.median(today)
    assert lead["maximum_sale_estimation"] > statistics.median(today)


def test_an_unknown_postcode_keeps_the_lead_without_estimates(client, owner, sales):
    lead = post(client, owner, valuation_body(postcode="ZZ99 9ZZ"))
    assert lead["valuation_status"] == "Postcode Not Found"
    assert all(lead[k] is None for k in ESTIMATES)
    assert lead["comparable_props"] is None
    stored = client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers)
    assert stored.status_code == 200
    assert stored.json()["valuation_status"] == "Postcode Not Found"


def test_thin_evidence_widens_the_area_and_says_so(client, owner, sales):
    # Derby is about 20 km from the Nottingham sales.
    lead = post(client, owner, valuation_body(postcode="DE1 1JX", property_type="terraced"))
    assert lead["valuation_status"] == "Not Enough Comparable Properties"
    assert lead["average_sale_estimation"] is not None
    assert min(c["distance"] for c in lead["comparable_props"]) > 15_000
    assert lead["office_name"] == "Derby"


def test_no_evidence_at_all_is_not_enough_and_null(client, owner):
    lead = post(client, owner, valuation_body())
    assert lead["valuation_status"] == "Not Enough Comparable Properties"
    assert all(lead[k] is None for k in ESTIMATES)


def test_only_vendor_and_landlord_leads_with_a_postcode(client, owner):
    r = client.post(URL, json=valuation_body(type="sale"), headers=owner.headers)
    assert r.status_code == 422
    assert "type" in r.json()["errors"]
    r = client.post(URL, json=valuation_body(type="LANDLORD", postcode=...), headers=owner.headers)
    assert r.status_code == 422
    assert "postcode" in r.json()["errors"]
    r = client.post(URL, json=valuation_body(), headers={"X-API-KEY": "nope"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("body", "failing"),
    [
        ({"postcode": ..., "email": "bad"}, {"postcode", "email"}),
        ({"type": "sale", "email": "bad"}, {"type", "email"}),
        ({"type": "sale", "postcode": ...}, {"type", "postcode"}),
        ({"type": "buyer", "postcode": None, "first_name": ""}, {"type", "postcode", "first_name"}),
    ],
)
def test_one_422_lists_every_failing_field(client, owner, body, failing):
    r = client.post(URL, json=valuation_body(**body), headers=owner.headers)
    assert r.status_code == 422
    assert set(r.json()["errors"]) == failing


def test_a_given_source_wins_over_ivt(client, owner, sales):
    lead = post(client, owner, valuation_body(source="Zoopla_Valuation"))
    assert lead["source"] == "zoopla_valuation"


def test_a_failing_valuation_never_loses_the_lead(client, owner, sales, monkeypatch):
    def broken(session, **kwargs):
        # A database error inside the valuation: PostgreSQL aborts the transaction unless
        # the valuation ran in its own savepoint.
        session.execute(text("SELECT * FROM no_such_table"))
        raise AssertionError("unreachable")

    monkeypatch.setattr(service, "valuate", broken)
    lead = post(client, owner, valuation_body())
    assert lead["valuation_status"] == "Not Enough Comparable Properties"
    assert all(lead[k] is None for k in ESTIMATES)
    assert client.get(f"/api/v103/leads/{lead['id']}", headers=owner.headers).status_code == 200


def test_a_retry_with_the_same_key_replays_the_valuation(client, owner, sales):
    headers = {**owner.headers, "Idempotency-Key": "val-1"}
    first = client.post(URL, json=valuation_body(), headers=headers)
    second = client.post(URL, json=valuation_body(), headers=headers)
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"


def test_a_landlord_without_lettings_gets_the_yield_rent(client, owner, sales):
    lead = post(client, owner, valuation_body(type="landlord", property_type="terraced"))
    # Nottingham is in the East Midlands: 5.6% gross a year by default.
    assert lead["average_rent_estimation"] == pytest.approx(
        lead["average_sale_estimation"] * 0.056 / 12, abs=5
    )
    assert lead["valuation_status"] == "Not Enough Comparable Properties"
    assert not [c for c in lead["comparable_props"] if c["evidence"] == "rent"]


def test_the_operator_sets_the_yield(client, owner, sales, monkeypatch):
    monkeypatch.setenv("DOORSTEP_RENTAL_YIELDS", '{"NG": 7.2}')
    get_settings.cache_clear()
    try:
        lead = post(client, owner, valuation_body(type="landlord"))
    finally:
        get_settings.cache_clear()
    assert lead["average_rent_estimation"] == pytest.approx(
        lead["average_sale_estimation"] * 0.072 / 12, abs=5
    )


def _lettings(tmp_path, name="lets.csv"):
    today = datetime.now(UTC).date()
    lines = ["postcode,bedrooms,property_type,monthly_rent,date,address"]
    for i, rent in enumerate((950, 1000, 1050, 1000, 990, 1400)):
        beds = 2 if rent < 1400 else 4
        when = (today - timedelta(days=20 * (i + 1))).isoformat()
        lines.append(f"NG1 5FS,{beds},terraced,{rent},{when},{i + 1} Example Street")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _import_rents(path, account_id):
    from doorstep.db import get_engine
    from doorstep.imports import progress
    from doorstep.valuation.rents import import_rents

    with progress("rents", 1, enabled=False) as bar:
        return import_rents(get_engine(), path, account_id, bar)


def test_a_landlord_gets_the_rent_of_the_agencys_own_lettings(client, owner, sales, tmp_path):
    _import_rents(_lettings(tmp_path), owner.account_id)
    lead = post(
        client,
        owner,
        valuation_body(type="landlord", property_type="terraced", property_bedrooms=2),
    )
    assert lead["valuation_status"] == "Success"
    assert 950 <= lead["average_rent_estimation"] <= 1050
    rents = [c for c in lead["comparable_props"] if c["evidence"] == "rent"]
    assert len(rents) == 5 and all(c["bedrooms"] == 2 for c in rents)
    # The lead page says the rent came from those lettings.
    sign_in(client, make_user(owner.account_id))
    page = client.get(f"/leads/{lead['id']}").text
    assert "From 5 lettings nearby." in page and "No lettings nearby" not in page


def test_another_agencys_lettings_are_not_used(client, owner, other, sales, tmp_path):
    _import_rents(_lettings(tmp_path), other.account_id)
    lead = post(client, owner, valuation_body(type="landlord", property_bedrooms=2))
    assert not [c for c in lead["comparable_props"] if c["evidence"] == "rent"]
    assert lead["valuation_status"] == "Not Enough Comparable Properties"


def test_the_docs_carry_the_land_registry_attribution(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v103/leads/valuation"]["post"]
    assert "Contains HM Land Registry data © Crown copyright" in op["description"]
    about = client.get("/about").text
    assert "Contains HM Land Registry data © Crown copyright and database right 2025" in about
