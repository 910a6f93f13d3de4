import sys
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.accounts.service import get_account
from doorstep.cli.common import JsonOpt, emit, fail, session
from doorstep.config import get_settings
from doorstep.errors import NotFound
from doorstep.models import User
from doorstep.numbers import row_id
from doorstep.users import service, signin

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
    invite: Annotated[
        bool,
        typer.Option(
            "--invite",
            help="No password now: print a link (valid 7 days, once) where the user sets one.",
        ),
    ] = False,
    as_json: bool = JsonOpt,
) -> None:
    """Create a dashboard user. The password comes from a prompt, or from stdin when it is
    not a terminal (e.g. `echo "$PW" | doorstep users create ...`); with --invite, the user
    sets it through the printed link."""
    password = "" if invite else _read_password()
    if not invite and not password:
        fail("No password given.")
    with session() as s:
        get_account(s, account)
        if invite:
            user, token = service.create_invited_user(s, account, email, role, office or [], name)
        else:
            user = service.create_user(s, account, email, password, role, office or [], name)
            token = None
        out = _describe(s, user)
        if token is not None:
            out["invitation_url"] = _link(token)
    human = f"Created {out['role']} {out['email']} (user {out['id']})."
    if token is not None:
        human += f" Send them this link to set a password: {out['invitation_url']}"
    emit(out, as_json, human)


def _link(token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/invite/{token}"


def _describe(s: Session, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "account_id": user.account_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "office_ids": service.office_ids_of(s, user.id),
        "phone": user.phone,
        "disabled": user.disabled_at is not None,
    }


def _find(s: Session, ident: str) -> User:
    """A user by id or by e-mail."""
    n = row_id(ident.strip())
    if n is not None:
        user = s.get(User, n)
    else:
        user = s.scalar(select(User).where(User.email == signin.normalise_email(ident)))
    if user is None:
        raise NotFound(f"There is no user {ident}.")
    return user


UserArg = Annotated[str, typer.Argument(help="The user's id or e-mail address.")]


@app.command("update")
def update(
    user: UserArg,
    role: Annotated[str | None, typer.Option("--role", help="admin, leader or agent.")] = None,
    office: Annotated[
        list[int] | None,
        typer.Option("--office", help="The user's offices (repeat; replaces the list)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help='A UK number ("Call this lead"); "" clears.')
    ] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Change a user's role, offices, name or phone."""
    with session() as s:
        found = _find(s, user)
        service.update_user(s, found.account_id, found.id, role=role, office_ids=office, name=name)
        if phone is not None:
            service.set_phone(s, found, phone)
        out = _describe(s, found)
    emit(out, as_json, f"Updated {out['email']}: {out['role']}, offices {out['office_ids']}.")


@app.command("disable")
def disable(user: UserArg, as_json: bool = JsonOpt) -> None:
    """Disable a user: every session ends at once and sign-in is refused."""
    _set_disabled(user, True, as_json, "Disabled {email} and signed them out everywhere.")


@app.command("enable")
def enable(user: UserArg, as_json: bool = JsonOpt) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(user, False, as_json, "Enabled {email}.")


def _set_disabled(user: str, disabled: bool, as_json: bool, done: str) -> None:
    with session() as s:
        found = _find(s, user)
        service.set_disabled(s, found.account_id, found.id, disabled)
        out = _describe(s, found)
    emit(out, as_json, done.format(email=out["email"]))


@app.command("reset-password")
def reset_password(
    user: UserArg,
    link: Annotated[
        bool, typer.Option("--link", help="Print a link where the user sets a new password.")
    ] = False,
    as_json: bool = JsonOpt,
) -> None:
    """A new password (prompt, or stdin), or with --link a link for the user to set one.
    Either way every session of the user ends."""
    password = "" if link else _read_password()
    if not link and not password:
        fail("No password given.")
    with session() as s:
        found = _find(s, user)
        if link:
            signin.end_sessions(s, found.id)
            out = {**_describe(s, found), "reset_url": _link(service.invitation(found))}
        else:
            service.set_password(s, found, password)
            out = _describe(s, found)
    human = f"Signed {out['email']} out everywhere; "
    human += f"send them {out['reset_url']}" if link else "the new password is set."
    emit(out, as_json, human)


@app.command("unlock")
def unlock(user: UserArg, as_json: bool = JsonOpt) -> None:
    """Forget a user's failed sign-ins, so they can try again at once."""
    with session() as s:
        found = _find(s, user)
        forgotten = signin.unlock(s, found.email)
        out = {**_describe(s, found), "failures_forgotten": forgotten}
    emit(out, as_json, f"{out['email']}: {forgotten} failed sign-ins forgotten.")


@app.command("sign-out")
def sign_out(user: UserArg, as_json: bool = JsonOpt) -> None:
    """End every session of a user ("sign out everywhere")."""
    with session() as s:
        found = _find(s, user)
        ended = signin.end_sessions(s, found.id)
        out = {**_describe(s, found), "sessions_ended": ended}
    emit(out, as_json, f"{out['email']}: {ended} sessions ended.")


@app.command("list")
def list_(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    as_json: bool = JsonOpt,
) -> None:
    """List an account's dashboard users."""
    with session() as s:
        get_account(s, account)
        rows = [_describe(s, u) for u in service.list_users(s, account)]
    emit(
        {"account_id": account, "users": rows},
        as_json,
        "\n".join(f"{r['id']}\t{r['email']}\t{r['role']}" for r in rows) or "No users.",
    )
