from typing import Annotated, Any

import typer
from sqlalchemy import select

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, session
from doorstep.leads.serialize import iso
from doorstep.models import RequestLog
from doorstep.tokens import service

app = typer.Typer(help="API tokens and their request logs.", no_args_is_help=True)


@app.command("create")
def create(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    name: Annotated[str, typer.Option("--name", help="A label, e.g. 'Website'.")],
    rate_limit: Annotated[
        int | None,
        typer.Option("--rate-limit", help="Requests a minute (0 = unlimited; default: server's)."),
    ] = None,
    publishable: Annotated[
        bool,
        typer.Option(
            "--publishable",
            help="A key for web pages: it may only create leads and look up addresses, and "
            "only from the --origin pages.",
        ),
    ] = False,
    origin: Annotated[
        list[str] | None,
        typer.Option(
            "--origin", help="A web origin the publishable key may be used from (repeatable)."
        ),
    ] = None,
    address_rate_limit: Annotated[
        int | None,
        typer.Option(
            "--address-rate-limit",
            help="Publishable: requests a minute from one client address (0 = unlimited; "
            "default: DOORSTEP_PUBLISHABLE_ADDRESS_LIMIT_PER_MINUTE).",
        ),
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Create a token. A secret token is shown once (only its hash is stored); a publishable
    one can be seen again on the Developer tab, as it is public on the pages that use it."""
    with session() as s:
        get_account(s, account)
        new = service.create_token(
            s,
            account,
            name,
            rate_limit,
            publishable=publishable,
            origins=origin or (),
            address_rate_limit=address_rate_limit,
        )
        out: dict[str, Any] = {"id": new.token.id, "token": new.secret, "account_id": account}
        if publishable:
            out["publishable"] = True
            out["origins"] = service.origins_of(s, [new.token.id])[new.token.id]
    human = f"Token {out['id']} ({name}): {out['token']}"
    if publishable:
        human += "\nPublishable, for pages on: " + ", ".join(out["origins"])
    else:
        human += "\nIt will not be shown again."
    emit(out, as_json, human)


@app.command("origins")
def origins(
    token_id: Annotated[int, typer.Argument(help="Token id (a publishable token).")],
    origin: Annotated[
        list[str], typer.Option("--origin", help="A web origin (repeatable); replaces the list.")
    ],
    as_json: bool = JsonOpt,
) -> None:
    """Set the web origins a publishable token may be used from."""
    with session() as s:
        t = service.set_origins(s, None, token_id, origin)
        listed = service.origins_of(s, [t.id])[t.id]
    emit(
        {"id": token_id, "origins": listed},
        as_json,
        f"Token {token_id} may be used from: " + ", ".join(listed),
    )


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="Token id.")], as_json: bool = JsonOpt
) -> None:
    """Revoke a token: it stops working at once."""
    with session() as s:
        t = service.revoke_token(s, None, token_id)
        out = {"id": t.id, "revoked_at": iso(t.revoked_at)}
    emit(out, as_json, f"Revoked token {token_id}.")


@app.command("list")
def list_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """Tokens with their request, success and failure counts and last use."""
    with session() as s:
        get_account(s, account)
        toks = service.list_tokens(s, account)
        st = service.stats(s, [t.id for t in toks])
        origins_by_token = service.origins_of(s, [t.id for t in toks])
        rows: list[dict[str, Any]] = [
            {
                "id": t.id,
                "name": t.name,
                "prefix": t.prefix,
                "rate_limit_per_minute": t.rate_limit_per_minute,
                "publishable": t.publishable,
                "origins": origins_by_token[t.id] if t.publishable else None,
                "created_at": iso(t.created_at),
                "revoked_at": iso(t.revoked_at),
                "requests": st[t.id].requests,
                "successes": st[t.id].successes,
                "failures": st[t.id].failures,
                "last_used_at": iso(st[t.id].last_used_at),
            }
            for t in toks
        ]
    human = "\n".join(
        f"{r['id']}\t{r['name']}\t{r['prefix']}…\trequests={r['requests']} ok={r['successes']} "
        f"failed={r['failures']} last={r['last_used_at'] or '-'}"
        + ("\tREVOKED" if r["revoked_at"] else "")
        for r in rows
    )
    emit({"account_id": account, "tokens": rows}, as_json, human or "No tokens.")


@app.command("log")
def log(
    token_id: Annotated[int, typer.Argument(help="Token id.")],
    limit: Annotated[int, typer.Option("--limit", help="Newest entries to show.")] = 50,
    as_json: bool = JsonOpt,
) -> None:
    """A token's request log, newest first."""
    with session() as s:
        t = service.get_token(s, None, token_id)
        entries = s.scalars(
            select(RequestLog)
            .where(RequestLog.token_id == t.id)
            .order_by(RequestLog.id.desc())
            .limit(limit)
        ).all()
        rows = [
            {
                "id": e.id,
                "time": iso(e.created_at),
                "method": e.method,
                "path": e.path,
                "query": e.query,
                "status_code": e.status_code,
                "duration_ms": e.duration_ms,
                "client_addr": e.client_addr,
                "user_agent": e.user_agent,
                "request_id": e.request_id,
                "body": e.body,
                "body_truncated": e.body_truncated,
                "error": e.error,
                "lead_id": e.lead_id,
            }
            for e in entries
        ]
    human = "\n".join(
        f"{r['time']}  {r['method']} {r['path']}  {r['status_code']}  {r['duration_ms']:.1f} ms"
        + (f"  lead {r['lead_id']}" if r["lead_id"] else "")
        + (f"  {r['error']}" if r["error"] else "")
        for r in rows
    )
    emit({"token_id": token_id, "entries": rows}, as_json, human or "No requests yet.")
