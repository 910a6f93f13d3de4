from dataclasses import asdict, replace
from typing import Annotated, Any

import typer

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, session
from doorstep.errors import NotFound, is_row_id
from doorstep.models import Office
from doorstep.offices import contact, service

app = typer.Typer(help="Branch offices and their postcode coverage.", no_args_is_help=True)


@app.command("create")
def create(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    name: Annotated[str, typer.Option("--name", help="Office name.")],
    postcode: Annotated[str, typer.Option("--postcode", help="The office's own postcode.")],
    coverage: Annotated[
        str,
        typer.Option(
            "--coverage", help='Covered areas, districts, sectors, units: "NG1,NG2 4,DE".'
        ),
    ] = "",
    as_json: bool = JsonOpt,
) -> None:
    """Create an office with its coverage."""
    with session() as s:
        get_account(s, account)
        office = service.create_office(s, account, name, postcode, [coverage])
        out = {"id": office.id, "name": office.name}
    emit(out, as_json, f"Created office {out['id']}: {out['name']}")


@app.command("list")
def list_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """List an account's offices with their coverage."""
    with session() as s:
        acc = get_account(s, account)
        coverage = service.coverage_by_office(s, account)
        rows: list[dict[str, Any]] = [
            {
                "id": o.id,
                "name": o.name,
                "postcode": o.postcode,
                "is_default": o.id == acc.default_office_id,
                "coverage": coverage.get(o.id, []),
            }
            for o in service.list_offices(s, account)
        ]
    human = "\n".join(
        f"{r['id']}\t{r['name']}\t{r['postcode'] or ''}\t{', '.join(r['coverage'])}"
        + ("\t(default)" if r["is_default"] else "")
        for r in rows
    )
    emit({"account_id": account, "offices": rows}, as_json, human or "No offices.")


@app.command("contact")
def contact_(
    office_id: Annotated[int, typer.Argument(help="Office id.")],
    email: Annotated[str | None, typer.Option("--email", help="Sender and alert address.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="A UK number.")] = None,
    sender_name: Annotated[str | None, typer.Option("--sender-name")] = None,
    address: Annotated[str | None, typer.Option("--address")] = None,
    hours: Annotated[
        str | None,
        typer.Option("--hours", help='UK time: "Mon-Fri 09:00-17:30, Sat 09:00-13:00".'),
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Set how an office answers leads (only the options given change; "" clears one)."""
    with session() as s:
        office = s.get(Office, office_id) if is_row_id(office_id) else None
        if office is None:
            raise NotFound(f"There is no office {office_id}.")
        now = contact.contact_of(office)
        given = {"email": email, "phone": phone, "sender_name": sender_name,
                 "address": address, "opening_hours": hours}  # fmt: skip
        data = replace(now, **{k: v for k, v in given.items() if v is not None})
        contact.set_contact(s, office, data)
        out = {"id": office.id, "name": office.name, **asdict(contact.contact_of(office))}
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


@app.command("autocaller")
def autocaller(
    office_id: Annotated[int, typer.Argument(help="Office id.")],
    on: Annotated[
        bool | None,
        typer.Option("--on/--off", help="Ring new leads (or stop).", show_default=False),
    ] = None,
    from_number: Annotated[
        str | None, typer.Option("--from-number", help="The office's UK number calls show.")
    ] = None,
    negotiator: Annotated[
        list[str] | None,
        typer.Option("--negotiator", help="A negotiator's UK number; repeat, in ringing order."),
    ] = None,
    ring_mode: Annotated[
        str | None, typer.Option("--ring-mode", help="sequential or simultaneous.")
    ] = None,
    ring_seconds: Annotated[
        int | None, typer.Option("--ring-seconds", help="Per phone, 15-60 (default 20).")
    ] = None,
    hours: Annotated[
        str | None,
        typer.Option("--hours", help='Calling hours, UK time: "Mon-Fri 09:00-17:30" ("" clears).'),
    ] = None,
    attempts: Annotated[
        int | None, typer.Option("--attempts", help="Attempts per lead (default 3).")
    ] = None,
    retry_minutes: Annotated[
        str | None, typer.Option("--retry-minutes", help='Waits between attempts: "10,30".')
    ] = None,
    daily_cap: Annotated[
        int | None, typer.Option("--daily-cap", help="Calls to one lead per 24 h (default 3).")
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Show or set an office's autocaller (only the options given change)."""
    from doorstep.autocaller import settings as autocaller_settings
    from doorstep.errors import ValidationFailed

    with session() as s:
        waits: list[int] | None = None
        if retry_minutes is not None:
            try:
                waits = [int(x) for x in retry_minutes.replace(" ", "").split(",") if x]
            except ValueError:
                raise ValidationFailed.field(
                    "retry_minutes",
                    f"{retry_minutes!r}: whole minutes separated by commas, e.g. 10,30.",
                ) from None
        office = s.get(Office, office_id) if is_row_id(office_id) else None
        if office is None:
            raise NotFound(f"There is no office {office_id}.")
        data = autocaller_settings.AutocallerInput(
            enabled=on,
            from_number=from_number,
            negotiators=negotiator,
            ring_mode=ring_mode,
            ring_seconds=ring_seconds,
            calling_hours=hours,
            max_attempts=attempts,
            retry_minutes=waits,
            daily_cap=daily_cap,
        )
        given = any(v is not None for v in vars(data).values())
        settings = (
            autocaller_settings.set_autocaller(s, office, data)
            if given
            else autocaller_settings.of(s, office)
        )
        out = autocaller_settings.as_dict(office, settings)
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
