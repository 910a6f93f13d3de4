"""``doorstep geo import``: every row of the file is accounted for in the summary."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from doorstep.cli import app

runner = CliRunner()


def test_every_row_is_imported_skipped_or_reported(engine, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(
        "pcds,lat,long\n"
        "NG1 5FS,52.95507,-1.14102\n"
        "NG1 5AW,52.95\n"  # short
        "NG1 6AB,abc,-1.1\n"
        "NG1 7AA,95.1,-1.1\n"  # no latitude is 95
        "DE45 9AA,99.999999,0.000000\n"  # ONSPD: no grid reference
        "AB11 3AG,,\n"  # NSPL extract: no coordinates
        "XX,52.1,-1.1\n"
        "\n"
    )
    result = runner.invoke(app, ["geo", "import", str(path), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["rows"], out["imported"], out["invalid"]) == (7, 1, 3)
    assert (out["skipped_no_coordinates"], out["skipped_bad_postcode"]) == (2, 1)
    assert out["errors"] == [
        "line 3: 2 columns, expected at least 3.",
        "line 4: coordinates 'abc', '-1.1' are not numbers.",
        "line 5: coordinates 95.1, -1.1 are not in the UK.",
    ]
    text = runner.invoke(app, ["geo", "import", str(path), "--quiet"]).stdout
    assert "1 postcodes imported from 7 rows (2 without coordinates, 1 not UK postcodes, " in text
    assert "3 invalid)" in text and "line 3: 2 columns" in text


def test_a_postcode_repeated_in_the_file_is_still_counted(engine, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("postcode,latitude,longitude\nNG1 5FS,52.955,-1.141\nng15fs,52.956,-1.142\n")
    out = json.loads(runner.invoke(app, ["geo", "import", str(path), "--json", "--quiet"]).stdout)
    assert (out["rows"], out["imported"]) == (2, 2)


def test_a_directory_is_named_as_one(engine, tmp_path):
    result = runner.invoke(app, ["geo", "import", str(tmp_path), "--quiet"])
    assert result.exit_code == 1
    assert "is a directory, not a file" in result.stderr


def test_blank_lines_binary_files_and_damaged_gzip_are_named(engine, tmp_path):
    import gzip

    blank_first = tmp_path / "blank.csv"
    blank_first.write_text("\n\npcds,lat,long\nNG1 5FS,52.95507,-1.14102\n")
    r = runner.invoke(app, ["geo", "import", str(blank_first), "--json", "--quiet"])
    assert r.exit_code == 0, r.output  # was "the file is empty"
    assert json.loads(r.stdout)["imported"] == 1

    binary = tmp_path / "units.xlsx"
    binary.write_bytes(b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)))
    r = runner.invoke(app, ["geo", "import", str(binary), "--quiet"])
    assert r.exit_code == 1 and "is not CSV text" in r.output

    rows = "".join(f"NG1 {n % 9 + 1}AA,52.95,-1.14\n" for n in range(20_000))
    whole = gzip.compress(("pcds,lat,long\n" + rows).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    r = runner.invoke(app, ["geo", "import", str(cut), "--quiet"])
    assert r.exit_code == 1 and "damaged" in r.output and "Traceback" not in r.output

    quote = tmp_path / "quote.csv"
    quote.write_text('pcds,lat,long\nNG1 5FS,52.95507,-1.14102\n"NG1 6' + "x" * 140_000 + "\n")
    r = runner.invoke(app, ["geo", "import", str(quote), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["imported"] == 1 and out["invalid"] == 1 and "not CSV" in out["errors"][0]
