"""Workflows: stored, imported and exported as JSON, matched against a lead's changes, and
turned into step jobs when one matches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed
from doorstep.geo import postcodes
from doorstep.jobs.queue import enqueue_many
from doorstep.leads import events
from doorstep.leads.events import LeadChange
from doorstep.models import Account, Lead, LeadEvent, Suppression, Workflow
from doorstep.models.base import utcnow
from doorstep.offices.routing import routing_postcode
from doorstep.responder.definition import (
    CallWebhook,
    Definition,
    DefinitionErrors,
    EmailLead,
    QuestionnaireStep,
    SmsLead,
    parse,
    to_json,
)
from doorstep.webhooks.service import endpoint_at


def list_workflows(session: Session, account_id: int) -> list[Workflow]:
    return list(
        session.scalars(
            select(Workflow).where(Workflow.account_id == account_id).order_by(Workflow.name)
        )
    )


def get_workflow(session: Session, account_id: int, workflow_id: int) -> Workflow:
    wf = session.scalar(
        select(Workflow).where(Workflow.account_id == account_id, Workflow.id == workflow_id)
    )
    if wf is None:
        raise NotFound(f"There is no workflow {workflow_id}.")
    return wf


@dataclass(frozen=True)
class Imported:
    created: list[str]
    replaced: list[str]


def check_all(items: list[Any]) -> list[Definition]:
    """Every definition checked; DefinitionErrors naming each problem of each, prefixed by
    the workflow's place in the file when there are several."""
    problems: list[str] = []
    out: list[Definition] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        prefix = f"workflows[{i}]." if len(items) > 1 else ""
        try:
            d = parse(item)
        except DefinitionErrors as e:
            problems += [prefix + p for p in e.problems]
            continue
        key = d.name.casefold()
        if key in names:
            problems.append(f"{prefix}name: {d.name!r} is also workflows[{names[key]}]")
        names[key] = i
        out.append(d)
    if problems:
        raise DefinitionErrors(problems)
    return out


def check_endpoints(
    session: Session, account_id: int, d: Definition, prefix: str = ""
) -> list[str]:
    """A webhook step posts to one of the account's webhook endpoints (its secret signs
    the delivery): a URL that is not one is a problem of the workflow."""
    return [
        f"{prefix}steps[{i}].url: {step.url} is not one of your webhook endpoints; add it "
        "on the Developer tab first (its deliveries are signed with the endpoint's secret)"
        for i, step in enumerate(d.steps)
        if isinstance(step, CallWebhook) and endpoint_at(session, account_id, step.url) is None
    ]


def save(session: Session, account_id: int, d: Definition, workflow_id: int | None = None) -> bool:
    """Create the workflow, or replace the one with its name (or id); True when created."""
    if problems := check_endpoints(session, account_id, d):
        raise DefinitionErrors(problems)
    if workflow_id is not None:
        wf: Workflow | None = get_workflow(session, account_id, workflow_id)
        clash = session.scalar(
            select(Workflow.id).where(
                Workflow.account_id == account_id,
                Workflow.name == d.name,
                Workflow.id != workflow_id,
            )
        )
        if clash is not None:
            raise ValidationFailed.field("name", f"Another workflow is called {d.name!r}.")
    else:
        wf = session.scalar(
            select(Workflow).where(Workflow.account_id == account_id, Workflow.name == d.name)
        )
    created = wf is None
    now = utcnow()
    if wf is None:
        wf = Workflow(account_id=account_id, created_at=now)
        session.add(wf)
    wf.name = d.name
    wf.enabled = d.enabled
    wf.trigger = d.trigger
    wf.definition = to_json(d)
    wf.updated_at = now
    session.flush()
    return created


def import_many(session: Session, account_id: int, items: list[Any]) -> Imported:
    """All or nothing: every workflow is checked before any is stored."""
    created: list[str] = []
    replaced: list[str] = []
    checked = check_all(items)
    problems = [
        p
        for i, d in enumerate(checked)
        for p in check_endpoints(
            session, account_id, d, f"workflows[{i}]." if len(checked) > 1 else ""
        )
    ]
    if problems:
        raise DefinitionErrors(problems)
    for d in checked:
        (created if save(session, account_id, d) else replaced).append(d.name)
    return Imported(created, replaced)


def export(session: Session, account_id: int) -> list[dict[str, Any]]:
    return [dict(w.definition) for w in list_workflows(session, account_id)]


def delete_workflow(session: Session, account_id: int, workflow_id: int) -> None:
    session.delete(get_workflow(session, account_id, workflow_id))
    session.flush()


# -- matching ------------------------------------------------------------------------------


def matches(d: Definition, change: LeadChange) -> bool:
    """Every key of ``when`` holds for the lead (a list: any of its values)."""
    if d.trigger != change.type:
        return False
    lead = change.lead
    w = d.when
    if w.type is not None and lead.get("type") not in w.type:
        return False
    if w.source is not None and lead.get("source") not in w.source:
        return False
    if w.office_id is not None and lead.get("office_id") not in w.office_id:
        return False
    if w.meta is not None:
        meta = lead.get("meta") or {}
        if any(meta.get(k) != v for k, v in w.meta.items()):
            return False
    if w.postcode_area is not None or w.postcode_district is not None:
        pc = postcodes.parse(
            routing_postcode(str(lead["type"]), lead.get("postcode"), lead.get("advert_postcode"))
        )
        if pc is None:
            return False
        if w.postcode_area is not None and pc.area not in w.postcode_area:
            return False
        if w.postcode_district is not None and pc.district not in w.postcode_district:
            return False
    if w.consent is not None and bool(lead.get("gdpr_checkbox")) != w.consent:
        return False
    if w.status is not None:
        status = str(change.detail.get("status") or lead.get("status") or "").casefold()
        if status not in {s.casefold() for s in w.status}:
            return False
    return True


@events.subscriber("responder")
def on_change(session: Session, change: LeadChange) -> None:
    """Each enabled workflow of the account whose trigger and filters match: its steps are
    queued, each due at the change's time plus the step's ``after``."""
    if change.type not in ("lead.created", "lead.status_changed"):
        return
    flows = events.read_once(
        session,
        ("workflows", change.account_id, change.type),
        lambda: session.scalars(
            select(Workflow).where(
                Workflow.account_id == change.account_id,
                Workflow.enabled.is_(True),
                Workflow.trigger == change.type,
            )
        ).all(),
    )
    at = datetime.fromisoformat(change.timestamp.replace("Z", "+00:00"))
    for wf in flows:
        d = Definition.model_validate(wf.definition)
        if not matches(d, change):
            continue
        jobs = [
            {
                "kind": "workflow.step",
                "payload": {
                    "workflow_id": wf.id,
                    "workflow": wf.name,
                    "step_index": i,
                    "step": step.model_dump(mode="json", by_alias=True, exclude_none=True),
                    "marketing": (
                        d.is_marketing(step)
                        if isinstance(step, EmailLead | SmsLead | QuestionnaireStep)
                        else False
                    ),
                    "trigger_at": change.timestamp,
                },
                "account_id": change.account_id,
                "lead_id": change.lead_id,
                "run_at": at + step.delay,
            }
            for i, step in enumerate(d.steps)
        ]
        enqueue_many(session, jobs)
        session.add(
            LeadEvent(
                lead_id=change.lead_id,
                account_id=change.account_id,
                kind="responder_matched",
                data={
                    "workflow_id": wf.id,
                    "workflow": wf.name,
                    "steps": [f"{s.action} after {s.after}" for s in d.steps],
                },
            )
        )


def unsubscribe(
    session: Session,
    account_id: int,
    lead_id: int,
    channel: str,
    workflow_id: int | None = None,
) -> str | None:
    """Put the lead's person on the account's suppression list (once); the account's name,
    or None when the lead no longer exists."""
    lead = session.scalar(select(Lead).where(Lead.account_id == account_id, Lead.id == lead_id))
    if lead is None:
        return None
    address = lead.email_normalized if channel == "email" else lead.phone_normalized
    if address:
        ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        result = session.execute(
            ins(Suppression)
            .values(
                account_id=account_id,
                channel=channel,
                address=address,
                lead_id=lead_id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["account_id", "channel", "address"])
            .returning(Suppression.id)
        )
        if result.scalar() is not None:
            session.add(
                LeadEvent(
                    lead_id=lead_id,
                    account_id=account_id,
                    kind="unsubscribed",
                    data={"channel": channel, "workflow_id": workflow_id},
                )
            )
    return session.scalar(select(Account.name).where(Account.id == account_id))
