"""The public pages a person reaches from a message, no sign-in: unsubscribe (one click) and
the pre-qualification questionnaire (``/q/{token}``).

GET unsubscribes at once, so the link in the e-mail is one click; POST does the same for
mail programs' one-click unsubscribe (RFC 8058), which posts without a page or a cookie,
hence no CSRF check on this router: the signed link is the credential. The questionnaire
likewise: a forged post would need the link, and whoever has the link may answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.models import Office
from doorstep.responder import questionnaire, service
from doorstep.responder.questionnaire import Checked, Opened
from doorstep.responder.tasks import read_unsubscribe
from doorstep.web.templating import render, templates

router = APIRouter(include_in_schema=False)


def _unsubscribe(request: Request, token: str, session: SessionDep) -> Response:
    found = read_unsubscribe(token)
    if found is None:
        return render(
            request,
            "responder/unsubscribed.html",
            {"ok": False},
            status_code=404,
            headers={"Cache-Control": "no-store"},
        )
    name = service.unsubscribe(
        session, found.account_id, found.lead_id, found.channel, found.workflow_id
    )
    return render(
        request,
        "responder/unsubscribed.html",
        {"ok": True, "account": name},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str, session: SessionDep) -> Response:
    return _unsubscribe(request, token, session)


@router.post("/unsubscribe/{token}")
def unsubscribe_one_click(request: Request, token: str, session: SessionDep) -> Response:
    return _unsubscribe(request, token, session)


# -- the questionnaire -------------------------------------------------------------------

# The link is in the address: no caching, not sent on as a referrer, not indexed.
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
_STATUS = {"forged": 404, "gone": 410, "expired": 410}


def _page(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    # Not the dashboard's render(): no session, CSRF or flash cookie for someone who
    # only answers a few questions.
    return templates.TemplateResponse(
        request,
        "responder/questionnaire.html",
        context,
        status_code=status_code,
        headers=_PRIVATE,
    )


def _context(
    session: Session,
    token: str,
    opened: Opened,
    checked: Checked | None = None,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"state": opened.state, "agency": opened.agency, "token": token}
    if opened.row is not None:
        ctx |= {"row": opened.row, "form": opened.form}
    lead = opened.lead
    office = session.get(Office, lead.office_id) if lead and lead.office_id else None
    ctx["office"] = office
    if opened.state == "open" and opened.form is not None and lead is not None:
        asked, rules = questionnaire.address_fields(opened.form, lead)
        ctx |= {
            "address_asked": asked,
            "address_when": [r.if_ for r in rules],
            "errors": checked.errors if checked else {},
            "values": values or {},
            "describe": questionnaire.describe,
            "field_name": questionnaire.field_name,
        }
    return ctx


async def _form_values(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormValues = Annotated[dict[str, str], Depends(_form_values)]


@router.get("/q/{token}")
def questionnaire_page(request: Request, token: str, session: SessionDep) -> Response:
    opened = questionnaire.open_link(session, token)
    return _page(request, _context(session, token, opened), _STATUS.get(opened.state, 200))


@router.post("/q/{token}")
def answer_questionnaire(
    request: Request, token: str, values: FormValues, session: SessionDep
) -> Response:
    opened = questionnaire.open_link(session, token, lock=True)
    if opened.state != "open":
        return _page(request, _context(session, token, opened), _STATUS.get(opened.state, 200))
    assert opened.form is not None and opened.lead is not None
    checked = questionnaire.check(opened.form, opened.lead, values)
    if checked.errors:
        return _page(request, _context(session, token, opened, checked, values), 422)
    try:
        done = questionnaire.answer(session, opened, checked)
    except ValidationFailed as e:
        session.rollback()
        ctx = _context(session, token, opened, None, values)
        ctx["problem"] = e.reasons
        return _page(request, ctx, 422)
    ctx = _context(session, token, opened) | {"state": "thanks", "pairs": checked.pairs}
    ctx["linked"] = done.linked
    return _page(request, ctx)
