"""The only place a dashboard session becomes a user and an Actor (the API key's twin in
``auth.api_key``). Pages are protected by default: they depend on ``CurrentUser`` or one of
the role aliases; the sign-in page is the visible exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from doorstep.auth import session as web_session
from doorstep.auth.principal import Actor
from doorstep.db import SessionDep
from doorstep.errors import DoorstepError
from doorstep.models import Account, User
from doorstep.users import service as users
from doorstep.users import signin


@dataclass(frozen=True)
class SignedIn:
    id: int
    account_id: int
    email: str
    role: str


class LoginRequired(Exception):
    """No valid session: the error handler sends the browser to /login."""


class Forbidden(DoorstepError):
    status_code = 403


class CsrfFailed(DoorstepError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from Doorstep. Reload the page and try again."
        )


def _load_user(request: Request, session: SessionDep) -> User | None:
    session_id = web_session.read(request)
    if session_id is None:
        return None
    user = signin.user_of_session(session, session_id)
    if user is None:
        return None
    request.state.session_id = session_id
    # A plain copy for the templates: error pages render after the session has rolled back.
    request.state.user = SignedIn(user.id, user.account_id, user.email, user.role)
    account = session.get(Account, user.account_id)
    request.state.account_name = account.name if account else ""
    return user


def _current_user(user: Annotated[User | None, Depends(_load_user)]) -> User:
    if user is None:
        raise LoginRequired()
    return user


# For public pages that still show the navigation to a signed-in user.
OptionalUser = Annotated[User | None, Depends(_load_user)]
CurrentUser = Annotated[User, Depends(_current_user)]


def _actor(user: CurrentUser, session: SessionDep) -> Actor:
    return users.actor_for(session, user)


UserActor = Annotated[Actor, Depends(_actor)]


def _admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("Only an admin of the account can open this page.")
    return user


def _leader(user: CurrentUser) -> User:
    if user.role not in ("admin", "leader"):
        raise Forbidden("Only admins and team leaders can open this page.")
    return user


AdminUser = Annotated[User, Depends(_admin)]
LeaderUser = Annotated[User, Depends(_leader)]


async def check_csrf(request: Request) -> None:
    """Every unsafe dashboard request carries the CSRF token (form field or htmx header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if web_session.csrf_valid(request, request.headers.get(web_session.CSRF_HEADER)):
        return
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(web_session.CSRF_FIELD)
        if isinstance(value, str) and web_session.csrf_valid(request, value):
            return
    raise CsrfFailed()
