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
    as_json: bool = JsonOpt,
) -> None:
    """Create a token. It is shown once: only its hash is stored."""
    with session() as s:
        get_account(s, account)
        new = service.create_token(s, account, name, rate_limit)
        out = {"id": new.token.id, "token": new.secret, "account_id": account}
    emit(out, as_json, f"Token {out['id']} ({name}): {out['token']}\nIt will not be shown again.")


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
        rows: list[dict[str, Any]] = [
            {
                "id": t.id,
                "name": t.name,
                "prefix": t.prefix,
                "rate_limit_per_minute": t.rate_limit_per_minute,
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
