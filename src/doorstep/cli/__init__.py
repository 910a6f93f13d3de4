"""The administrator's command line: ``doorstep --help`` lists every command."""

from __future__ import annotations

import typer

from doorstep.cli import (
    accounts,
    db,
    geo,
    jobs,
    keys,
    offices,
    prices,
    rents,
    serve,
    statuses,
    telephony,
    tokens,
    users,
    valuation,
    webhooks,
    workflows,
)
from doorstep.config import get_settings

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
app.add_typer(keys.app, name="keys")
app.add_typer(jobs.app, name="jobs")
app.add_typer(workflows.app, name="workflows")
app.add_typer(telephony.app, name="telephony")
app.add_typer(webhooks.app, name="webhooks")
app.command("worker")(jobs.worker)
app.command("serve")(serve.serve)
app.command("simulator")(telephony.simulator)


@app.callback()
def _settings_check() -> None:
    # Every command refuses settings a server would refuse (an unknown environment name, a
    # short secret key), before it touches anything.
    try:
        get_settings().check()
    except RuntimeError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(1) from None


app.command("demo")(serve.demo)


def main() -> None:
    app()
