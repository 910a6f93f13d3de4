"""The Automation pages (admins): each workflow with what it did, the workflow editor with a
preview of the messages a chosen lead would get, and the account's durable work with retry."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.auth.dashboard import AdminUser, check_csrf
from doorstep.db import SessionDep
from doorstep.errors import ValidationFailed
from doorstep.jobs import queue
from doorstep.leads.labels import source_name
from doorstep.leads.schemas import LEAD_TYPES, SOURCES
from doorstep.models import Lead
from doorstep.models.job import JOB_STATES
from doorstep.numbers import path_id, row_id
from doorstep.offices import service as offices
from doorstep.responder import form as wf_form
from doorstep.responder import service, stats
from doorstep.responder.definition import ACTIONS, DefinitionErrors, parse
from doorstep.responder.tasks import load_context
from doorstep.responder.templates import TemplateProblem
from doorstep.responder.templates import render as render_template
from doorstep.telephony import service as telephony
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf), Depends(refuse_nul)])

ACTION_LABELS = {
    "email_lead": "E-mail the lead",
    "sms_lead": "Text the lead",
    "notify_office": "Alert the office",
    "set_next_action": "Set the next action date",
    "webhook": "Call a webhook",
    "questionnaire": "Send a questionnaire",
}
# Chosen on the form; a questionnaire's questions and rules are written as JSON (import),
# and the editor keeps an existing one as it is.
FORM_ACTIONS = [a for a in ACTIONS if a != "questionnaire"]


@router.get("/automation")
def automation(request: Request, user: AdminUser, session: SessionDep) -> Response:
    flows = service.list_workflows(session, user.account_id)
    figures = stats.per_workflow(session, user.account_id)
    return render(
        request,
        "responder/automation.html",
        {
            "flows": flows,
            "figures": {w.id: figures.get(w.id, stats.WorkflowStats()) for w in flows},
            "jobs": queue.counts(session, user.account_id),
            "labels": ACTION_LABELS,
            "telephony": telephony.as_dict(telephony.get(session, user.account_id)),
        },
    )


def _editor(
    request: Request,
    session: Session,
    account_id: int,
    wf_id: int | None,
    shown: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    recent = session.execute(
        select(Lead.id, Lead.first_name, Lead.last_name, Lead.type)
        .where(Lead.account_id == account_id)
        .order_by(Lead.id.desc())
        .limit(20)
    ).all()
    return render(
        request,
        "responder/edit.html",
        {
            "wf_id": wf_id,
            "wf": shown,
            "errors": errors or {},
            "offices": offices.list_offices(session, account_id),
            "types": LEAD_TYPES,
            "sources": [(s, source_name(s)) for s in SOURCES],
            "actions": [(a, ACTION_LABELS[a]) for a in FORM_ACTIONS],
            "action_fields": wf_form.ACTION_FIELDS,
            "recent": recent,
            "json_text": json.dumps(_json_of(shown, wf_id, session, account_id), indent=2),
        },
        status_code=status_code,
    )


def _json_of(shown: dict[str, Any], wf_id: int | None, session: Session, account_id: int) -> Any:
    if wf_id is None:
        return {}
    return service.get_workflow(session, account_id, wf_id).definition


EMPTY = wf_form.from_definition(
    {"name": "", "enabled": True, "trigger": "lead.created", "when": {}, "steps": []}
)


@router.get("/automation/workflows/new")
def new_workflow(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _editor(request, session, user.account_id, None, EMPTY)


@router.get("/automation/workflows/{wf_id}")
def edit_workflow(request: Request, wf_id: str, user: AdminUser, session: SessionDep) -> Response:
    wf = service.get_workflow(session, user.account_id, path_id(wf_id, "workflow"))
    return _editor(request, session, user.account_id, wf.id, wf_form.from_definition(wf.definition))


async def _save(request: Request, session: Session, account_id: int, wf_id: int | None) -> Any:
    posted = await request.form()
    data = wf_form.to_definition(posted)
    try:
        d = parse(data)
        service.save(session, account_id, d, wf_id)
    except DefinitionErrors as e:
        return ("errors", posted, wf_form.errors_by_field(e.problems))
    except ValidationFailed as e:
        return ("errors", posted, e.errors or {})
    return ("saved", d.name, None)


@router.post("/automation/workflows")
async def create_workflow(request: Request, user: AdminUser, session: SessionDep) -> Response:
    outcome, value, errors = await _save(request, session, user.account_id, None)
    if outcome == "errors":
        session.rollback()
        return _editor(
            request, session, user.account_id, None, wf_form.from_form(value), errors, 422
        )
    return redirect(request, "/automation", f"Workflow “{value}” saved.")


@router.post("/automation/workflows/{wf_id}")
async def update_workflow(
    request: Request, wf_id: str, user: AdminUser, session: SessionDep
) -> Response:
    wid = service.get_workflow(session, user.account_id, path_id(wf_id, "workflow")).id
    outcome, value, errors = await _save(request, session, user.account_id, wid)
    if outcome == "errors":
        session.rollback()
        return _editor(
            request, session, user.account_id, wid, wf_form.from_form(value), errors, 422
        )
    return redirect(request, "/automation", f"Workflow “{value}” saved.")


@router.post("/automation/workflows/{wf_id}/delete")
def delete_workflow(request: Request, wf_id: str, user: AdminUser, session: SessionDep) -> Response:
    wf = service.get_workflow(session, user.account_id, path_id(wf_id, "workflow"))
    name = wf.name
    service.delete_workflow(session, user.account_id, wf.id)
    return redirect(
        request,
        "/automation",
        f"Workflow “{name}” deleted. Steps already queued for leads still run.",
    )


@router.post("/automation/workflows/{wf_id}/toggle")
def toggle_workflow(request: Request, wf_id: str, user: AdminUser, session: SessionDep) -> Response:
    wf = service.get_workflow(session, user.account_id, path_id(wf_id, "workflow"))
    wf.enabled = not wf.enabled
    wf.definition = {**wf.definition, "enabled": wf.enabled}
    session.flush()
    state = "on" if wf.enabled else "off"
    return redirect(request, "/automation", f"Workflow “{wf.name}” is {state}.")


@router.post("/automation/preview")
async def preview(request: Request, user: AdminUser, session: SessionDep) -> Response:
    """The messages a chosen lead would get from the workflow as it stands in the editor."""
    posted = await request.form()
    raw = str(posted.get("preview-lead") or "").strip()
    lead_id = row_id(raw)
    items: list[dict[str, Any]] = []
    problem = None
    ctx = None
    if lead_id is None:
        problem = "Choose a lead to preview with."
    else:
        ctx = load_context(session, user.account_id, lead_id)
        if ctx is None:
            problem = f"There is no lead {raw}."
    if ctx is not None:
        for step in wf_form.to_definition(posted)["steps"]:
            item: dict[str, Any] = {"action": ACTION_LABELS.get(step["action"], step["action"])}
            item["after"] = step.get("after", "0s")
            for key in ("subject", "body", "text", "html"):
                if step.get(key):
                    try:
                        item[key] = render_template(step[key], ctx.variables, html=key == "html")
                    except TemplateProblem as e:
                        item.setdefault("problems", []).append(f"{key}: {e}")
            if step["action"] == "notify_office":
                item["to"] = (
                    ", ".join(a for a in [ctx.office.get("email"), *ctx.negotiators] if a)
                    or "nobody: the office has no e-mail address and no negotiators"
                )
            elif step["action"] == "email_lead":
                item["to"] = ctx.lead["email"]
            elif step["action"] == "sms_lead":
                item["to"] = ctx.lead["phone"]
            items.append(item)
    return render(request, "responder/_preview.html", {"items": items, "problem": problem})


@router.get("/automation/jobs")
def jobs_page(
    request: Request, user: AdminUser, session: SessionDep, state: str = "", before: str = ""
) -> Response:
    state = state if state in JOB_STATES else ""
    before_id = row_id(before)
    rows = queue.listing(
        session, account_id=user.account_id, state=state or None, before_id=before_id, limit=50
    )
    return render(
        request,
        "responder/jobs.html",
        {
            "rows": rows,
            "state": state,
            "states": JOB_STATES,
            "counts": queue.counts(session, user.account_id),
            "next_before": rows[-1].id if len(rows) == 50 else None,
        },
    )


@router.post("/automation/jobs/retry")
async def retry_jobs(request: Request, user: AdminUser, session: SessionDep) -> Response:
    posted = await request.form()
    if posted.get("all"):
        ids = queue.failed_ids(session, user.account_id)
    else:
        ids = [n for v in posted.getlist("job") if (n := row_id(str(v))) is not None]
    done = queue.retry(session, ids, user.account_id)
    return redirect(
        request,
        "/automation/jobs?state=failed" if not done else "/automation/jobs",
        f"{len(done)} job(s) will be tried again now." if done else "Nothing to retry.",
    )
