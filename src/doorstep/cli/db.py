import typer

from doorstep import migrate

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Bring the schema up to date (every other command does this first)."""
    migrate.upgrade()
    typer.echo("The database schema is up to date.")
