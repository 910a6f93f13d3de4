from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from doorstep import db
from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, ensure_schema, fail, session
from doorstep.errors import DoorstepError
from doorstep.imports import progress
from doorstep.valuation.rents import import_rents

app = typer.Typer(help="Rental evidence: an agency's own lettings.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header: postcode, bedrooms, property_type, monthly_rent (or "
            "weekly_rent), date, and optionally reference and address (.gz or not)."
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
    reference updates that letting; a row without one is keyed by its values."""
    ensure_schema()
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
    out = {"account_id": account, **asdict(result)}
    emit(
        out,
        as_json,
        f"{result.stored:,} lettings stored from {result.rows:,} rows "
        f"({result.invalid:,} invalid)" + "".join(f"\n  {e}" for e in result.errors),
    )
