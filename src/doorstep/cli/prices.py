from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from doorstep import db
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail, failed_after_summary
from doorstep.errors import DoorstepError
from doorstep.imports import progress, rebuild_progress
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
        if f.is_dir():
            fail(f"{f} is a directory: name the files in it.")
        if not f.is_file():
            fail(f"No such file: {f}")
    engine = db.get_engine()
    results = []
    try:
        for f in files:  # every file's form is checked before any is imported
            importer.check_file(f)
        for f in files:
            with progress(f"Importing {f.name}", f.stat().st_size, enabled=not quiet) as bar:
                results.append(importer.import_file(engine, f, bar))
            if results[-1].failed:
                break  # later files may be updates of this one: not applied out of order
        # Also after a failure: the sales stored before it are in the index.
        moved = importer.relocate(engine)
        with rebuild_progress(enabled=not quiet) as step:
            model = calibration.rebuild_model(engine, step)
    except DoorstepError as e:
        fail(e.message)
    failed = [r for r in results if r.failed]
    skipped = [str(f) for f in files[len(results) :]]
    rows = sum(r.rows for r in results)
    nothing = rows > 0 and not any(r.stored or r.deleted for r in results)
    out = {
        "ok": not failed and not nothing,
        "files": [asdict(r) for r in results],
        "not_imported": skipped,
        "rows": rows,
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
        + (
            "\n  not usable for valuations: "
            + ", ".join(f"{n:,} {why}" for why, n in sorted(r.unusable.items()))
            if r.unusable
            else ""
        )
        + r.errors_text(" malformed rows")
        + (f"\n  STOPPED: {r.failed}" if r.failed else "")
        for r in results
    ]
    if skipped:
        lines.append("Not imported (after the failure): " + ", ".join(skipped))
    lines.append(
        f"Price index from {model['sales']:,} sales, {model['first_month']} to "
        f"{model['last_month']}. Range calibrated on {cal['sales']:,} held-out sales"
        + (f" (MdAPE {cal['mdape']}%)." if cal["mdape"] is not None else f": {cal['note']}")
    )
    emit(out, as_json, "\n".join(lines))
    if failed or nothing:
        # The summary is out (stdout); the exit status tells a script or cron job.
        why = f"{failed[0].file}: {failed[0].failed}" if failed else "no row could be imported."
        failed_after_summary(why)
