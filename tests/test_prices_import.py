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
    assert out["files"][0]["errors"] == ["line 2: price 'lots' is not a number of whole pounds."]


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


def import_failing(*paths) -> tuple[int, dict | None, str]:
    result = runner.invoke(app, ["prices", "import", *map(str, paths), "--json", "--quiet"])
    out = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, out, result.output


def test_a_row_with_an_extra_field_is_refused_not_shifted(engine, session, tmp_path):
    """An unquoted comma in an address made a 17-field D row read 'A' from the category
    column as its status: the sale was kept, its fields shifted."""
    first = bulk_row(1, 200_000, date(2024, 1, 10), "NG1 5FS", "T")
    prices_import(write_bulk(tmp_path / "a.csv", [first]))
    shifted = bulk_row(1, 200_000, date(2024, 1, 10), "NG1 5FS", "T", status="D")
    shifted[9:10] = ["EXAMPLE", "STREET"]  # 17 fields
    out = prices_import(
        write_bulk(tmp_path / "d.csv", [bulk_row(2, 1, date(2024, 1, 1), "NG1 5FS"), shifted])
    )
    assert out["malformed"] == 1 and out["deleted"] == 0
    assert out["files"][0]["errors"] == ["line 2: 17 fields, expected 16."]
    assert sales(session)[tid(1)].category == "A"


def test_a_deletion_needs_only_its_id(engine, session, tmp_path):
    prices_import(write_bulk(tmp_path / "a.csv", three_sales()))
    gone = ["{" + tid(2) + "}"] + [""] * 14 + ["D"]
    out = prices_import(write_bulk(tmp_path / "d.csv", [gone]))
    assert (out["malformed"], out["deleted"]) == (0, 1)
    assert tid(2) not in sales(session)


def test_values_outside_price_paid_data_are_refused(engine, session, tmp_path):
    """One row dated 2029 moved the index's last month into the future and switched the
    range calibration off for every valuation; the rest were stored as if plausible."""
    today = date.today()
    good = bulk_row(1, 200_000, date(2024, 1, 10), "NG1 5FS", "T")
    bad = {
        "date": (2, today.replace(year=today.year + 3).isoformat() + " 00:00"),
        "old": (2, "1899-03-01 00:00"),
        "negative": (1, "-250000"),
        "float": (1, "2.5e5"),
        "pence": (1, "250000.75"),
        "huge": (1, "9" * 20),
        "infinite": (1, "1e400"),
        "type": (4, "X"),
        "new": (5, "Yes"),
        "tenure": (6, "Q"),
        "category": (14, "Z"),
    }
    rows = [good]
    for n, (col, value) in enumerate(bad.values(), start=10):
        row = bulk_row(n, 180_000, date(2024, 2, 1), "NG1 5FS", "S")
        row[col] = value
        rows.append(row)
    code, out, output = import_failing(write_bulk(tmp_path / "pp.csv", rows))
    assert code == 0, output
    assert (out["stored"], out["malformed"]) == (1, len(bad))
    assert out["model"]["last_month"] == "2024-01"
    assert any("outside Price Paid Data" in e for e in out["files"][0]["errors"])


def test_an_unclosed_quote_is_a_bad_row_not_a_traceback(engine, tmp_path):
    path = tmp_path / "pp.csv"
    good = write_bulk(tmp_path / "g.csv", three_sales()).read_text()
    path.write_text(good + '"{' + tid(9) + '}","1' + "x" * 140_000 + "\n")
    code, out, output = import_failing(path)
    assert code == 0, output
    assert out["stored"] == 3 and out["malformed"] == 1
    assert "not CSV" in out["files"][0]["errors"][0]


def test_a_damaged_file_keeps_what_came_before_it_and_fails(engine, session, tmp_path):
    rows = [bulk_row(n, 150_000 + n, date(2024, 1, 1 + n % 28), "NG1 5FS") for n in range(1, 20001)]
    whole = write_bulk(tmp_path / "pp.csv.gz", rows, gz=True).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    later = write_bulk(tmp_path / "later.csv", three_sales())
    code, out, _output = import_failing(cut, later)
    assert code == 1
    (done,) = out["files"]
    assert "damaged" in done["failed"] and done["stored"] < 20_000  # PostgreSQL: 0 (one batch)
    assert out["not_imported"] == [str(later)]
    # The index knows of what was stored.
    assert out["model"]["sales"] == len(sales(session))


def test_a_bad_file_among_several_stops_the_import_before_it_starts(engine, session, tmp_path):
    good = write_bulk(tmp_path / "pp.csv", three_sales())
    junk = tmp_path / "rand.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    code, _out, output = import_failing(good, junk)
    assert code == 1 and "rand.bin" in output
    assert sales(session) == {}


def test_nothing_imported_is_a_failure_for_a_script(engine, tmp_path):
    rows = three_sales()
    for r in rows:
        r[1] = "n/a"
    code, out, output = import_failing(write_bulk(tmp_path / "pp.csv", rows))
    assert code == 1 and out["ok"] is False and out["malformed"] == 3
    assert "no row could be imported" in output


def test_errors_past_the_listed_ones_are_counted(engine, tmp_path):
    rows = [bulk_row(n, 150_000, date(2024, 1, 5), "NG1 5FS") for n in range(1, 31)]
    for r in rows[:25]:
        r[1] = "n/a"
    out = prices_import(write_bulk(tmp_path / "pp.csv", rows))
    (f,) = out["files"]
    assert (len(f["errors"]), f["errors_not_listed"]) == (20, 5)
    text = runner.invoke(app, ["prices", "import", str(tmp_path / "pp.csv"), "--quiet"]).output
    assert "... and 5 more malformed rows" in text


def test_a_directory_is_named_as_one(engine, tmp_path):
    result = runner.invoke(app, ["prices", "import", str(tmp_path), "--quiet"])
    assert result.exit_code == 1 and "is a directory" in result.output


def test_the_summary_says_why_stored_sales_are_not_usable(engine, tmp_path):
    rows = [
        *three_sales(),  # the third: category B, type O, £550
        bulk_row(4, 180_000, date(2024, 1, 5), "NG1 5FS", "O"),
        bulk_row(5, 5_000, date(2024, 1, 5), "NG1 5FS", "T"),
        bulk_row(6, 180_000, date(2024, 1, 5), "not a postcode", "T"),
        bulk_row(7, 180_000, date(2024, 1, 5), "ZZ99 9ZZ", "T"),  # shaped right, nowhere
    ]
    out = prices_import(write_bulk(tmp_path / "pp.csv", rows))
    (f,) = out["files"]
    assert f["unusable"] == {
        "category B (not a standard sale)": 1,
        "type O (not a house or flat)": 1,
        "price outside £10,000–£20m": 1,
        "no UK postcode": 1,
        "postcode not located": 1,
    }
    assert f["eligible"] == 2 == f["stored"] - sum(f["unusable"].values())
    text = runner.invoke(app, ["prices", "import", str(tmp_path / "pp.csv"), "--quiet"]).output
    assert "not usable for valuations: 1 category B" in text


def test_the_rebuild_after_an_import_shows_its_progress(engine, tmp_path):
    """A one-step bar sat at 0/1 bytes for the minutes a national file's calibration takes."""
    rows = [
        bulk_row(
            n, 150_000 + 37 * n, date(2023 + n // 300, 1 + n // 25 % 12, 1 + n % 28), "NG1 5FS"
        )
        for n in range(600)
    ]
    path = write_bulk(tmp_path / "pp.csv", rows)
    result = runner.invoke(app, ["prices", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "held-out sales valued" in result.stderr
    assert "bytes" not in result.stderr.split("Importing")[-1].split("\\n", 1)[-1]
    json.loads(result.stdout)  # still one JSON object on stdout
