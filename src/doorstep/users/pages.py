"""Users in the dashboard: the Users page for admins (add by invitation link or first
password, role and offices, disable and enable, reset password, unlock, sign out everywhere),
every user's own Account page (password, phone, sign out everywhere), and the public page an
invitation or reset link opens to set a password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from doorstep.auth import session as web_session
from doorstep.auth.dashboard import AdminUser, CurrentUser, check_csrf
from doorstep.db import SessionDep
from doorstep.errors import NotFound, ValidationFailed
from doorstep.models import User
from doorstep.models.user import ROLES
from doorstep.numbers import path_id, whole
from doorstep.offices.service import list_offices
from doorstep.tokens.pages import base_url
from doorstep.users import service, signin
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


def _offices(raw: list[str]) -> list[int]:
    """Office ids from the form's checkboxes; anything else is an id no office has (0)."""
    return [whole(v.strip()) or 0 for v in raw if v.strip()]


def _users_page(
    request: Request,
    session: Session,
    admin: User,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    link: dict[str, str] | None = None,
    user_errors: dict[int, dict[str, list[str]]] | None = None,
    status_code: int = 200,
) -> Response:
    users = service.list_users(session, admin.account_id)
    return render(
        request,
        "users/list.html",
        {
            "users": users,
            "offices": list_offices(session, admin.account_id),
            "office_ids": {u.id: service.office_ids_of(session, u.id) for u in users},
            "failures": signin.recent_failures(session, [u.email for u in users]),
            "free_failures": signin.EMAIL_FREE_FAILURES,
            "roles": ROLES,
            "me": admin.id,
            "form": form or {"email": "", "name": "", "role": "agent", "offices": []},
            "errors": errors or {},
            "user_errors": user_errors or {},
            "link": link,
        },
        status_code=status_code,
    )


def _link(request: Request, token: str) -> str:
    return f"{base_url(request)}/invite/{token}"


@router.get("/users")
def users_page(request: Request, admin: AdminUser, session: SessionDep) -> Response:
    return _users_page(request, session, admin)


@router.post("/users")
def add_user(
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    offices: Annotated[list[str] | None, Form()] = None,
    password: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email, "name": name, "role": role, "offices": offices or []}
    try:
        if password:
            user = service.create_user(
                session, admin.account_id, email, password, role, _offices(offices or []), name
            )
            link = None
        else:
            user, token = service.create_invited_user(
                session, admin.account_id, email, role, _offices(offices or []), name
            )
            link = {"email": user.email, "url": _link(request, token), "kind": "invitation"}
    except ValidationFailed as e:
        session.rollback()
        return _users_page(request, session, admin, form=form, errors=e.errors, status_code=422)
    if link is None:
        return redirect(request, "/users", f"{user.email} can sign in with the password you set.")
    return _users_page(request, session, admin, link=link)


def _user_action(
    request: Request, session: Session, admin: User, user_id: str, action: Any, done: str
) -> Response:
    try:
        user = service.get_user(session, admin.account_id, path_id(user_id, "user"))
        action(user)
    except ValidationFailed as e:
        session.rollback()
        return redirect(request, "/users", e.reasons, "error")
    return redirect(request, "/users", done.format(email=user.email))


@router.post("/users/{user_id}/update")
def update_user(
    request: Request,
    user_id: str,
    admin: AdminUser,
    session: SessionDep,
    role: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    offices: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def act(user: User) -> None:
        service.update_user(
            session, admin.account_id, user.id, role=role, office_ids=_offices(offices or []),
            name=name,
        )  # fmt: skip

    return _user_action(request, session, admin, user_id, act, "{email}: role and offices saved.")


@router.post("/users/{user_id}/disable")
def disable_user(request: Request, user_id: str, admin: AdminUser, session: SessionDep) -> Response:
    def act(user: User) -> None:
        service.set_disabled(session, admin.account_id, user.id, True)

    return _user_action(
        request, session, admin, user_id, act, "{email} is disabled and signed out everywhere."
    )


@router.post("/users/{user_id}/enable")
def enable_user(request: Request, user_id: str, admin: AdminUser, session: SessionDep) -> Response:
    def act(user: User) -> None:
        service.set_disabled(session, admin.account_id, user.id, False)

    return _user_action(request, session, admin, user_id, act, "{email} can sign in again.")


@router.post("/users/{user_id}/unlock")
def unlock_user(request: Request, user_id: str, admin: AdminUser, session: SessionDep) -> Response:
    def act(user: User) -> None:
        signin.unlock(session, user.email)

    return _user_action(
        request, session, admin, user_id, act, "{email}: failed sign-ins forgotten."
    )


@router.post("/users/{user_id}/sign-out")
def sign_out_user(
    request: Request, user_id: str, admin: AdminUser, session: SessionDep
) -> Response:
    def act(user: User) -> None:
        signin.end_sessions(session, user.id)

    return _user_action(request, session, admin, user_id, act, "{email} is signed out everywhere.")


@router.post("/users/{user_id}/reset-password")
def reset_password(
    request: Request,
    user_id: str,
    admin: AdminUser,
    session: SessionDep,
    password: Annotated[str, Form()] = "",
) -> Response:
    """A new password typed by the admin, or (left empty) a link for the user to set one;
    either way every session of the user ends."""
    try:
        user = service.get_user(session, admin.account_id, path_id(user_id, "user"))
        if password:
            service.set_password(session, user, password)
            return redirect(request, "/users", f"{user.email}: new password set, signed out.")
        signin.end_sessions(session, user.id)
        link = {
            "email": user.email,
            "url": _link(request, service.invitation(user)),
            "kind": "reset",
        }
    except ValidationFailed as e:
        session.rollback()
        return redirect(request, "/users", e.reasons, "error")
    return _users_page(request, session, admin, link=link)


# -- the user's own account --------------------------------------------------------------


def _account_page(
    request: Request,
    user: User,
    *,
    errors: dict[str, list[str]] | None = None,
    phone: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "users/account.html",
        {
            "me": user,
            "phone": user.phone or "" if phone is None else phone,
            "errors": errors or {},
            "min_password": service.MIN_PASSWORD,
        },
        status_code=status_code,
    )


@router.get("/account")
def account_page(request: Request, user: CurrentUser) -> Response:
    return _account_page(request, user)


@router.post("/account/password")
def change_password(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.change_own_password(
            session,
            user,
            current_password,
            new_password,
            repeat_password,
            getattr(request.state, "session_id", None),
        )
    except ValidationFailed as e:
        session.rollback()
        return _account_page(request, user, errors=e.errors, status_code=422)
    return redirect(
        request, "/account", "Password changed. Your other sessions have been signed out."
    )


@router.post("/account/phone")
def set_phone(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    phone: Annotated[str, Form()] = "",
) -> Response:
    try:
        stored = service.set_phone(session, user, phone)
    except ValidationFailed as e:
        session.rollback()
        return _account_page(request, user, errors=e.errors, phone=phone, status_code=422)
    done = f"Your phone is {stored}." if stored else "Your phone number is removed."
    return redirect(request, "/account", done)


@router.post("/account/sign-out-everywhere")
def sign_out_everywhere(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    signin.end_sessions(session, user.id)
    response = redirect(request, "/login", "You have signed out everywhere.")
    web_session.end(request, response)
    return response


# -- invitation and reset links ------------------------------------------------------------


def _invited(session: Session, token: str) -> User:
    user = service.user_of_invitation(session, token)
    if user is None:
        raise NotFound(
            "This link has expired or has already been used. Ask an admin of your account "
            "for a new one."
        )
    return user


@router.get("/invite/{token}")
def invitation_page(request: Request, token: str, session: SessionDep) -> Response:
    user = _invited(session, token)
    return render(
        request,
        "users/invite.html",
        {"invited": user, "errors": {}, "min_password": service.MIN_PASSWORD},
        headers={"Referrer-Policy": "no-referrer"},
    )


@router.post("/invite/{token}")
def accept_invitation(
    request: Request,
    token: str,
    session: SessionDep,
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    user = _invited(session, token)
    errors = service.password_errors(new_password)
    if new_password != repeat_password:
        errors["repeat_password"] = ["The two passwords are not the same."]
    if errors:
        return render(
            request,
            "users/invite.html",
            {"invited": user, "errors": errors, "min_password": service.MIN_PASSWORD},
            status_code=422,
            headers={"Referrer-Policy": "no-referrer"},
        )
    service.set_password(session, user, new_password)
    return redirect(request, "/login", "Your password is set: sign in with it.")
