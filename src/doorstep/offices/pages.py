"""Dashboard pages for offices: list, create, edit (with coverage) and the routing box."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from doorstep.accounts.service import get_account
from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.autocaller import settings as autocaller
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
    autocaller_form: dict[str, Any] | None = None,
    autocaller_errors: dict[str, list[str]] | None = None,
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
            "autocaller": autocaller_form or _autocaller_form(office),
            "autocaller_errors": autocaller_errors or {},
        },
        status_code=status_code,
    )


def _autocaller_form(office: Office) -> dict[str, Any]:
    from sqlalchemy.orm import object_session

    session = object_session(office)
    assert session is not None
    s = autocaller.of(session, office)
    return {
        "enabled": bool(s.enabled),
        "from_number": s.from_number or "",
        "negotiators": ", ".join(s.negotiators or []),
        "ring_mode": s.ring_mode,
        "ring_seconds": s.ring_seconds,
        "calling_hours": s.calling_hours or "",
        "max_attempts": s.max_attempts,
        "retry_minutes": ", ".join(str(m) for m in s.retry_minutes or []),
        "daily_cap": s.daily_cap,
    }


def _whole(value: str, name: str, errors: dict[str, list[str]]) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        errors[name] = [f"{value!r} is not a whole number."]
        return None


@router.post("/offices/{office_id}/autocaller")
def update_autocaller(
    request: Request,
    office_id: str,
    user: AdminUser,
    session: SessionDep,
    enabled: Annotated[str, Form()] = "",
    from_number: Annotated[str, Form()] = "",
    negotiators: Annotated[str, Form()] = "",
    ring_mode: Annotated[str, Form()] = "sequential",
    ring_seconds: Annotated[str, Form()] = "",
    calling_hours: Annotated[str, Form()] = "",
    max_attempts: Annotated[str, Form()] = "",
    retry_minutes: Annotated[str, Form()] = "",
    daily_cap: Annotated[str, Form()] = "",
) -> Response:
    office = service.get_office(session, user.account_id, path_id(office_id, "office"))
    form = {
        "enabled": bool(enabled), "from_number": from_number, "negotiators": negotiators,
        "ring_mode": ring_mode, "ring_seconds": ring_seconds, "calling_hours": calling_hours,
        "max_attempts": max_attempts, "retry_minutes": retry_minutes, "daily_cap": daily_cap,
    }  # fmt: skip
    errors: dict[str, list[str]] = {}
    waits: list[int] = []
    for part in (p.strip() for p in retry_minutes.split(",")):
        if part:
            try:
                waits.append(int(part))
            except ValueError:
                errors["retry_minutes"] = [f"{part!r} is not a whole number of minutes."]
    data = autocaller.AutocallerInput(
        enabled=bool(enabled),
        from_number=from_number,
        negotiators=[n for n in negotiators.replace(";", ",").split(",")],
        ring_mode=ring_mode,
        ring_seconds=_whole(ring_seconds, "ring_seconds", errors),
        calling_hours=calling_hours,
        max_attempts=_whole(max_attempts, "max_attempts", errors),
        retry_minutes=waits,
        daily_cap=_whole(daily_cap, "daily_cap", errors),
    )
    try:
        if errors:
            raise ValidationFailed(errors)
        autocaller.set_autocaller(session, office, data)
    except ValidationFailed as e:
        session.rollback()
        office = service.get_office(session, user.account_id, office.id)
        return _edit(
            request, office, _form_of(session, user.account_id, office), status_code=422,
            autocaller_form=form, autocaller_errors={**errors, **(e.errors or {})},
        )  # fmt: skip
    state = "on" if data.enabled else "off"
    return redirect(
        request, f"/offices/{office.id}", f"The autocaller of “{office.name}” is {state}."
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
