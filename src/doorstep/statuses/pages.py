"""Dashboard page for statuses: the predefined ones, the account's own, add and delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from doorstep.accounts import service as accounts
from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.db import SessionDep
from doorstep.errors import Conflict, ValidationFailed
from doorstep.models import Lead
from doorstep.models.status import STAGES
from doorstep.numbers import path_id, whole
from doorstep.statuses import service
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


def _page(
    request: Request,
    session: SessionDep,
    account_id: int,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    statuses = service.list_statuses(session, account_id)
    in_use = dict(
        session.execute(
            select(Lead.status_id, func.count())
            .where(Lead.account_id == account_id)
            .group_by(Lead.status_id)
        ).all()
    )
    by_stage = {sid: [s for s in statuses if s.stage_id == sid] for sid in STAGES}
    return render(
        request,
        "statuses/list.html",
        {
            "by_stage": by_stage,
            "in_use": in_use,
            "form": form or {"name": "", "stage": ""},
            "errors": errors or {},
            "strict_progression": accounts.get_account(session, account_id).strict_progression,
        },
        status_code=status_code,
    )


@router.get("/statuses")
def statuses_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _page(request, session, user.account_id)


@router.post("/statuses")
def create_status(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    stage: Annotated[str, Form()] = "",
) -> Response:
    stage_id = whole(stage.strip()) or 0  # 0 is no stage: refused with the others
    try:
        status = service.create_status(session, user.account_id, name, stage_id)
    except ValidationFailed as e:
        session.rollback()
        return _page(
            request, session, user.account_id, {"name": name, "stage": stage}, e.errors, 422
        )
    return redirect(
        request, "/statuses", f"Status “{status.name}” added under {STAGES[status.stage_id]}."
    )


@router.post("/statuses/progression")
def set_progression(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    strict: Annotated[str, Form()] = "",
) -> Response:
    if strict not in ("", "on"):
        return redirect(request, "/statuses", "Strict lead progression is on or off.", "error")
    accounts.update_account(session, user.account_id, strict_progression=strict == "on")
    state = "on: New → Contacted only by a connected call" if strict else "off"
    return redirect(request, "/statuses", f"Strict lead progression is {state}.")


@router.post("/statuses/{status_id}/delete")
def delete_status(
    request: Request, status_id: str, user: AdminUser, session: SessionDep
) -> Response:
    try:
        service.delete_status(session, user.account_id, path_id(status_id, "status"))
    except Conflict as e:
        session.rollback()
        return redirect(request, "/statuses", e.message, "error")
    return redirect(request, "/statuses", "Status deleted.")
