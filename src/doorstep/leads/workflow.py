"""What negotiators do to a lead besides the API's updates: notes, referrals to another office,
and reading its activity timeline and the person's other leads. Status, office and next
action date changes go through ``service.update_lead``, like the API's PATCH."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.errors import ValidationFailed
from doorstep.leads import service
from doorstep.leads.labels import source_name
from doorstep.leads.schemas import LeadCreate
from doorstep.models import ApiToken, Lead, LeadEvent, Office, Status, User
from doorstep.models.base import LONDON, utcnow
from doorstep.offices.service import get_office

NOTE_MAX = 2000

# Copied onto a referred lead: who the person is, what they want, and what we know already
# (everything a create takes, but the office it is being referred away from).
_REFERRAL_FIELDS = tuple(name for name in LeadCreate.model_fields if name != "office_id")
_VALUATION_FIELDS = (
    "comparable_props",
    "minimum_sale_estimation",
    "average_sale_estimation",
    "maximum_sale_estimation",
    "minimum_rent_estimation",
    "average_rent_estimation",
    "maximum_rent_estimation",
    "valuation_status",
    "raw_property_reference",
)


def add_note(session: Session, actor: Actor, lead_id: int, text: str) -> Lead:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed.field("note", "Write the note before adding it.")
    if len(text) > NOTE_MAX:
        raise ValidationFailed.field("note", f"A note can be at most {NOTE_MAX} characters.")
    lead = service.get_lead_model(session, actor, lead_id, lock=True)
    service.record(session, actor, lead, "note", text=text)
    lead.updated_at = utcnow()
    session.flush()
    return lead


def refer(
    session: Session, actor: Actor, lead_id: int, office_id: int, note: str | None = None
) -> Lead:
    """Refer a lead to another office of the account: a new, linked lead there, with
    ``referred_by_*`` naming the office and account it came from."""
    source = service.get_lead_model(session, actor, lead_id, lock=True)
    target = get_office(session, actor.account_id, office_id)
    if target.id == source.office_id:
        raise ValidationFailed.field(
            "office_id", f"The lead is already in {target.name}: choose another office."
        )
    values: dict[str, Any] = {name: getattr(source, name) for name in _REFERRAL_FIELDS}
    # The source lead passed validation when it came in; build the request without re-checking
    # limits that PATCH may since have widened (addresses), then route it to the chosen office.
    data = LeadCreate.model_construct(**values, office_id=target.id)

    def link(lead: Lead) -> None:
        lead.referred_by_office_id = source.office_id
        lead.referred_by_account_id = source.account_id
        lead.referred_from_lead_id = source.id
        for name in _VALUATION_FIELDS:
            setattr(lead, name, getattr(source, name))

    new = service.create_lead(
        session, actor, data, default_source=source.source, before_insert=link
    ).lead
    text = (note or "").strip()[:NOTE_MAX] or None
    service.record(
        session, actor, source, "referred", to_lead_id=new.id, office_id=target.id, note=text
    )
    service.record(
        session,
        actor,
        new,
        "referred_in",
        from_lead_id=source.id,
        office_id=source.office_id,
        note=text,
    )
    session.flush()
    return new


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    who: str
    detail: str | None = None
    note: str | None = None
    link: tuple[str, str] | None = None  # (href, text)


def _names(session: Session, ids: set[int], model: Any, attr: Any) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(model.id, attr).where(model.id.in_(ids))).all()
    return {int(i): str(n) for i, n in rows}


def timeline(session: Session, actor: Actor, lead: Lead) -> list[TimelineEntry]:
    """The lead's history, oldest first: its creation, then every recorded event."""
    events = list(
        session.scalars(
            select(LeadEvent)
            .where(LeadEvent.lead_id == lead.id, LeadEvent.account_id == actor.account_id)
            .order_by(LeadEvent.id)
        )
    )
    user_ids = {e.actor_user_id for e in events if e.actor_user_id}
    token_ids = {e.actor_token_id for e in events if e.actor_token_id}
    office_ids: set[int] = set()
    status_ids: set[int] = set()
    for e in events:
        d = e.data or {}
        for key in ("office_id", "old_office_id"):
            if isinstance(d.get(key), int):
                office_ids.add(d[key])
        if isinstance(d.get("old_status_id"), int):
            status_ids.add(d["old_status_id"])
    if lead.created_by_user_id:
        user_ids.add(lead.created_by_user_id)
    if lead.created_by_token_id:
        token_ids.add(lead.created_by_token_id)
    users = _names(session, user_ids, User, User.email)
    tokens = _names(session, token_ids, ApiToken, ApiToken.name)
    offices = _names(session, office_ids, Office, Office.name)
    statuses = _names(session, status_ids, Status, Status.name)

    def who(user_id: int | None, token_id: int | None, label: Any = None) -> str:
        if user_id:
            return users.get(user_id, "a removed user")
        if token_id:
            return f"API token “{tokens.get(token_id, 'removed token')}”"
        return str(label) if label else "the command line"

    out = [
        TimelineEntry(
            lead.created_at,
            "created",
            "Lead created",
            who(
                lead.created_by_user_id,
                lead.created_by_token_id,
                QUESTIONNAIRE_PERSON if lead.linked_from_lead_id else None,
            ),
            f"Source: {source_name(lead.source)}",
        )
    ]
    for e in events:
        d = e.data or {}
        by = who(e.actor_user_id, e.actor_token_id, d.get("by"))
        if e.kind == "status_changed":
            old = statuses.get(d.get("old_status_id") or 0, "—")
            how = " (connected call)" if d.get("by_call") else ""
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    "Status changed",
                    by,
                    f"{old} → {d.get('status')}{how}",
                    note=d.get("note"),
                )
            )
        elif e.kind == "office_changed":
            old = offices.get(d.get("old_office_id") or 0, "no office")
            new = offices.get(d.get("office_id") or 0, "a removed office")
            out.append(TimelineEntry(e.created_at, e.kind, "Moved office", by, f"{old} → {new}"))
        elif e.kind == "note":
            out.append(TimelineEntry(e.created_at, e.kind, "Note", by, note=d.get("text")))
        elif e.kind == "updated":
            changed = d.get("fields") or {}
            parts = [f"{k.replace('_', ' ')}: {_short(v, k)}" for k, v in changed.items()]
            out.append(TimelineEntry(e.created_at, e.kind, "Details updated", by, "; ".join(parts)))
        elif e.kind == "referred":
            office = offices.get(d.get("office_id") or 0, "another office")
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    f"Referred to {office}",
                    by,
                    note=d.get("note"),
                    link=(f"/leads/{d.get('to_lead_id')}", f"Lead #{d.get('to_lead_id')}"),
                )
            )
        elif e.kind == "referred_in":
            office = offices.get(d.get("office_id") or 0, "another office")
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    f"Referred here from {office}",
                    by,
                    note=d.get("note"),
                    link=(f"/leads/{d.get('from_lead_id')}", f"Lead #{d.get('from_lead_id')}"),
                )
            )
        elif e.kind == "valuation":
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    f"Instant valuation: {d.get('status') or 'no result'}",
                    by,
                    _valuation_detail(d),
                )
            )
        elif e.kind == "responder_matched":
            steps = d.get("steps") or []
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    f"Lead Responder: workflow “{d.get('workflow')}”",
                    "Lead Responder",
                    f"{len(steps)} step(s) queued: " + "; ".join(map(str, steps)),
                )
            )
        elif e.kind == "responder":
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    f"{_ACTION_TITLES.get(str(d.get('action')), d.get('action'))}: "
                    f"{_OUTCOMES.get(str(d.get('outcome')), d.get('outcome'))}",
                    f"Lead Responder (“{d.get('workflow')}”)",
                    d.get("detail"),
                )
            )
        elif e.kind == "questionnaire_answered":
            # The linked leads have entries of their own ("Linked lead created"), with links.
            parts = [f"{d.get('answers', 0)} answer(s) to “{d.get('workflow')}”"]
            parts += [str(x) for x in d.get("not_created") or []]
            out.append(
                TimelineEntry(e.created_at, e.kind, "Questionnaire answered", by, "; ".join(parts))
            )
        elif e.kind in ("linked_lead", "linked_in"):
            other = {"id": d.get("lead_id"), "type": d.get("type")}
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    "Linked lead created" if e.kind == "linked_lead" else "Created from lead",
                    by,
                    "From the answers to a questionnaire",
                    link=(f"/leads/{other['id']}", _linked_text(other)),
                )
            )
        elif e.kind == "unsubscribed":
            out.append(
                TimelineEntry(
                    e.created_at,
                    e.kind,
                    "Unsubscribed from follow-ups",
                    "the person",
                    f"by {d.get('channel', 'email')} link",
                )
            )
        elif e.kind == "call":
            out.append(_call_entry(e.created_at, d, by if e.actor_user_id else "the autocaller"))
        elif e.kind in ("webhook_delivered", "webhook_failed"):
            out.append(_webhook_entry(e.created_at, e.kind, d))
        else:
            out.append(TimelineEntry(e.created_at, e.kind, e.kind.replace("_", " "), by))
    return out


QUESTIONNAIRE_PERSON = "the person (questionnaire link)"


def _linked_text(other: dict[str, Any]) -> str:
    return f"Linked lead #{other.get('id')} ({str(other.get('type') or '').replace('_', ' ')})"


_ACTION_TITLES = {
    "questionnaire": "Questionnaire e-mail",
    "email_lead": "E-mail to the lead",
    "sms_lead": "Text to the lead",
    "notify_office": "Office alert",
    "set_next_action": "Next action date",
    "webhook": "Webhook call",
}
_OUTCOMES = {
    "sent": "sent",
    "done": "done",
    "not_sent": "not sent",
    "logged": "recorded, not sent (log-only provider)",
    "failed": "failed",
    "stopped": "stopped",
}


CALL_OUTCOMES = {
    "connected": "connected",
    "no_negotiator": "no negotiator answered",
    "declined": "the negotiator declined",
    "no_answer": "the lead did not answer",
    "busy": "the lead's line was busy",
    "machine": "voicemail or a machine answered",
    "failed": "failed",
    "logged": "recorded, not placed (log-only provider)",
    "not_called": "not called",
}


def duration_text(seconds: int | None) -> str:
    minutes, rest = divmod(int(seconds or 0), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _call_entry(at: datetime, d: dict[str, Any], who: str) -> TimelineEntry:
    """A call's outcome (autocaller or "Call this lead"); the call's record is on the
    reports."""
    outcome = str(d.get("outcome"))
    parts: list[str] = []
    if d.get("call") == "manual":
        parts.append("Call this lead")
    elif d.get("attempt"):
        parts.append(f"attempt {d['attempt']}")
    if outcome == "connected":
        parts.append(f"{duration_text(d.get('duration'))} on the line")
    if d.get("negotiator"):
        parts.append(f"negotiator {d['negotiator']}")
    if d.get("to") and outcome != "not_called":
        parts.append(f"to {d['to']} from {d.get('from')}")
    if d.get("reason"):
        parts.append(str(d["reason"]))
    detail = "; ".join(parts)
    return TimelineEntry(
        at,
        "call",
        f"Call: {CALL_OUTCOMES.get(outcome, outcome)}",
        who,
        detail[:1].upper() + detail[1:],
    )


def _webhook_entry(at: datetime, kind: str, d: dict[str, Any]) -> TimelineEntry:
    """One entry per webhook delivery's outcome; its attempts are on the Developer tab."""
    tries = d.get("attempts") or 0
    tried = f" after {tries} attempts" if tries > 1 else ""
    if kind == "webhook_delivered":
        title = f"Webhook {d.get('event')} delivered"
        detail = f"{d.get('url')} answered {d.get('status_code')}{tried}."
    else:
        title = f"Webhook {d.get('event')} failed"
        detail = f"{d.get('url')}: {d.get('reason')}" + (f" ({tries} attempts)" if tries else "")
    link = None
    if isinstance(d.get("delivery_id"), int):
        link = (f"/developer/webhooks/deliveries/{d['delivery_id']}", "Delivery and its attempts")
    return TimelineEntry(at, kind, title, "Doorstep", detail, link=link)


def _valuation_detail(d: dict[str, Any]) -> str | None:
    """How the valuation reached its estimate, from what the valuation recorded."""
    if d.get("error"):
        return "The estimate could not be computed; the lead was stored without it."
    parts: list[str] = []
    sale = d.get("sale")
    if isinstance(sale, dict):
        text = f"Sale: {sale.get('comparables', 0)} comparable sales"
        if isinstance(sale.get("radius_m"), int | float):
            text += f" within {sale['radius_m']:,.0f} m"
        if isinstance(sale.get("lookback_months"), int):
            text += f" over {sale['lookback_months']} months"
        if sale.get("same_type"):
            text += ", same property type"
        if sale.get("repeat_sale"):
            text += ", the property's own earlier sale included"
        parts.append(text + ".")
    rent = d.get("rent")
    if isinstance(rent, dict):
        text = f"Rent: {rent.get('basis', 'estimate')}"
        if isinstance(rent.get("gross_yield_percent"), int | float):
            text += f" of {rent['gross_yield_percent']}%"
            if rent.get("yield_region"):
                text += f" ({rent['yield_region']})"
        text += f", {rent.get('comparables', 0)} lettings."
        parts.append(text)
    if d.get("location_precision"):
        parts.append(f"Postcode located to {d['location_precision']} precision.")
    return " ".join(parts) or None


def _short(value: Any, key: str = "") -> str:
    if value is None:
        return "cleared"
    if key == "next_action_date" and isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LONDON)
        except ValueError:
            return value
        return when.strftime("%-d %b %Y, %H:%M")
    if isinstance(value, dict):
        text = ", ".join(f"{k} = {'removed' if v is None else v}" for k, v in value.items())
    elif isinstance(value, list):
        text = "; ".join(
            f"{p[0]} → {p[1]}" if isinstance(p, list | tuple) and len(p) == 2 else str(p)
            for p in value
        )
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def person_group(session: Session, actor: Actor, lead: Lead) -> list[dict[str, Any]]:
    """The person's other leads (the parent group), newest first, within the actor's scope."""
    parent = lead.id if lead.is_parent or lead.parent_id is None else lead.parent_id
    # The group's ids first, through the parent_id index; an OR of the two conditions inside
    # the joined query made SQLite read every lead of the account.
    members = session.scalars(
        select(Lead.id).where(Lead.account_id == actor.account_id, Lead.parent_id == parent)
    ).all()
    ids = [i for i in {parent, *members} if i != lead.id]
    if not ids:
        return []
    rows = session.execute(
        service.scoped(actor)
        .where(Lead.id.in_(ids))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(50)
    ).all()
    return [
        {
            "id": r[0].id,
            "type": r[0].type,
            "source": r[0].source,
            "is_parent": r[0].is_parent,
            "office_name": r[1],
            "status": r[3],
            "stage_id": r[0].stage_id,
            "created_at": r[0].created_at,
        }
        for r in rows
    ]


def referrals_from(session: Session, actor: Actor, lead: Lead) -> list[dict[str, Any]]:
    """Leads referred on from this one, found through its "referred" events (indexed by lead)
    rather than by scanning every lead's referred_from_lead_id."""
    events = session.scalars(
        select(LeadEvent.data).where(
            LeadEvent.lead_id == lead.id,
            LeadEvent.account_id == actor.account_id,
            LeadEvent.kind == "referred",
        )
    ).all()
    ids = [d["to_lead_id"] for d in events if d and isinstance(d.get("to_lead_id"), int)]
    if not ids:
        return []
    rows = session.execute(
        service.scoped(actor)
        .where(Lead.id.in_(ids), Lead.referred_from_lead_id == lead.id)
        .order_by(Lead.id)
    ).all()
    return [{"id": r[0].id, "office_name": r[1], "status": r[3]} for r in rows]


def linked_leads(session: Session, actor: Actor, lead: Lead) -> list[dict[str, Any]]:
    """Leads linked to this one by a questionnaire's answers, both ways: the lead it was
    created from, and those created from it (within the actor's scope)."""
    # Two look-ups on their own indexes, as person_group does, rather than an OR.
    ids = list(
        session.scalars(
            select(Lead.id).where(
                Lead.account_id == actor.account_id, Lead.linked_from_lead_id == lead.id
            )
        )
    )
    if lead.linked_from_lead_id is not None:
        ids.append(lead.linked_from_lead_id)
    if not ids:
        return []
    rows = session.execute(
        service.scoped(actor).where(Lead.id.in_(ids)).order_by(Lead.id).limit(50)
    ).all()
    return [
        {
            "id": r[0].id,
            "type": r[0].type,
            "office_name": r[1],
            "status": r[3],
            "stage_id": r[0].stage_id,
            "from_here": r[0].id != lead.linked_from_lead_id,
        }
        for r in rows
    ]
