"""The Developer tab's webhooks: endpoints (create with the secret shown once, edit, switch
on and off, rotate the secret, delete) and deliveries with every attempt, sent again by hand."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.leads.events import EVENT_TYPES
from doorstep.numbers import path_id
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect, render
from doorstep.webhooks import service

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])

BASE = "/developer/webhooks"
NO_STORE = {"Cache-Control": "no-store"}
EVENT_HELP = {
    "lead.created": "A lead arrives (API, form or dashboard).",
    "lead.updated": "A lead's details, status or office change.",
    "lead.status_changed": "A lead's status changes (also sent as lead.updated).",
}


def _form(
    url: str = "", description: str = "", events: list[str] | None = None, enabled: bool = True
) -> dict[str, Any]:
    return {
        "url": url,
        "description": description,
        "events": list(EVENT_TYPES) if events is None else events,
        "enabled": enabled,
    }


def _list_page(
    request: Request,
    session: Session,
    account_id: int,
    *,
    new: service.NewSecret | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    endpoints = service.list_endpoints(session, account_id)
    return render(
        request,
        "developer/webhooks.html",
        {
            "endpoints": endpoints,
            "deliveries": service.deliveries(session, account_id, limit=25),
            "counts": service.counts(session, account_id),
            "event_types": EVENT_TYPES,
            "event_help": EVENT_HELP,
            "new": new,
            "form": form or _form(),
            "errors": errors or {},
        },
        status_code=status_code,
        headers=headers,
    )


def _endpoint_page(
    request: Request,
    session: Session,
    account_id: int,
    endpoint_id: int,
    *,
    new: service.NewSecret | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    endpoint = service.get_endpoint(session, account_id, endpoint_id)
    secrets_now = service.signing_secrets(
        endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at
    )
    return render(
        request,
        "developer/webhook.html",
        {
            "e": endpoint,
            "rotating": len(secrets_now) > 1,
            "deliveries": service.deliveries(session, account_id, endpoint_id=endpoint.id),
            "event_types": EVENT_TYPES,
            "event_help": EVENT_HELP,
            "new": new,
            "form": form
            or _form(endpoint.url, endpoint.description, endpoint.events, endpoint.enabled),
            "errors": errors or {},
        },
        status_code=status_code,
        headers=headers,
    )


@router.get(BASE)
def webhooks_page(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _list_page(request, session, user.account_id)


@router.post(BASE)
def create_endpoint(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    form = _form(url, description, events or [])
    try:
        new = service.create_endpoint(session, user.account_id, url, events or [], description)
    except ValidationFailed as e:
        session.rollback()
        return _list_page(
            request, session, user.account_id, form=form, errors=e.errors, status_code=422
        )
    # The secret is in this response only (and stored, to sign; never shown again).
    return _list_page(
        request,
        session,
        user.account_id,
        new=new,
        headers={"HX-Push-Url": BASE, **NO_STORE},
    )


@router.get(BASE + "/{endpoint_id}")
def endpoint_page(
    request: Request, endpoint_id: str, user: AdminUser, session: SessionDep
) -> Response:
    return _endpoint_page(
        request, session, user.account_id, path_id(endpoint_id, "webhook endpoint")
    )


@router.post(BASE + "/{endpoint_id}")
def update_endpoint(
    request: Request,
    endpoint_id: str,
    user: AdminUser,
    session: SessionDep,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
    enabled: Annotated[str | None, Form()] = None,
) -> Response:
    eid = path_id(endpoint_id, "webhook endpoint")
    service.get_endpoint(session, user.account_id, eid)  # 404 before any validation
    try:
        service.update_endpoint(
            session,
            user.account_id,
            eid,
            url=url,
            events=events or [],
            description=description,
            enabled=enabled is not None,
        )
    except ValidationFailed as e:
        session.rollback()
        form = _form(url, description, events or [], enabled is not None)
        return _endpoint_page(
            request, session, user.account_id, eid, form=form, errors=e.errors, status_code=422
        )
    return redirect(request, f"{BASE}/{eid}", "Webhook endpoint saved.")


@router.post(BASE + "/{endpoint_id}/enabled")
def switch_endpoint(
    request: Request,
    endpoint_id: str,
    user: AdminUser,
    session: SessionDep,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    on = enabled == "on"
    e = service.update_endpoint(
        session, user.account_id, path_id(endpoint_id, "webhook endpoint"), enabled=on
    )
    message = (
        f"Webhooks to {e.url} are on."
        if on
        else f"Webhooks to {e.url} are off: nothing more is sent until you switch them on."
    )
    return redirect(request, BASE, message)


@router.post(BASE + "/{endpoint_id}/rotate")
def rotate_secret(
    request: Request, endpoint_id: str, user: AdminUser, session: SessionDep
) -> Response:
    eid = path_id(endpoint_id, "webhook endpoint")
    new = service.rotate_secret(session, user.account_id, eid)
    return _endpoint_page(
        request,
        session,
        user.account_id,
        eid,
        new=new,
        headers={"HX-Push-Url": f"{BASE}/{eid}", **NO_STORE},
    )


@router.post(BASE + "/{endpoint_id}/delete")
def delete_endpoint(
    request: Request, endpoint_id: str, user: AdminUser, session: SessionDep
) -> Response:
    eid = path_id(endpoint_id, "webhook endpoint")
    url = service.get_endpoint(session, user.account_id, eid).url
    service.delete_endpoint(session, user.account_id, eid)
    return redirect(request, BASE, f"Webhook endpoint {url} deleted.")


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@router.get(BASE + "/deliveries/{delivery_id}")
def delivery_page(
    request: Request, delivery_id: str, user: AdminUser, session: SessionDep
) -> Response:
    d = service.get_delivery(session, user.account_id, path_id(delivery_id, "webhook delivery"))
    (view,) = service.deliveries(session, user.account_id, delivery_ids=[d.id], limit=1)
    return render(
        request,
        "developer/delivery.html",
        {"v": view, "d": d, "pretty_body": _pretty(d.body)},
    )


@router.post(BASE + "/deliveries/{delivery_id}/redeliver")
def redeliver(
    request: Request,
    delivery_id: str,
    user: AdminUser,
    session: SessionDep,
    back: Annotated[str, Form()] = "",
) -> Response:
    d = service.redeliver(session, user.account_id, path_id(delivery_id, "webhook delivery"))
    # Back to the page the button was on (only ever one of these pages).
    target = back if back.startswith(BASE) and "//" not in back else f"{BASE}/deliveries/{d.id}"
    return redirect(
        request, target, f"Delivery {d.msg_id} will be sent again now, with the same webhook-id."
    )
