import typer

from doorstep.accounts import service
from doorstep.cli.common import JsonOpt, emit, session

app = typer.Typer(help="Agency accounts.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The agency's name."), as_json: bool = JsonOpt
) -> None:
    """Create an account."""
    with session() as s:
        account = service.create_account(s, name)
        out = {"id": account.id, "name": account.name}
    emit(out, as_json, f"Created account {out['id']}: {out['name']}")


@app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """List accounts."""
    with session() as s:
        rows = [{"id": a.id, "name": a.name} for a in service.list_accounts(s)]
    emit(
        {"accounts": rows},
        as_json,
        "\n".join(f"{r['id']}\t{r['name']}" for r in rows) or "No accounts.",
    )
