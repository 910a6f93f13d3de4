"""GET /api/v103/addresses: "choose your address" from imported Price Paid Data, and the
valuation that then finds the chosen home's earlier sale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from doorstep.valuation.lookup import display
from tests.conftest import lead_body
from tests.valuation_data import bulk_row, load, market

URL = "/api/v103/addresses"


def street(today):
    def sale(n, years_ago, paon, saon="", ptype="T", town="NOTTINGHAM", category="A"):
        row = bulk_row(
            900 + n,
            180_000 + n * 1000,
            today - timedelta(days=365 * years_ago + n),
            "NG7 1AA",
            ptype,
            paon=paon,
            saon=saon,
            street="PEEL STREET",
            category=category,
        )
        row[11] = town
        return row

    return [
        sale(1, 9, "10"),
        sale(2, 8, "2"),
        sale(3, 7, "ROSE COTTAGE", ptype="D"),
        sale(4, 6, "2A"),
        sale(5, 12, "12", town="NOTTS"),  # an older spelling of the same home
        sale(6, 2, "12"),
        sale(7, 5, "14", "FLAT 10", "F", category="B"),  # a buy-to-let: still a home
        sale(8, 5, "14", "2", "F"),  # flat 2, as the Land Registry sometimes writes it
        sale(9, 1, "14", "FLAT 2", "F"),
        sale(10, 3, "14", "FLAT 1", "F"),
        sale(11, 3, "16", ptype="O"),  # not a home (a garage, land)
    ]


@pytest.fixture
def sales(engine, tmp_path):
    today = datetime.now(UTC).date()
    return load(tmp_path, market(today) + street(today))


def test_it_lists_each_home_once_flats_under_their_building_in_street_order(client, owner, sales):
    r = client.get(URL, params={"postcode": "ng71aa"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["postcode"] == "NG7 1AA"
    assert [b["label"] for b in got["addresses"]] == [
        "2 Peel Street",
        "2A Peel Street",
        "10 Peel Street",
        "12 Peel Street",
        "14 Peel Street",
        "Rose Cottage, Peel Street",
    ]
    by_label = {b["label"]: b for b in got["addresses"]}
    # The newest form of the address (the town as it is written now).
    assert by_label["12 Peel Street"]["address"] == "12 Peel Street, Nottingham"
    assert by_label["Rose Cottage, Peel Street"]["property_type"] == "detached"
    block = by_label["14 Peel Street"]
    assert block["address"] is None  # only its flats were sold
    assert [f["label"] for f in block["flats"]] == ["Flat 1", "Flat 2", "Flat 10"]
    assert block["flats"][0] == {
        "label": "Flat 1",
        "address": "Flat 1, 14 Peel Street, Nottingham",
        "property_type": "flat-maisonette",
    }
    assert got["homes"] == 8


def test_a_postcode_with_no_sales_is_an_empty_list_and_a_bad_one_is_422(client, owner, sales):
    r = client.get(URL, params={"postcode": "DE1 1JX"}, headers=owner.headers)
    assert r.json() == {"postcode": "DE1 1JX", "homes": 0, "addresses": []}
    for bad in ({"postcode": "N/A"}, {"postcode": ""}, {}):
        r = client.get(URL, params=bad, headers=owner.headers)
        assert r.status_code == 422 and list(r.json()["errors"]) == ["postcode"]
    assert client.get(URL, params={"postcode": "NG7 1AA"}).status_code == 401


def test_the_chosen_address_finds_the_homes_earlier_sale(client, owner, sales):
    listed = client.get(URL, params={"postcode": "NG1 5FS"}, headers=owner.headers).json()
    chosen = next(b for b in listed["addresses"] if b["label"] == "12 Example Street")
    r = client.post(
        "/api/v103/leads/valuation",
        json=lead_body(
            type="vendor",
            postcode="NG1 5FS",
            address=chosen["address"],
            property_type=chosen["property_type"],
        ),
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    first = r.json()["comparable_props"][0]
    assert first["same_property"] is True
    assert first["address"].startswith("12, EXAMPLE STREET")


def test_a_chosen_flat_finds_its_own_sale(client, owner, sales):
    listed = client.get(URL, params={"postcode": "NG7 1AA"}, headers=owner.headers).json()
    flat = next(b for b in listed["addresses"] if b["label"] == "14 Peel Street")["flats"][1]
    r = client.post(
        "/api/v103/leads/valuation",
        json=lead_body(
            type="vendor",
            postcode="NG7 1AA",
            address=flat["address"],
            property_type=flat["property_type"],
        ),
        headers=owner.headers,
    )
    repeat = [c for c in r.json()["comparable_props"] if c.get("same_property")]
    assert len(repeat) == 1 and repeat[0]["address"].startswith("FLAT 2, 14, PEEL STREET")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("FLAT 1A", "Flat 1A"),
        ("ST. MARY'S COURT", "St. Mary's Court"),
        ("STOKE-ON-TRENT", "Stoke-On-Trent"),
        ("", ""),
    ],
)
def test_land_registry_capitals_are_shown_as_people_write(raw, shown):
    assert display(raw) == shown
