"""Sign-in and sign-out pages: the dashboard's only public routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from doorstep.auth import session as web_session
from doorstep.auth.dashboard import check_csrf
from doorstep.db import SessionDep
from doorstep.users import service as users
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
def login_page(request: Request, next: str | None = None) -> Response:
    if web_session.read(request) is not None and not next:
        return redirect(request, "/leads")
    return render(request, "auth/login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/leads",
) -> Response:
    result = users.sign_in(session, email, password)
    if result.user is None:
        # The failed attempt is counted: the session dependency commits this 401 response.
        return render(
            request,
            "auth/login.html",
            {"next": _safe_next(next), "email": email, "error": result.message},
            status_code=401,
        )
    response = redirect(request, _safe_next(next))
    web_session.start(request, response, result.user.id, result.user.session_version)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = redirect(request, "/login", "You have signed out.")
    web_session.end(request, response)
    return response
