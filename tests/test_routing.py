"""Routing: office_id, exact coverage (most specific wins, tie to the nearest office),
nearest coverage with out_of_area_distance, then the default office."""

from __future__ import annotations

import csv
import gzip
import json
import math
from importlib import resources

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from doorstep import db
from doorstep.cli import app as cli
from doorstep.models import Account
from doorstep.offices.service import create_office, set_default_office, update_office
from tests.conftest import IS_POSTGRES, create_lead_api, make_agency

create = create_lead_api


def add_office(agency, name, postcode, coverage):
    with db.transaction() as s:
        agency.offices[name] = create_office(s, agency.account_id, name, postcode, [coverage]).id


def _centroids(kind):
    name = "sector_centroids.csv" if kind == "sector" else "district_centroids.csv"
    with (resources.files("doorstep.geo") / "data" / name).open() as f:
        key = "sector" if kind == "sector" else "outcode"
        return {
            r[key]: (float(r["latitude"]), float(r["longitude"]))
            for r in csv.DictReader(f)
            if r["latitude"]
        }


def _metres(a, b):
    # an independent spherical-law-of-cosines distance, close to haversine at these scales
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    c = math.sin(la1) * math.sin(la2) + math.cos(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    return 6371008.8 * math.acos(min(1.0, c))


def test_it_routes_to_the_covering_office(client, owner):
    lead = create(client, owner, advert_postcode="NG1 5FS")
    assert (lead["office_name"], lead["out_of_area_distance"]) == ("Nottingham", None)
    lead = create(client, owner, advert_postcode="de22 3ab")
    assert (lead["office_name"], lead["out_of_area_distance"]) == ("Derby", None)


def test_the_most_specific_entry_wins(client, owner):
    add_office(owner, "Sector office", "NG1 1AA", "NG1 5")
    add_office(owner, "Unit office", "NG1 1AA", "NG1 5FS")
    assert create(client, owner, advert_postcode="NG1 5FS")["office_name"] == "Unit office"
    assert create(client, owner, advert_postcode="NG1 5AA")["office_name"] == "Sector office"
    assert create(client, owner, advert_postcode="NG1 1AA")["office_name"] == "Nottingham"


def test_a_tie_goes_to_the_office_nearest_the_postcode(client, owner):
    add_office(owner, "Beeston", "NG9 1AA", "NG7")
    add_office(owner, "Arnold", "NG5 6AA", "NG7")
    # NG7 2 (Lenton) is nearer Beeston (NG9) than Arnold (NG5)
    assert create(client, owner, advert_postcode="NG7 2RD")["office_name"] == "Beeston"


def test_uncovered_postcodes_go_to_the_nearest_coverage_with_its_distance(client, owner):
    lead = create(client, owner, advert_postcode="NG2 1AA")  # NG2 4 is covered, NG2 1 is not
    assert lead["office_name"] == "Nottingham"
    sectors = _centroids("sector")
    here = sectors["NG2 1"]
    covered = [p for code, p in sectors.items() if code.startswith("NG1 ") or code == "NG2 4"]
    expected = min(_metres(here, p) for p in covered)
    assert lead["out_of_area_distance"] == pytest.approx(expected, abs=1.0)
    assert lead["out_of_area_distance"] == round(lead["out_of_area_distance"], 2)


def test_a_far_postcode_goes_to_the_office_with_the_nearest_covered_point(client, owner):
    sectors = _centroids("sector")
    here = sectors["LE1 1"]
    notts = [p for c, p in sectors.items() if c.startswith("NG1 ") or c == "NG2 4"]
    derby = [p for c, p in sectors.items() if c[:2] == "DE" and c[2].isdigit()]
    d_notts, d_derby = min(_metres(here, p) for p in notts), min(_metres(here, p) for p in derby)
    lead = create(client, owner, advert_postcode="LE1 1AA")
    assert lead["office_name"] == ("Nottingham" if d_notts < d_derby else "Derby")
    assert lead["out_of_area_distance"] == pytest.approx(min(d_notts, d_derby), abs=1.0)


def test_units_placed_at_one_sector_centroid_share_the_nearest_coverage_search(
    client, owner, monkeypatch
):
    """Units whose coordinates are not imported are placed at their sector's centroid: the
    nearest covered point is searched once for the place, not once for every new unit."""
    from doorstep.offices import routing

    searched = []
    search = routing.CoverageIndex._nearest
    monkeypatch.setattr(
        routing.CoverageIndex,
        "_nearest",
        lambda self, lat, lon: searched.append((lat, lon)) or search(self, lat, lon),
    )
    first = create(client, owner, advert_postcode="NG2 1AA")
    again = create(client, owner, advert_postcode="NG2 1AB")  # another unit, same sector
    other = create(client, owner, advert_postcode="LE1 1AA")
    assert searched == [_centroids("sector")["NG2 1"], _centroids("sector")["LE1 1"]]
    assert again["office_name"] == first["office_name"] == "Nottingham"
    assert again["out_of_area_distance"] == first["out_of_area_distance"]
    assert other["out_of_area_distance"] > first["out_of_area_distance"]


def test_sale_and_let_route_by_advert_postcode_others_by_postcode(client, owner):
    both = {"postcode": "DE1 1JX", "advert_postcode": "NG1 5FS"}
    assert create(client, owner, type="sale", **both)["office_name"] == "Nottingham"
    assert create(client, owner, type="let", **both)["office_name"] == "Nottingham"
    assert create(client, owner, type="vendor", **both)["office_name"] == "Derby"
    assert create(client, owner, type="landlord", **both)["office_name"] == "Derby"
    assert create(client, owner, type="mortgage_request", **both)["office_name"] == "Derby"


def test_each_type_falls_back_to_the_other_postcode(client, owner):
    lead = create(client, owner, type="sale", advert_postcode=..., postcode="DE1 1JX")
    assert lead["office_name"] == "Derby"
    lead = create(client, owner, type="mortgage_request", advert_postcode="DE1 1JX")
    assert lead["office_name"] == "Derby"


def test_office_id_wins_over_postcode(client, owner):
    lead = create(client, owner, advert_postcode="NG1 5FS", office_id=owner.offices["Derby"])
    assert (lead["office_name"], lead["out_of_area_distance"]) == ("Derby", None)


def test_no_usable_postcode_goes_to_the_default_office(client, owner):
    assert create(client, owner, advert_postcode=...)["office_name"] == "Nottingham"
    with db.transaction() as s:
        set_default_office(s, owner.account_id, owner.offices["Derby"])
    assert create(client, owner, advert_postcode=...)["office_name"] == "Derby"
    lead = create(client, owner, advert_postcode="ZZ99 9ZZ")  # well-formed, nowhere
    assert (lead["office_name"], lead["out_of_area_distance"]) == ("Derby", None)
    assert create(client, owner, advert_postcode="Paris")["office_name"] == "Derby"


def test_a_bare_district_is_still_routed(client, owner):
    assert create(client, owner, advert_postcode="DE22")["office_name"] == "Derby"


def test_an_account_without_offices_gets_a_null_office(client, engine):
    bare = make_agency("No offices yet", ())
    lead = create(client, bare)
    assert (lead["office_id"], lead["office_name"], lead["out_of_area_distance"]) == (
        None,
        None,
        None,
    )


def _units_file(tmp_path, rows, *, gz=False, header="postcode,latitude,longitude"):
    path = tmp_path / ("units.csv.gz" if gz else "units.csv")
    text = header + "\n" + "\n".join(rows) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_geo_import_brings_unit_precision(client, owner, tmp_path):
    before = create(client, owner, advert_postcode="NG2 1AA")["out_of_area_distance"]
    # A made-up but plausible location for NG2 1AA, 3 km due south of NG1's sectors
    path = _units_file(tmp_path, ["NG2 1AA,52.92000,-1.14744"], gz=True)
    r = CliRunner().invoke(cli, ["geo", "import", str(path), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["imported"] == 1
    after = create(client, owner, advert_postcode="NG2 1AA")["out_of_area_distance"]
    assert after != before


def test_geo_import_reads_the_ons_directory_and_is_idempotent(engine, tmp_path, session):
    from sqlalchemy import func, select

    from doorstep.models import PostcodeUnit

    rows = [
        '"NG1 5FS","NG1  5FS","ng1 5fs",52.95507,-1.14102',
        '"DE45 9AA","DE45 9AA","DE45 9AA",99.999999,0.000000',  # no grid reference
        '"XX","XX","XX",52.1,-1.1',  # not a postcode
    ]
    path = _units_file(tmp_path, rows, header="pcd,pcd2,pcds,lat,long")
    runner = CliRunner()
    for _ in range(2):
        r = runner.invoke(cli, ["geo", "import", str(path), "--json", "--quiet"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert (out["rows"], out["imported"], out["skipped_no_coordinates"]) == (3, 1, 1)
        assert out["skipped_bad_postcode"] == 1
    assert session.scalar(select(func.count()).select_from(PostcodeUnit)) == 1
    unit = session.get(PostcodeUnit, "NG1 5FS")
    assert (unit.latitude, unit.longitude) == (52.95507, -1.14102)


def test_geo_import_refuses_a_file_without_coordinates(engine, tmp_path):
    path = _units_file(tmp_path, ["a,b"], header="name,town")
    r = CliRunner().invoke(cli, ["geo", "import", str(path), "--quiet"])
    assert r.exit_code == 1
    assert "postcode" in r.stderr


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("SW19", ("district", "SW19")),
        ("sw1 9", ("sector", "SW1 9")),
        ("NG15", ("district", "NG15")),
        ("ng1 5", ("sector", "NG1 5")),
        ("ng15fs", ("unit", "NG1 5FS")),
        ("W1A", ("district", "W1A")),
        ("DE", ("area", "DE")),
        ("12345", None),
        ("NG1 5F", None),
    ],
)
def test_coverage_codes_respect_their_spacing(code, expected):
    from doorstep.geo.postcodes import classify

    assert classify(code) == expected


def test_a_two_digit_district_is_not_mistaken_for_a_sector(client, engine):
    agency = make_agency(
        "Tyneside", (("Killingworth", "NE12 6QN", "NE12,NE27"), ("Newcastle", "NE1 1EE", "NE1"))
    )
    lead = create(client, agency, advert_postcode="NE12 6QN")
    assert (lead["office_name"], lead["out_of_area_distance"]) == ("Killingworth", None)
    assert create(client, agency, advert_postcode="NE1 2AB")["office_name"] == "Newcastle"
    assert create(client, agency, advert_postcode="NE12")["office_name"] == "Killingworth"


def test_an_office_change_reaches_the_very_next_lead(client, owner):
    # Routing tables are kept in memory per process; every change made through the offices
    # service gives the account a new routing version, which the next request sees.
    assert create(client, owner, advert_postcode="NG1 5FS")["office_name"] == "Nottingham"
    with db.transaction() as s:
        update_office(
            s, owner.account_id, owner.offices["Derby"], name="Derby & Sherwood",
            postcode="DE1 1JX", coverage=["DE", "NG1 5"],
        )  # fmt: skip
    assert create(client, owner, advert_postcode="NG1 5FS")["office_name"] == "Derby & Sherwood"
    assert create(client, owner, advert_postcode="NG1 6AA")["office_name"] == "Nottingham"


def test_one_office_edit_gives_one_new_routing_version(engine, owner):
    from sqlalchemy import event

    bumps = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE ACCOUNTS SET ROUTING_VERSION"):
            bumps.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with db.transaction() as s:
            update_office(
                s, owner.account_id, owner.offices["Derby"], name="Derby",
                postcode="DE1 1JX", coverage=["DE", "NG1 5"],
            )  # fmt: skip
        assert len(bumps) == 1
        with db.transaction() as s:
            create_office(s, owner.account_id, "Leicester", "LE1 1AA", ["LE1"])
        assert len(bumps) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_unit_coverage_is_measured_from_coordinates_imported_later(client, engine, tmp_path):
    units = make_agency("Units only", (("Leicester", "LE1 1AA", "LE1 5AA"),))
    before = create(client, units, postcode="LE3 0AA")
    assert before["office_name"] == "Leicester"
    # Until LE1 5AA's own coordinates are imported, it stands at its sector's centroid.
    path = _units_file(tmp_path, ["LE1 5AA,52.50000,-1.13000"])  # well south of Leicester
    r = CliRunner().invoke(cli, ["geo", "import", str(path), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    after = create(client, units, postcode="LE3 0AA")
    assert after["out_of_area_distance"] > before["out_of_area_distance"] + 10_000


def test_an_account_that_reuses_an_id_gets_its_own_routing(client, engine):
    # SQLite gives a new row the highest id + 1, so a deleted account's id comes back.
    first = make_agency("Gone Lettings", (("Gone", "NG1 5FS", "NG1"),))
    assert create(client, first, advert_postcode="NG1 5FS")["office_name"] == "Gone"
    with db.transaction() as s:
        s.execute(delete(Account).where(Account.id == first.account_id))
    second = make_agency("New Homes", (("Fresh", "NG1 5FS", "NG1"),))
    if not IS_POSTGRES:  # PostgreSQL never reuses an id: there the test is a plain one
        assert second.account_id == first.account_id
    assert create(client, second, advert_postcode="NG1 5FS")["office_name"] == "Fresh"
