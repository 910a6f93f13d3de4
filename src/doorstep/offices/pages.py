"""Dashboard pages for offices: list, create, edit (with coverage) and the routing box."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from doorstep.accounts.service import get_account
from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.geo.postcodes import canonical, routing_parts
from doorstep.models import Lead, Office
from doorstep.numbers import path_id
from doorstep.offices import contact, routing, service
from doorstep.offices.contact import OfficeContact
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import is_fragment_request, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


def _all_errors(e: ValidationFailed, coverage: str) -> dict[str, list[str]]:
    """Name and postcode are checked before coverage: report coverage mistakes too, at once."""
    errors = dict(e.errors or {})
    if "coverage" not in errors:
        try:
            service.parse_coverage([coverage])
        except ValidationFailed as ce:
            errors.update(ce.errors or {})
    return errors


def _office_rows(session: Session, account_id: int) -> list[dict[str, Any]]:
    account = get_account(session, account_id)
    counts = dict(
        session.execute(
            select(Lead.office_id, func.count())
            .where(Lead.account_id == account_id)
            .group_by(Lead.office_id)
        ).all()
    )
    coverage = service.coverage_by_office(session, account_id)
    return [
        {
            "office": o,
            "coverage": coverage.get(o.id, []),
            "is_default": o.id == account.default_office_id,
            "leads": counts.get(o.id, 0),
        }
        for o in service.list_offices(session, account_id)
    ]


def _list(
    request: Request,
    session: SessionDep,
    account_id: int,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "offices/list.html",
        {
            "rows": _office_rows(session, account_id),
            "form": form or {"name": "", "postcode": "", "coverage": ""},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/offices")
def offices_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _list(request, session, user.account_id)


@router.post("/offices")
def create_office(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    postcode: Annotated[str, Form()] = "",
    coverage: Annotated[str, Form()] = "",
    is_default: Annotated[str, Form()] = "",
) -> Response:
    try:
        office = service.create_office(session, user.account_id, name, postcode, [coverage])
        if is_default:
            service.set_default_office(session, user.account_id, office.id)
    except ValidationFailed as e:
        session.rollback()
        form = {"name": name, "postcode": postcode, "coverage": coverage}
        return _list(request, session, user.account_id, form, _all_errors(e, coverage), 422)
    return redirect(request, "/offices", _saved(session, office, "created"))


@router.get("/offices/route")
def route_box(
    request: Request, user: AdminUser, session: SessionDep, postcode: str = ""
) -> Response:
    postcode = postcode.strip()
    decision: dict[str, Any] | None = None
    if postcode:
        r = routing.route(session, user.account_id, postcode, locate=True)
        office = service.get_office(session, user.account_id, r.office_id) if r.office_id else None
        decision = {
            "postcode": canonical(postcode),
            "usable": bool(routing_parts(postcode)),
            "office": office,
            "reason": r.reason,
            "explain": r.explain(),
            "precision": r.location.precision if r.location else None,
        }
    context = {"decision": decision, "postcode": postcode}
    if is_fragment_request(request):
        return render(request, "offices/_route.html", context)
    return render(request, "offices/route.html", context)


@router.get("/offices/{office_id}")
def edit_page(request: Request, office_id: str, user: AdminUser, session: SessionDep) -> Response:
    office = service.get_office(session, user.account_id, path_id(office_id, "office"))
    return _edit(request, office, _form_of(session, user.account_id, office))


def _edit(
    request: Request,
    office: Office,
    form: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    contact_form: OfficeContact | None = None,
    contact_errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "offices/edit.html",
        {
            "office": office,
            "form": form,
            "errors": errors or {},
            "contact": contact_form or contact.contact_of(office),
            "contact_errors": contact_errors or {},
        },
        status_code=status_code,
    )


def _form_of(session: Session, account_id: int, office: Office) -> dict[str, Any]:
    account = get_account(session, account_id)
    return {
        "name": office.name,
        "postcode": office.postcode or "",
        "coverage": ", ".join(c.code for c in service.coverage_of(session, account_id, office.id)),
        "is_default": office.id == account.default_office_id,
    }


@router.post("/offices/{office_id}/contact")
def update_contact(
    request: Request,
    office_id: str,
    user: AdminUser,
    session: SessionDep,
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    sender_name: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    opening_hours: Annotated[str, Form()] = "",
) -> Response:
    office = service.get_office(session, user.account_id, path_id(office_id, "office"))
    data = OfficeContact(email, phone, sender_name, address, opening_hours)
    try:
        contact.set_contact(session, office, data)
    except ValidationFailed as e:
        session.rollback()
        office = service.get_office(session, user.account_id, office.id)
        form = _form_of(session, user.account_id, office)
        return _edit(request, office, form, None, data, e.errors, 422)
    return redirect(
        request, f"/offices/{office.id}", f"How “{office.name}” answers leads is saved."
    )


@router.post("/offices/{office_id}")
def update_office(
    request: Request,
    office_id: str,
    user: AdminUser,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    postcode: Annotated[str, Form()] = "",
    coverage: Annotated[str, Form()] = "",
    is_default: Annotated[str, Form()] = "",
) -> Response:
    office = service.get_office(session, user.account_id, path_id(office_id, "office"))
    office_id_int = office.id
    try:
        service.update_office(
            session,
            user.account_id,
            office_id_int,
            name=name,
            postcode=postcode,
            coverage=[coverage],
        )
        if is_default:
            service.set_default_office(session, user.account_id, office_id_int)
    except ValidationFailed as e:
        session.rollback()
        office = service.get_office(session, user.account_id, office_id_int)
        form = {
            "name": name,
            "postcode": postcode,
            "coverage": coverage,
            "is_default": bool(is_default),
        }
        return _edit(request, office, form, _all_errors(e, coverage), status_code=422)
    return redirect(request, "/offices", _saved(session, office, "saved"))


def _saved(session: Session, office: Office, done: str) -> str:
    """The confirmation, with a word on any coverage another office has too."""
    message = f"Office “{office.name}” {done}."
    shared = service.shared_coverage(session, office)
    if shared:
        listed = ", ".join(f"{code} ({name})" for code, name in shared[:5])
        more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
        message += (
            f" Also covered by another office: {listed}{more}. A lead there goes to the "
            "nearer of the two offices."
        )
    return message
