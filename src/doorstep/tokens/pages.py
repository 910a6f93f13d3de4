"""The Developer tab: API tokens (create shown once, revoke, usage) and the request log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from doorstep import numbers
from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.config import get_settings
from doorstep.db import SessionDep
from doorstep.errors import DoorstepError, ValidationFailed
from doorstep.http import parse_json
from doorstep.numbers import path_id, whole
from doorstep.tokens import requestlog, service, snippets
from doorstep.tokens.service import NewToken
from doorstep.valuepage import service as valuepage
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import is_fragment_request, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


def _page(
    request: Request,
    session: Session,
    account_id: int,
    *,
    new: NewToken | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    origin_errors: dict[int, dict[str, list[str]]] | None = None,
) -> Response:
    tokens = service.list_tokens(session, account_id)
    ids = [t.id for t in tokens]
    chosen = numbers.row_id(request.query_params.get("snippets"))
    if new is not None:
        chosen = new.token.id
    shown = next((t for t in tokens if t.id == chosen and t.revoked_at is None), None)
    page = valuepage.settings_of(session, account_id)
    return render(
        request,
        "developer/index.html",
        {
            **_log_context(request, session, account_id),
            "tokens": tokens,
            "stats": service.stats(session, ids),
            "origins": service.origins_of(session, ids),
            "log_days": get_settings().request_log_days,
            "new": new,
            "form": form or {"name": "", "rate_limit": "", "kind": "secret", "origins": ""},
            "errors": errors or {},
            "origin_errors": origin_errors or {},
            "snippet_token": shown,
            "snippets": snippets.snippets(
                base_url(request),
                shown,
                page.slug if page else None,
                new.secret if new is not None and shown is new.token else None,
            )
            if shown
            else [],
            "valuation_page": page,
        },
        status_code=status_code,
        headers=headers,
    )


def base_url(request: Request) -> str:
    """Where websites reach Doorstep: DOORSTEP_PUBLIC_URL when set, else the address this
    page was reached at."""
    settings = get_settings()
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def _log_context(request: Request, session: Session, account_id: int) -> dict[str, Any]:
    filters = requestlog.LogFilters.parse(dict(request.query_params))
    return {
        "filters": filters,
        "params": filters.params(),
        "log": requestlog.search(session, account_id, filters),
    }


@router.get("/developer")
def developer_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    if is_fragment_request(request) and request.headers.get("hx-target") == "request-log":
        return render(
            request, "developer/_log.html", _log_context(request, session, user.account_id)
        )
    return _page(request, session, user.account_id)


@router.get("/developer/tokens")
def tokens_get() -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse("/developer", status_code=303)


@router.post("/developer/tokens")
def create_token(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    rate_limit: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "secret",
    origins: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "rate_limit": rate_limit, "kind": kind, "origins": origins}
    publishable = kind == "publishable"
    limit: int | None = None
    if rate_limit.strip():
        limit = whole(rate_limit.strip())
        if limit is None:
            errors = {"rate_limit": ["Requests a minute: a whole number, 0 for unlimited."]}
            return _page(
                request, session, user.account_id, form=form, errors=errors, status_code=422
            )
    try:
        new = service.create_token(
            session,
            user.account_id,
            name,
            limit,
            publishable=publishable,
            origins=origins.split() if publishable else (),
        )
    except ValidationFailed as e:
        session.rollback()
        return _page(request, session, user.account_id, form=form, errors=e.errors, status_code=422)
    # Shown in this response only: it is not stored anywhere it could be read back.
    return _page(
        request,
        session,
        user.account_id,
        new=new,
        headers={"HX-Push-Url": "/developer", "Cache-Control": "no-store"},
    )


@router.post("/developer/tokens/{token_id}/origins")
def set_origins(
    request: Request,
    token_id: str,
    user: AdminUser,
    session: SessionDep,
    origins: Annotated[str, Form()] = "",
) -> Response:
    """A publishable token's origins, one a line: CORS and the embed's framing follow."""
    tid = path_id(token_id, "token")
    try:
        token = service.set_origins(session, user.account_id, tid, origins.split())
    except ValidationFailed as e:
        session.rollback()
        return _page(
            request,
            session,
            user.account_id,
            origin_errors={tid: e.errors or {}},
            status_code=422,
        )
    return redirect(
        request, "/developer", f"Token “{token.name}” now works from the origins listed."
    )


@router.post("/developer/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, user: AdminUser, session: SessionDep) -> Response:
    token = service.revoke_token(session, user.account_id, path_id(token_id, "token"))
    return redirect(request, "/developer", f"Token “{token.name}” revoked: it no longer works.")


def _pretty(body: str | None) -> str | None:
    """The body indented when the API could read it as JSON, else as received: a logged body
    may be anything a client sent (1,000 levels deep, a 5,000-digit number, "\\ud800")."""
    if not body:
        return body
    try:
        pretty = json.dumps(parse_json(body.encode()), indent=2, ensure_ascii=False)
        pretty.encode()  # an escaped lone surrogate read back has no UTF-8 form
    except (DoorstepError, UnicodeEncodeError):
        return body
    return pretty


@router.get("/developer/requests/{entry_id}")
def request_entry(
    request: Request, entry_id: str, user: AdminUser, session: SessionDep
) -> Response:
    entry, token_name = requestlog.get_entry(session, user.account_id, path_id(entry_id, "request"))
    context: dict[str, Any] = {
        "e": entry,
        "token_name": token_name,
        "pretty_body": _pretty(entry.body),
    }
    if is_fragment_request(request):
        return render(request, "developer/_entry.html", context)
    return render(request, "developer/entry.html", context)
