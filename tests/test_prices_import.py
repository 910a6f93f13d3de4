"""``doorstep prices import``: both PPD forms, record status A/C/D, idempotency, the CLI."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select
from typer.testing import CliRunner

from doorstep.cli import app
from doorstep.models import PriceIndex, Sale, ValuationModel
from tests.valuation_data import bulk_row, tid, write_bulk, write_report

runner = CliRunner()


def prices_import(*paths) -> dict:
    result = runner.invoke(app, ["prices", "import", *map(str, paths), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def sales(session) -> dict[str, Sale]:
    session.expire_all()
    return {s.transaction_id: s for s in session.scalars(select(Sale))}


def three_sales() -> list[list[str]]:
    return [
        bulk_row(1, 200_000, date(2024, 1, 10), "NG1 5FS", "T"),
        bulk_row(2, 310_000, date(2024, 2, 11), "ng15aw", "S"),
        bulk_row(3, 550, date(2024, 3, 12), "NG1 5FS", "O", category="B"),
    ]


def test_it_imports_the_bulk_form_and_prints_one_json_object(engine, session, tmp_path):
    out = prices_import(write_bulk(tmp_path / "pp.csv", three_sales()))
    assert out["rows"] == 3 and out["stored"] == 3 and out["malformed"] == 0
    assert out["files"][0]["form"] == "bulk"
    # Category B and type O are kept (so later C/D records find them) but not used.
    assert out["eligible"] == 2
    rows = sales(session)
    s = rows[tid(2)]
    assert (s.price, s.deed_date, s.postcode, s.sector, s.district) == (
        310_000,
        date(2024, 2, 11),
        "NG1 5AW",
        "NG1 5",
        "NG1",
    )
    assert s.latitude is not None and s.geo_precision == "sector"
    assert not rows[tid(3)].eligible
    assert session.scalar(select(func.count()).select_from(ValuationModel)) == 1
    assert session.scalar(select(func.count()).select_from(PriceIndex)) > 0


def test_reimporting_changes_nothing(engine, session, tmp_path):
    path = write_bulk(tmp_path / "pp.csv.gz", three_sales(), gz=True)
    prices_import(path)
    again = prices_import(path)
    assert again["stored"] == 3
    assert len(sales(session)) == 3


def test_change_and_delete_records_apply(engine, session, tmp_path):
    prices_import(write_bulk(tmp_path / "pp.csv", three_sales()))
    update = [
        bulk_row(1, 205_000, date(2024, 1, 10), "NG1 5FS", "T", status="C"),
        bulk_row(2, 310_000, date(2024, 2, 11), "NG1 5AW", "S", status="D"),
        bulk_row(4, 180_000, date(2024, 4, 1), "NG1 6AB", "F"),
        # Added then deleted within the same monthly file: gone at the end.
        bulk_row(5, 190_000, date(2024, 4, 2), "NG1 6AB", "F"),
        bulk_row(5, 190_000, date(2024, 4, 2), "NG1 6AB", "F", status="D"),
        # A deletion of a sale never imported is simply nothing to do.
        bulk_row(6, 1, date(2024, 4, 3), "NG1 6AB", "F", status="D"),
    ]
    out = prices_import(write_bulk(tmp_path / "pp-monthly-update.csv", update))
    assert out["deleted"] == 1
    rows = sales(session)
    assert set(rows) == {tid(1), tid(3), tid(4)}
    assert rows[tid(1)].price == 205_000


def test_the_report_builder_form_is_the_same_sale(engine, session, tmp_path):
    prices_import(write_bulk(tmp_path / "pp.csv", three_sales()))
    out = prices_import(write_report(tmp_path / "ppd_data.csv", three_sales()))
    assert out["files"][0]["form"] == "report"
    rows = sales(session)
    assert len(rows) == 3
    # SAON and PAON come from their named columns.
    assert rows[tid(1)].paon == "1" and rows[tid(1)].street == "EXAMPLE STREET"


def test_bad_rows_are_counted_and_named(engine, session, tmp_path):
    rows = three_sales()
    rows[1][1] = "lots"
    out = prices_import(write_bulk(tmp_path / "pp.csv", rows))
    assert out["malformed"] == 1 and out["stored"] == 2
    assert out["files"][0]["errors"] == ["line 2: price 'lots' is not a number."]


def test_a_file_that_is_not_price_paid_data_fails_clearly(engine, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,price\nhouse,1\n")
    result = runner.invoke(app, ["prices", "import", str(path), "--quiet"])
    assert result.exit_code == 1
    assert "Not a Price Paid Data file" in result.output


def test_sales_move_to_unit_coordinates_imported_later(engine, session, tmp_path):
    prices_import(write_bulk(tmp_path / "pp.csv", three_sales()))
    geo = tmp_path / "units.csv"
    geo.write_text("postcode,latitude,longitude\nNG1 5FS,52.95488,-1.14936\n")
    result = runner.invoke(app, ["geo", "import", str(geo), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["relocated_evidence"] == 2
    s = sales(session)[tid(1)]
    assert (s.latitude, s.longitude, s.geo_precision) == (52.95488, -1.14936, "unit")


def test_with_a_progress_bar_stdout_still_holds_one_json_object(engine, tmp_path):
    path = write_bulk(tmp_path / "pp.csv", three_sales())
    result = runner.invoke(app, ["prices", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stored"] == 3
