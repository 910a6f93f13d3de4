from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from doorstep import db
from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail, failed_after_summary, session
from doorstep.errors import DoorstepError
from doorstep.imports import progress
from doorstep.valuation.rents import import_rents

app = typer.Typer(help="Rental evidence: an agency's own lettings.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header: postcode, monthly_rent (or weekly_rent) and date, and "
            "optionally bedrooms, property_type, reference and address (UTF-8 or "
            "Windows-1252, .gz or not)."
        ),
    ],
    account: Annotated[
        int | None,
        typer.Option(
            "--account",
            help="The agency whose lettings these are: only its valuations use them. "
            "Without it the evidence is shared with every account on this server.",
        ),
    ] = None,
    as_json: bool = JsonOpt,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Load lettings as rental evidence for rent estimates. Idempotent: a row with a
    reference updates that letting; a row without one is keyed by its values (and by how
    many identical rows precede it). Exits 1 when no row could be stored or the file
    could not be read to its end."""
    ensure_schema()
    if file.is_dir():
        fail(f"{file} is a directory, not a file.")
    if not file.is_file():
        fail(f"No such file: {file}")
    if account is not None:
        with session() as s:
            get_account(s, account)
    try:
        with progress(f"Importing {file.name}", file.stat().st_size, enabled=not quiet) as bar:
            result = import_rents(db.get_engine(), file, account, bar)
    except DoorstepError as e:
        fail(e.message)
    nothing = result.rows > 0 and not result.stored
    out = {"account_id": account, "ok": not result.failed and not nothing, **asdict(result)}
    emit(
        out,
        as_json,
        f"{result.stored:,} lettings stored from {result.rows:,} rows "
        f"({result.invalid:,} invalid, {result.duplicates:,} repeated references)"
        + (" read as Windows-1252" if result.encoding == "cp1252" else "")
        + result.errors_text()
        + (f"\n  STOPPED: {result.failed}" if result.failed else ""),
    )
    if result.failed or nothing:
        # The summary is out (stdout); the exit status tells a script or cron job.
        failed_after_summary(result.failed or "no row could be stored.")
