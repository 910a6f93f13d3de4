from typing import Annotated, Any

import typer

from doorstep import numbers
from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, session
from doorstep.models.status import STAGES
from doorstep.statuses import service

app = typer.Typer(help="Lead statuses.", no_args_is_help=True)

_STAGE_BY_NAME = {v.lower(): k for k, v in STAGES.items()}


def _stage(value: str) -> int:
    v = value.strip().lower()
    if (stage := numbers.whole(v)) is not None:
        return stage
    if v in _STAGE_BY_NAME:
        return _STAGE_BY_NAME[v]
    raise typer.BadParameter("use 50/Unread, 100/'In progress' or 150/Closed")


@app.command("create")
def create(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    name: Annotated[str, typer.Option("--name", help="Status name.")],
    stage: Annotated[str, typer.Option("--stage", help="50 Unread, 100 In progress, 150 Closed.")],
    as_json: bool = JsonOpt,
) -> None:
    """Add an account's own status under a stage."""
    with session() as s:
        get_account(s, account)
        st = service.create_status(s, account, name, _stage(stage))
        out = {"id": st.id, "name": st.name, "stageId": st.stage_id, "isPredefined": False}
    emit(out, as_json, f"Created status {out['id']}: {out['name']} ({STAGES[st.stage_id]})")


@app.command("list")
def list_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """List the statuses an account can use."""
    with session() as s:
        get_account(s, account)
        rows: list[dict[str, Any]] = [
            {"id": x.id, "name": x.name, "stageId": x.stage_id, "isPredefined": x.is_predefined}
            for x in service.list_statuses(s, account)
        ]
    emit(
        {"account_id": account, "statuses": rows},
        as_json,
        "\n".join(f"{r['id']}\t{r['name']}\t{STAGES[r['stageId']]}" for r in rows),
    )
