"""The administrator's command line: ``doorstep --help`` lists every command."""

from __future__ import annotations

import typer

from doorstep.cli import (
    accounts,
    db,
    geo,
    offices,
    prices,
    rents,
    serve,
    statuses,
    tokens,
    users,
    valuation,
)

app = typer.Typer(
    help="Doorstep: lead management for UK estate and letting agents.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(accounts.app, name="accounts")
app.add_typer(offices.app, name="offices")
app.add_typer(statuses.app, name="statuses")
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.app, name="users")
app.add_typer(geo.app, name="geo")
app.add_typer(prices.app, name="prices")
app.add_typer(rents.app, name="rents")
app.add_typer(valuation.app, name="valuation")
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)


def main() -> None:
    app()
