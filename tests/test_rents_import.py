"""``doorstep rents import``: the documented CSV, row validation, idempotency, tenancy."""

from __future__ import annotations

import gzip
import json

import pytest
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
    assert accounted(out)
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


def rents_fail(path, *extra) -> tuple[dict, str]:
    result = runner.invoke(app, ["rents", "import", str(path), *extra, "--json", "--quiet"])
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout), result.stderr


def accounted(out: dict) -> bool:
    return out["stored"] + out["invalid"] + out["duplicates"] == out["rows"]


def test_identical_lettings_without_a_reference_are_kept_and_reimporting_adds_none(
    engine, tmp_path
):
    def lettings() -> int:
        with engine.connect() as conn:
            return len(conn.execute(select(RentalEvidence.id)).all())

    path = tmp_path / "lets.csv"
    alike = "NG1 5FS,2,flat,900,2025-01-01,,Flat 1"
    path.write_text(f"postcode,bedrooms,type,rent,date,ref,address\n{alike}\n{alike}\n")
    for _ in range(2):
        out = rents_import(path)
        assert (out["rows"], out["stored"], out["invalid"], out["duplicates"]) == (2, 2, 0, 0)
        assert lettings() == 2
    # A later export holding one of them adds nothing either.
    path.write_text(f"postcode,bedrooms,type,rent,date,ref,address\n{alike}\n")
    rents_import(path)
    assert lettings() == 2


def test_a_reference_repeated_in_a_file_keeps_the_first_row_and_names_the_later(
    engine, session, tmp_path
):
    path = tmp_path / "lets.csv"
    path.write_text(
        "postcode,rent,date,reference\n"
        "NG1 5FS,900,2025-01-01,T-1\nNG1 5AW,950,2025-01-02,T-2\nNG1 5FS,1200,2025-02-01,T-1\n"
    )
    out = rents_import(path)
    assert (out["rows"], out["stored"], out["invalid"], out["duplicates"]) == (3, 2, 0, 1)
    assert out["errors"] == ["line 4: reference 'T-1' is already on line 2; this row was skipped."]
    rents = {r.postcode: r.monthly_rent for r in session.scalars(select(RentalEvidence))}
    assert rents == {"NG1 5FS": 900, "NG1 5AW": 950}


def test_bedrooms_must_be_a_whole_number_from_0_to_50(engine, session, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text(
        "postcode,bedrooms,rent,date\n"
        "NG1 5FS,2.7,900,2025-01-01\nNG1 5FS,-0.5,900,2025-01-01\nNG1 5FS,51,900,2025-01-01\n"
        "NG1 5FS,2.0,900,2025-01-01\n"
    )
    out = rents_import(path)
    assert (out["rows"], out["stored"], out["invalid"]) == (4, 1, 3)
    assert out["errors"] == [
        "line 2: bedrooms '2.7' is not a whole number from 0 to 50.",
        "line 3: bedrooms '-0.5' is not a whole number from 0 to 50.",
        "line 4: bedrooms '51' is not a whole number from 0 to 50.",
    ]
    assert session.scalars(select(RentalEvidence)).one().bedrooms == 2


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig"])
def test_excel_exports_in_windows_1252_or_utf_8_keep_their_text(
    engine, session, tmp_path, encoding, gz
):
    text = 'postcode,rent,date,address\nNG1 5FS,"£1,250",2025-01-01,1 Café Row\n'
    data = text.encode(encoding)
    path = tmp_path / ("lets.csv.gz" if gz else "lets.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    out = rents_import(path)
    assert (out["stored"], out["encoding"]) == (1, "utf-8" if encoding == "utf-8-sig" else encoding)
    row = session.scalars(select(RentalEvidence)).one()
    assert (row.address, row.monthly_rent) == ("1 Café Row", 1250)


def test_a_file_neither_utf_8_nor_windows_1252_is_refused(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_bytes(b"postcode,rent,date\nNG1 5FS,900,2025-01-01\xe9\x81\n")
    result = runner.invoke(app, ["rents", "import", str(path), "--quiet"])
    assert result.exit_code == 1
    assert "is neither UTF-8 nor Windows-1252 text" in result.stderr


@pytest.mark.parametrize("length", [10, 200_000])
def test_a_quote_left_open_stops_the_import_with_its_line_and_no_traceback(
    engine, session, tmp_path, length
):
    path = tmp_path / "lets.csv"
    rest = "NG1 5AW,900,2025-01-01,address\n" * (length // 30 + 1)
    path.write_text(
        "postcode,rent,date,address\nNG1 5FS,900,2025-01-01,1 Row\n"
        f'NG1 5FS,950,2025-01-01,"2 Row\n{rest}'
    )
    out, err = rents_fail(path)
    assert (out["rows"], out["stored"], out["invalid"], out["ok"]) == (2, 1, 1, False)
    assert out["errors"][0].startswith("line 3: not CSV: ")
    assert "a quote opened on line 3 is still open" in out["failed"]
    assert "the rest of the file was not imported" in err
    assert len(session.scalars(select(RentalEvidence)).all()) == 1


def test_it_exits_1_when_no_row_could_be_stored_and_still_summarises(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text("postcode,rent,date\n" + "NOT A PC,900,2025-01-01\n" * 30)
    out, err = rents_fail(path)
    assert (out["rows"], out["stored"], out["invalid"], out["ok"]) == (30, 0, 30, False)
    assert "no row could be stored" in err
    result = runner.invoke(app, ["rents", "import", str(path), "--quiet"])
    assert result.exit_code == 1
    assert "0 lettings stored from 30 rows (30 invalid" in result.stdout


def test_errors_beyond_the_first_20_are_counted(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text("postcode,rent,date\nNG1 5FS,900,2025-01-01\n" + "NOPE,900,2025-01-01\n" * 25)
    out = rents_import(path)
    assert (len(out["errors"]), out["errors_not_listed"], out["invalid"]) == (20, 5, 25)
    assert accounted(out)
    result = runner.invoke(app, ["rents", "import", str(path), "--quiet"])
    assert result.stdout.rstrip().endswith("... and 5 more")


def test_a_directory_is_named_as_one(engine, tmp_path):
    result = runner.invoke(app, ["rents", "import", str(tmp_path), "--quiet"])
    assert result.exit_code == 1
    assert "is a directory, not a file" in result.stderr


def test_blank_lines_before_the_header_are_skipped(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text("\n\npostcode,rent,date\nNG1 5FS,900,2025-01-01\nNOPE,900,2025-01-01\n")
    out = rents_import(path)
    assert (out["rows"], out["stored"], out["errors"]) == (
        2,
        1,
        ["line 5: postcode 'NOPE' is not a UK postcode."],
    )


def test_the_missing_column_message_and_help_say_what_is_optional(engine, tmp_path):
    path = tmp_path / "lets.csv"
    path.write_text("postcode,bedrooms,date\nNG1 5FS,2,2025-01-01\n")
    result = runner.invoke(app, ["rents", "import", str(path), "--quiet"])
    assert result.exit_code == 1
    assert (
        "needs a header with the columns postcode, monthly_rent (or weekly_rent) and date, "
        "and optionally bedrooms, property_type, reference and address; "
        "missing: monthly_rent (or weekly_rent)."
    ) in " ".join(result.stderr.split())
    help_text = " ".join(runner.invoke(app, ["rents", "import", "--help"]).stdout.split())
    assert "monthly_rent (or weekly_rent) and date, and optionally bedrooms, property_type" in (
        help_text.replace("│ ", "").replace(" │", "")
    )


def test_a_binary_file_is_refused_without_echoing_its_bytes(engine, tmp_path):
    path = tmp_path / "lets.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00b\xee\x9dh^\x01\x00\x00")
    result = runner.invoke(app, ["rents", "import", str(path), "--quiet"])
    assert result.exit_code == 1
    assert "is not CSV text: it holds NUL bytes" in result.stderr
    assert "header" not in result.stderr
