from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from doorstep import db
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail
from doorstep.errors import DoorstepError
from doorstep.geo.importer import import_units
from doorstep.imports import progress
from doorstep.valuation.importer import relocate

app = typer.Typer(help="Postcode geography.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="ONSPD/NSPL CSV or postcode,latitude,longitude (.gz or not).")
    ],
    as_json: bool = JsonOpt,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Load unit-postcode coordinates, so routing and valuation use unit precision.
    Re-importing a file updates the coordinates in place."""
    ensure_schema()
    if file.is_dir():
        fail(f"{file} is a directory, not a file.")
    if not file.is_file():
        fail(f"No such file: {file}")
    try:
        with progress(f"Importing {file.name}", file.stat().st_size, enabled=not quiet) as bar:
            result = import_units(db.get_engine(), file, bar)
        # Sales and lettings imported before these coordinates move to them.
        relocated = relocate(db.get_engine())
    except DoorstepError as e:
        fail(e.message)
    out = {"file": str(file), **asdict(result), "relocated_evidence": relocated}
    emit(
        out,
        as_json,
        f"{result.imported:,} postcodes imported from {result.rows:,} rows "
        f"({result.skipped_no_coordinates:,} without coordinates, "
        f"{result.skipped_bad_postcode:,} not UK postcodes, {result.invalid:,} invalid)."
        + result.errors_text(),
    )
