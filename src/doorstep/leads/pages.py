"""Dashboard pages for leads: the inbox and the lead page with its actions. Thin routes:
parse, call the lead services (the same ones the API calls), render."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from doorstep.auth.dashboard import CurrentUser, UserActor, check_csrf
from doorstep.auth.principal import Actor
from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.leads import inbox, service, workflow
from doorstep.leads.api import lead_id_of
from doorstep.leads.schemas import LEAD_TYPES, SOURCES, STATUS_NOTE_MAX, LeadUpdate
from doorstep.models import Office
from doorstep.models.base import from_local_input, to_local_input
from doorstep.numbers import row_id
from doorstep.offices.service import list_offices, office_name
from doorstep.statuses.service import list_statuses
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import is_fragment_request, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])


def _offices_for(session: Session, actor: Actor) -> list[Office]:
    offices = list_offices(session, actor.account_id)
    if actor.office_ids is not None:
        offices = [o for o in offices if o.id in actor.office_ids]
    return offices


@router.get("/leads")
def inbox_page(
    request: Request, user: CurrentUser, actor: UserActor, session: SessionDep
) -> Response:
    filters = inbox.InboxFilters.parse(dict(request.query_params))
    page = inbox.inbox_page(session, actor, filters)
    context = {"filters": filters, "params": filters.params(), "result": page}
    if is_fragment_request(request) and request.headers.get("hx-target") == "inbox-results":
        return render(request, "leads/_results.html", context)  # the results alone
    context |= {
        "types": LEAD_TYPES,
        "sources": SOURCES,
        "statuses": list_statuses(session, actor.account_id),
        "offices": _offices_for(session, actor),
    }
    return render(request, "leads/inbox.html", context)


@router.get("/leads/{lead_id}")
def lead_page(
    request: Request, lead_id: str, user: CurrentUser, actor: UserActor, session: SessionDep
) -> Response:
    lead, lead_object = service.get_lead_and_object(session, actor, lead_id_of(lead_id))
    all_offices = list_offices(session, actor.account_id)
    return render(
        request,
        "leads/detail.html",
        {
            "lead": lead_object,
            "model": lead,
            "timeline": list(reversed(workflow.timeline(session, actor, lead))),
            "group": workflow.person_group(session, actor, lead),
            "referrals": workflow.referrals_from(session, actor, lead),
            "linked": workflow.linked_leads(session, actor, lead),
            "statuses": list_statuses(session, actor.account_id),
            "offices": all_offices,
            "refer_offices": [o for o in all_offices if o.id != lead.office_id],
            "next_action_value": to_local_input(lead.next_action_date) or "",
            "stale_evidence": stale_evidence(lead_object),
            "strict_progression": service.strict_progression(session, actor.account_id),
            "status_note_max": STATUS_NOTE_MAX,
        },
    )


# Older than this when the lead came in, the newest sale behind an estimate is worth a word.
STALE_EVIDENCE_DAYS = 183


def stale_evidence(lead: dict[str, Any]) -> str | None:
    """``Jun 2018`` when the newest sale behind the estimate was half a year or more before
    the lead came in: the index brings prices forward only as far as the evidence reaches."""
    dates = [
        c["date"]
        for c in lead.get("comparable_props") or []
        if c.get("evidence") == "sale" and c.get("date")
    ]
    if not dates or not lead.get("created_at"):
        return None
    newest = date.fromisoformat(max(dates)[:10])
    received = date.fromisoformat(lead["created_at"][:10])
    return newest.strftime("%b %Y") if (received - newest).days > STALE_EVIDENCE_DAYS else None


def _fail(request: Request, session: Session, url: str, e: ValidationFailed) -> Response:
    """Nothing of a refused action is kept; the lead page says why."""
    session.rollback()
    return redirect(request, url, e.reasons, "error")


def _update(
    request: Request, session: Session, actor: Actor, lid: int, data: LeadUpdate, done: str
) -> Response:
    url = f"/leads/{lid}"
    try:
        service.update_lead(session, actor, lid, data)
    except ValidationFailed as e:
        return _fail(request, session, url, e)
    return redirect(request, url, done)


@router.post("/leads/{lead_id}/status")
def change_status(
    request: Request,
    lead_id: str,
    actor: UserActor,
    session: SessionDep,
    status_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    lid = lead_id_of(lead_id)
    service.get_lead_model(session, actor, lid)
    if not status_id.strip():
        return redirect(request, f"/leads/{lid}", "Choose the new status.", "error")
    if len(note) > STATUS_NOTE_MAX:  # LeadUpdate would refuse it as a 500, not a message
        return redirect(
            request, f"/leads/{lid}", f"The note is over {STATUS_NOTE_MAX:,} characters.", "error"
        )
    change = LeadUpdate(status=status_id.strip(), status_note=note.strip() or None)
    return _update(request, session, actor, lid, change, "Status changed.")


@router.post("/leads/{lead_id}/office")
def move_office(
    request: Request,
    lead_id: str,
    actor: UserActor,
    session: SessionDep,
    office_id: Annotated[str, Form()] = "",
) -> Response:
    lid = lead_id_of(lead_id)
    service.get_lead_model(session, actor, lid)
    oid = row_id(office_id.strip())
    if oid is None:
        return redirect(request, f"/leads/{lid}", "Choose the office to move the lead to.", "error")
    try:
        service.update_lead(session, actor, lid, LeadUpdate(office_id=oid))
    except ValidationFailed as e:
        return _fail(request, session, f"/leads/{lid}", e)
    if actor.office_ids is not None and oid not in actor.office_ids:
        # The lead now belongs to an office this agent cannot see.
        return redirect(request, "/leads", f"Lead #{lid} moved to another office.")
    return redirect(request, f"/leads/{lid}", "Lead moved to another office.")


@router.post("/leads/{lead_id}/next-action")
def set_next_action(
    request: Request,
    lead_id: str,
    actor: UserActor,
    session: SessionDep,
    next_action: Annotated[str, Form()] = "",
    do: Annotated[str, Form()] = "set",
) -> Response:
    """Set the next action date; only the Clear button removes it (an empty field sent with
    Set used to clear it without a word)."""
    lid = lead_id_of(lead_id)
    service.get_lead_model(session, actor, lid)
    if do == "clear":
        clear = LeadUpdate(next_action_date=None)
        return _update(request, session, actor, lid, clear, "Next action date cleared.")
    value = next_action.strip()
    if not value:
        return redirect(
            request, f"/leads/{lid}", "Choose a date and time for the next action.", "error"
        )
    try:
        when = from_local_input(value)
    except ValueError:
        return redirect(
            request, f"/leads/{lid}", "The next action date is not a date and time.", "error"
        )
    return _update(
        request, session, actor, lid, LeadUpdate(next_action_date=when), "Next action date set."
    )


@router.post("/leads/{lead_id}/notes")
def add_note(
    request: Request,
    lead_id: str,
    actor: UserActor,
    session: SessionDep,
    note: Annotated[str, Form()] = "",
) -> Response:
    lid = lead_id_of(lead_id)
    try:
        workflow.add_note(session, actor, lid, note)
    except ValidationFailed as e:
        return _fail(request, session, f"/leads/{lid}", e)
    return redirect(request, f"/leads/{lid}", "Note added.")


@router.post("/leads/{lead_id}/refer")
def refer(
    request: Request,
    lead_id: str,
    actor: UserActor,
    session: SessionDep,
    office_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    lid = lead_id_of(lead_id)
    service.get_lead_model(session, actor, lid)
    oid = row_id(office_id.strip())
    if oid is None:
        return redirect(
            request, f"/leads/{lid}", "Choose the office to refer the lead to.", "error"
        )
    try:
        new = workflow.refer(session, actor, lid, oid, note)
    except ValidationFailed as e:
        return _fail(request, session, f"/leads/{lid}", e)
    # Back to the lead being worked ("this one stays as it is"); the copy is linked from it.
    office = office_name(session, actor.account_id, new.office_id) if new.office_id else None
    return redirect(
        request,
        f"/leads/{lid}",
        f"Referred: lead #{new.id} created for {office or 'the other office'}.",
    )
