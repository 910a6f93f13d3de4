from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from doorstep import db
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail
from doorstep.errors import DoorstepError
from doorstep.imports import progress
from doorstep.valuation import calibration, importer

app = typer.Typer(help="Sales evidence: HM Land Registry Price Paid Data.", no_args_is_help=True)


@app.command("import")
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Price Paid Data CSV files (.gz or not): the 16-column bulk form (yearly, "
            "complete or monthly update; record status A/C/D applied) or the report-builder "
            "form with its header."
        ),
    ],
    as_json: bool = JsonOpt,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Load sales, then rebuild the local price index and recalibrate the valuation range.
    Idempotent: sales are keyed by transaction id, so re-importing a file (or an overlapping
    update) changes nothing twice, and D records delete."""
    ensure_schema()
    for f in files:
        if not f.is_file():
            fail(f"No such file: {f}")
    engine = db.get_engine()
    results = []
    try:
        for f in files:
            with progress(f"Importing {f.name}", f.stat().st_size, enabled=not quiet) as bar:
                results.append(importer.import_file(engine, f, bar))
        moved = importer.relocate(engine)
        with progress("Price index and calibration", 1, enabled=not quiet) as bar:
            model = calibration.rebuild_model(engine)
    except DoorstepError as e:
        fail(e.message)
    out = {
        "files": [asdict(r) for r in results],
        "rows": sum(r.rows for r in results),
        "stored": sum(r.stored for r in results),
        "deleted": sum(r.deleted for r in results),
        "eligible": sum(r.eligible for r in results),
        "malformed": sum(r.malformed for r in results),
        "relocated": moved,
        "model": model,
    }
    cal = model["calibration"]
    lines = [
        f"{r.file} ({r.form}): {r.rows:,} rows, {r.stored:,} stored ({r.eligible:,} usable "
        f"for valuations), {r.deleted:,} deleted, {r.malformed:,} malformed"
        + "".join(f"\n  {e}" for e in r.errors)
        for r in results
    ]
    lines.append(
        f"Price index from {model['sales']:,} sales, {model['first_month']} to "
        f"{model['last_month']}. Range calibrated on {cal['sales']:,} held-out sales"
        + (f" (MdAPE {cal['mdape']}%)." if cal["mdape"] is not None else f": {cal['note']}")
    )
    emit(out, as_json, "\n".join(lines))
