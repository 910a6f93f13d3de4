"""An account's telephony provider, as AUTOMATION.md gives it."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, session
from doorstep.telephony import service
from doorstep.telephony.service import TelephonyInput

app = typer.Typer(help="Texts and calls: the account's provider.", no_args_is_help=True)


@app.command("set")
def set_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    provider: Annotated[str, typer.Option("--provider", help="twilio, or log (send nothing).")],
    account_sid: Annotated[str | None, typer.Option("--account-sid", help="AC…")] = None,
    auth_token: Annotated[
        str | None, typer.Option("--auth-token", help="Kept, never shown again in full.")
    ] = None,
    sms_from: Annotated[
        str | None,
        typer.Option("--sms-from", help="The number (UK) or Messaging Service (MG…) texts use."),
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Set the account's provider; an omitted --auth-token keeps the stored one."""
    with session() as s:
        get_account(s, account)
        t = service.set_telephony(
            s, account, TelephonyInput(provider, account_sid, auth_token, sms_from)
        )
        out = {"account_id": account, **service.as_dict(t)}
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


@app.command("show")
def show(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """The account's provider (the auth token shown by its last four characters)."""
    with session() as s:
        get_account(s, account)
        out = {"account_id": account, **service.as_dict(service.get(s, account))}
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
