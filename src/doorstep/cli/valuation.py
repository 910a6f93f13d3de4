from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli.common import JsonOpt, emit, fail
from doorstep.errors import DoorstepError
from doorstep.valuation import backtest as bt
from doorstep.valuation import yields

app = typer.Typer(help="Instant valuation: back-test and settings.", no_args_is_help=True)

_LIST_OPTIONS = {"--train": "train", "--test": "test", "--geo": "geo"}


@app.command(
    "backtest",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def backtest(
    ctx: typer.Context,
    as_json: bool = JsonOpt,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Value held-out sales and measure the error.

    Usage: doorstep valuation backtest --train FILE... --test FILE... [--geo FILE...] [--json]

    --train: Price Paid Data files the model learns from (imported into a scratch database;
    yours is not touched). --test: files whose sales (category A, D/S/T/F) are each valued as
    of their own date. --geo: unit-postcode coordinates (as for `doorstep geo import`);
    without it, sector and district centroids locate postcodes.

    Prints count, mdape (median absolute percentage error, %), within_10pct and within_20pct
    (% of sales), interval_coverage (% of prices inside min..max)."""
    lists: dict[str, list[Path]] = {"train": [], "test": [], "geo": []}
    current: str | None = None
    for arg in ctx.args:
        if arg in _LIST_OPTIONS:
            current = _LIST_OPTIONS[arg]
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in _LIST_OPTIONS:
            name, value = arg.split("=", 1)
            lists[_LIST_OPTIONS[name]].append(Path(value))
        elif arg.startswith("-"):
            fail(f"Unknown option {arg}. Usage: --train FILE... --test FILE... [--geo FILE...]")
        elif current is None:
            fail(f"{arg}: say whether it is a --train or a --test file.")
        else:
            lists[current].append(Path(arg))
    if not lists["train"] or not lists["test"]:
        fail("Give at least one --train file and one --test file.")
    for f in lists["train"] + lists["test"] + lists["geo"]:
        if not f.is_file():
            fail(f"No such file: {f}")

    try:
        result = bt.run(lists["train"], lists["test"], lists["geo"], show_progress=not quiet)
    except DoorstepError as e:
        fail(e.message)
    emit(
        result,
        as_json,
        f"{result['count']:,} sales valued: MdAPE {result['mdape']}%, "
        f"{result['within_10pct']}% within 10%, {result['within_20pct']}% within 20%, "
        f"{result['interval_coverage']}% inside the range.",
    )


@app.command("yields")
def show_yields(as_json: bool = JsonOpt) -> None:
    """The gross rental yields (%) in force by region: defaults with DOORSTEP_RENTAL_YIELDS
    over them. Rents come from sale estimate x yield / 12 where there are no lettings."""
    table = yields.table()
    emit(
        {"yields": table},
        as_json,
        "\n".join(f"{k:<28} {v:.2f}%" for k, v in table.items()),
    )
