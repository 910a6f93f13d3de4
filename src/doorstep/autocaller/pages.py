"""The dashboard's side of calling: "Call this lead" on the lead page. It rings the signed-in
negotiator's own phone first (their user's phone), then puts them through to the lead: the
same call, outcomes and record as the autocaller's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from doorstep.auth.dashboard import AdminUser, CurrentUser, UserActor, check_csrf
from doorstep.autocaller import tasks
from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.leads import service
from doorstep.leads.api import lead_id_of
from doorstep.telephony import service as telephony
from doorstep.telephony.service import TelephonyInput
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])

NO_PHONE = (
    "Your own phone number is not set, and “Call this lead” rings it first: set it on your "
    "Account page (Account → Phone), or ask an admin to."
)


@router.post("/leads/{lead_id}/call")
def call_this_lead(
    request: Request, lead_id: str, user: CurrentUser, actor: UserActor, session: SessionDep
) -> Response:
    lid = lead_id_of(lead_id)
    lead = service.get_lead_model(session, actor, lid)
    url = f"/leads/{lid}"
    if not lead.phone_callable or not lead.phone_normalized:
        return redirect(
            request, url, f"{lead.phone} is not a valid UK number: it is never dialled.", "error"
        )
    if not user.phone:
        return redirect(request, url, NO_PHONE, "error")
    if telephony.get(session, actor.account_id) is None:
        return redirect(
            request,
            url,
            "Calls need a telephony provider: an admin sets one (doorstep telephony set).",
            "error",
        )
    tasks.start_manual(session, actor.account_id, lid, user.id)
    return redirect(
        request,
        url,
        f"Calling your phone ({user.phone}) now: answer and press 1 to be put through to "
        f"{lead.phone_normalized}. The outcome appears under Activity.",
    )


@router.post("/automation/telephony")
def set_telephony(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    provider: Annotated[str, Form()] = "log",
    account_sid: Annotated[str, Form()] = "",
    auth_token: Annotated[str, Form()] = "",
    sms_from: Annotated[str, Form()] = "",
) -> Response:
    """The account's provider, as `doorstep telephony set` sets it (an empty token keeps the
    stored one)."""
    data = TelephonyInput(provider, account_sid, auth_token or None, sms_from)
    try:
        telephony.set_telephony(session, user.account_id, data)
    except ValidationFailed as e:
        session.rollback()
        return redirect(request, "/automation", e.reasons, "error")
    name = "Twilio" if provider.strip().lower() == "twilio" else "log only"
    return redirect(request, "/automation", f"Texts and calls now go through {name}.")
