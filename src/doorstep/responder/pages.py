"""The public pages a person reaches from a message: unsubscribe (one click, no sign-in).

GET unsubscribes at once, so the link in the e-mail is one click; POST does the same for
mail programs' one-click unsubscribe (RFC 8058), which posts without a page or a cookie,
hence no CSRF check on this router: the signed link is the credential."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from doorstep.db import SessionDep
from doorstep.responder import service
from doorstep.responder.tasks import read_unsubscribe
from doorstep.web.templating import render

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
    account_id, lead_id, channel = found
    name = service.unsubscribe(session, account_id, lead_id, channel)
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
