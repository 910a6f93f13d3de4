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


def simulator(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8010,
    account_sid: Annotated[
        str | None, typer.Option("--account-sid", help="The account it accepts (AC…).")
    ] = None,
    auth_token: Annotated[
        str | None, typer.Option("--auth-token", help="Its auth token (signs callbacks).")
    ] = None,
    time_scale: Annotated[
        float, typer.Option("--time-scale", help="Real seconds per simulated second.")
    ] = 0.2,
) -> None:
    """Run the Twilio simulator (texts and calls) for the demo: point DOORSTEP_TWILIO_API_URL
    at it. It plays every phone: negotiators answer and press 1, leads answer and talk."""
    import time

    from doorstep.demo import DEMO_TWILIO_SID, DEMO_TWILIO_TOKEN
    from doorstep.telephony.simulator import TwilioSimulator, running_twilio_sim

    sim = TwilioSimulator(time_scale=time_scale)
    sim.accounts[account_sid or DEMO_TWILIO_SID] = auth_token or DEMO_TWILIO_TOKEN
    with running_twilio_sim(port, sim) as running:
        typer.echo(f"Twilio simulator on {running.base_url} (Ctrl-C stops it)", err=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
