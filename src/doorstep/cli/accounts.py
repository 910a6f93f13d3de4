from enum import StrEnum
from typing import Annotated

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


class OnOff(StrEnum):
    on = "on"
    off = "off"


@app.command("update")
def update(
    account_id: Annotated[int, typer.Argument(help="Account id.")],
    linked_leads_same_office: Annotated[
        OnOff | None,
        typer.Option(
            "--linked-leads-same-office",
            case_sensitive=False,
            help="on: a lead created by a questionnaire's answers (a buyer's home to sell) "
            "stays in the office of the lead it came from; off (the default): it is routed "
            "by its own postcode.",
        ),
    ] = None,
    strict_progression: Annotated[
        OnOff | None,
        typer.Option(
            "--strict-progression",
            case_sensitive=False,
            help="on: a lead moves from New to Contacted only through a connected call, and "
            "every other status change needs a note (status_note in the API); off (the "
            "default): statuses change freely, a note is optional.",
        ),
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Change an account's settings."""
    with session() as s:
        account = service.update_account(
            s,
            account_id,
            linked_leads_same_office=(
                None if linked_leads_same_office is None else linked_leads_same_office is OnOff.on
            ),
            strict_progression=(
                None if strict_progression is None else strict_progression is OnOff.on
            ),
        )
        out = service.settings_of(account)
    same = "on" if out["linked_leads_same_office"] else "off"
    strict = "on" if out["strict_progression"] else "off"
    emit(
        out,
        as_json,
        f"Account {out['id']} ({out['name']}): linked leads same office {same}, "
        f"strict progression {strict}",
    )
