"""``doorstep rents import``: the documented CSV, row validation, idempotency, tenancy."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from doorstep.cli import app
from doorstep.models import RentalEvidence

runner = CliRunner()

CSV = """Postcode,Bedrooms,Property Type,Monthly Rent,Date,Reference,Address
ng1 5fs,2,terraced,"£1,050",2025-03-31,T-1,1 Example Street
NG1 5AW,,flat,900,31/01/2025,T-2,
NG1 6AB,3,semi,,2025-02-01,T-3,
NOT A PC,2,flat,800,2025-01-01,T-4,
NG1 7AA,1,castle,700,2025-01-01,T-5,
NG1 7AA,1,flat,700,2099-01-01,T-6,
"""


def rents_import(path, *extra) -> dict:
    result = runner.invoke(app, ["rents", "import", str(path), *extra, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_it_imports_valid_rows_and_names_the_bad_ones(engine, session, owner, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text(CSV)
    out = rents_import(path, "--account", str(owner.account_id))
    assert (out["rows"], out["stored"], out["invalid"]) == (6, 2, 4)
    assert out["errors"] == [
        "line 4: no rent.",
        "line 5: postcode 'NOT A PC' is not a UK postcode.",
        "line 6: property type 'castle' is not one of detached, semi-detached, terraced, "
        "flat-maisonette.",
        "line 7: date 2099-01-01 is in the future.",
    ]
    rows = {r.postcode: r for r in session.scalars(select(RentalEvidence))}
    first = rows["NG1 5FS"]
    assert (first.bedrooms, first.property_type, first.monthly_rent, first.account_id) == (
        2,
        "terraced",
        1050,
        owner.account_id,
    )
    assert rows["NG1 5AW"].bedrooms is None
    assert rows["NG1 5AW"].property_type == "flat-maisonette"
    assert str(rows["NG1 5AW"].let_date) == "2025-01-31"


def test_reimporting_updates_by_reference(engine, session, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text(CSV)
    rents_import(path)
    path.write_text(CSV.replace('"£1,050"', "1100"))
    rents_import(path)
    rows = session.scalars(select(RentalEvidence)).all()
    assert len(rows) == 2
    assert {r.monthly_rent for r in rows} == {1100, 900}
    assert {r.account_id for r in rows} == {None}


def test_weekly_rents_are_converted(engine, session, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text("postcode,weekly_rent,date\nNG1 5FS,300,2025-01-01\n")
    rents_import(path)
    assert session.scalars(select(RentalEvidence)).one().monthly_rent == 1300


def test_a_csv_without_the_columns_is_refused(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text("where,how much\nNG1 5FS,900\n")
    result = runner.invoke(app, ["rents", "import", str(path), "--quiet"])
    assert result.exit_code == 1
    assert "missing: postcode, date, monthly_rent (or weekly_rent)" in result.output


def test_an_unknown_account_is_refused(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text(CSV)
    result = runner.invoke(app, ["rents", "import", str(path), "--account", "999999"])
    assert result.exit_code == 1
