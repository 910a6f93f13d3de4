"""Sign-in and sign-out pages: the dashboard's only public routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from doorstep import db
from doorstep.auth import session as web_session
from doorstep.auth.dashboard import OptionalUser, check_csrf
from doorstep.users import signin
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/leads"


@router.get("/")
def home() -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse("/leads", status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None and not next:  # a session the server still holds open
        return redirect(request, "/leads")
    return render(request, "auth/login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/leads",
) -> Response:
    # No request-wide transaction here: signin.attempt reads, hashes with none open, then
    # writes in a short one of its own (see users.signin).
    client = (request.client.host if request.client else "") or ""
    result = await signin.attempt(email, password, client, request.headers.get("user-agent"))
    if result.token is None:
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else None
        return render(
            request,
            "auth/login.html",
            {"next": _safe_next(next), "email": email[:320], "error": result.message},
            status_code=429 if result.retry_after else 401,
            headers=headers,
        )
    response = redirect(request, _safe_next(next))
    web_session.start(request, response, result.token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session_id = web_session.read(request)
    if session_id is not None:
        await db.in_thread(_end, session_id)
    response = redirect(request, "/login", "You have signed out.")
    web_session.end(request, response)
    return response


def _end(session_id: str) -> None:
    with db.transaction() as s:
        signin.end_session(s, session_id)
