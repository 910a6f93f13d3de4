import sys
from typing import Annotated

import typer

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, fail, session
from doorstep.users import service

app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)


def _read_password() -> str:
    """From a prompt on a terminal (asked twice), else the first line of stdin."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@app.command("create")
def create(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    email: Annotated[str, typer.Option("--email", help="Sign-in email.")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="admin (everything), leader (every office's leads) or agent (own offices).",
        ),
    ],
    office: Annotated[
        list[int] | None,
        typer.Option("--office", help="An office of an agent (repeat for several)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Create a dashboard user. The password comes from a prompt, or from stdin when it is
    not a terminal (e.g. `echo "$PW" | doorstep users create ...`)."""
    password = _read_password()
    if not password:
        fail("No password given.")
    with session() as s:
        get_account(s, account)
        user = service.create_user(s, account, email, password, role, office or [], name)
        out = {
            "id": user.id,
            "account_id": user.account_id,
            "email": user.email,
            "role": user.role,
            "office_ids": service.office_ids_of(s, user.id),
        }
    emit(out, as_json, f"Created {out['role']} {out['email']} (user {out['id']}).")


@app.command("list")
def list_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """List an account's dashboard users."""
    with session() as s:
        get_account(s, account)
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "office_ids": service.office_ids_of(s, u.id),
            }
            for u in service.list_users(s, account)
        ]
    emit(
        {"account_id": account, "users": rows},
        as_json,
        "\n".join(f"{r['id']}\t{r['email']}\t{r['role']}" for r in rows) or "No users.",
    )
