"""Creating, reading, updating and finding leads. The API and the dashboard both call these."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, text
from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.errors import NotFound, ValidationFailed
from doorstep.leads import serialize
from doorstep.leads.contact import normalise_email, normalise_phone
from doorstep.leads.schemas import LeadCreate, LeadUpdate, check_questionnaire, compact_size
from doorstep.models import Lead, LeadEvent
from doorstep.models.base import utcnow
from doorstep.models.status import NEW_STATUS_ID
from doorstep.offices import routing
from doorstep.offices.service import office_exists
from doorstep.statuses import service as statuses


def _lock_person(session: Session, account_id: int, keys: list[str]) -> None:
    """Serialise creates for the same person so exactly one becomes the group's parent.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order (no deadlocks).
    SQLite: every transaction already begins IMMEDIATE, so writers are serialised."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{account_id}:{k}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for k in keys
        }
    )
    for lock_id in ids:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})


def _group_parent(session: Session, account_id: int, email: str, phone: str | None) -> int | None:
    match = [Lead.email_normalized == email]
    if phone:
        match.append(Lead.phone_normalized == phone)
    row = session.execute(
        select(Lead.id, Lead.is_parent, Lead.parent_id)
        .where(Lead.account_id == account_id, or_(*match))
        .order_by(Lead.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    lead_id, is_parent, parent_id = row
    return lead_id if is_parent or parent_id is None else parent_id


def create_lead(
    session: Session,
    actor: Actor,
    data: LeadCreate,
    *,
    default_source: str = "homepage",
    before_insert: Callable[[Lead], None] | None = None,
) -> Lead:
    """Route, group and store a new lead (flushed, not committed)."""
    account_id = actor.account_id
    if data.office_id is not None:
        if not office_exists(session, account_id, data.office_id):
            raise ValidationFailed.field(
                "office_id", f"There is no office {data.office_id} in your account."
            )
        route = routing.Route(data.office_id, None, "explicit")
    else:
        pc = routing.routing_postcode(data.type, data.postcode, data.advert_postcode)
        route = routing.route(session, account_id, pc)

    email = normalise_email(data.email)
    phone_norm, phone_callable = normalise_phone(data.phone)
    _lock_person(session, account_id, [f"e:{email}"] + ([f"p:{phone_norm}"] if phone_norm else []))
    parent_id = _group_parent(session, account_id, email, phone_norm)

    now = utcnow()
    fields = data.model_dump(exclude={"office_id", "source", "international"})
    lead = Lead(
        **fields,
        account_id=account_id,
        office_id=route.office_id,
        out_of_area_distance=route.out_of_area_distance,
        status_id=NEW_STATUS_ID,
        stage_id=50,
        source=data.source or default_source,
        international=bool(data.international),
        email_normalized=email,
        phone_normalized=phone_norm,
        phone_callable=phone_callable,
        is_parent=parent_id is None,
        parent_id=parent_id,
        created_at=now,
        updated_at=now,
        created_by_token_id=actor.token_id,
        created_by_user_id=actor.user_id,
    )
    if before_insert is not None:
        before_insert(lead)
    session.add(lead)
    session.flush()
    return lead


def scope_conditions(actor: Actor) -> list[ColumnElement[bool]]:
    """The actor's account, and an Agent's own offices: the rule every lead read applies."""
    conditions = [Lead.account_id == actor.account_id]
    if actor.office_ids is not None:
        conditions.append(Lead.office_id.in_(actor.office_ids))
    return conditions


def scoped(actor: Actor) -> Select[Lead, str, str, str, str, str]:
    """Every lead query starts here: the actor's account, and an Agent's own offices."""
    return serialize.lead_rows().where(*scope_conditions(actor))


def get_lead(session: Session, actor: Actor, lead_id: int) -> dict[str, Any]:
    row = session.execute(scoped(actor).where(Lead.id == lead_id)).first()
    if row is None:
        raise NotFound(f"There is no lead {lead_id}.")
    return serialize.to_dict(*row)


def get_lead_model(session: Session, actor: Actor, lead_id: int, *, lock: bool = False) -> Lead:
    q = select(Lead).where(*scope_conditions(actor), Lead.id == lead_id)
    if lock:
        q = q.with_for_update()
    lead = session.scalar(q)
    if lead is None:
        raise NotFound(f"There is no lead {lead_id}.")
    return lead


def record(session: Session, actor: Actor, lead: Lead, kind: str, **data: Any) -> None:
    session.add(
        LeadEvent(
            lead_id=lead.id,
            account_id=lead.account_id,
            kind=kind,
            data=data or None,
            actor_user_id=actor.user_id,
            actor_token_id=actor.token_id,
        )
    )


def set_status(session: Session, actor: Actor, lead: Lead, value: str | int) -> bool:
    status = statuses.resolve(session, actor.account_id, value)
    if status is None:
        raise ValidationFailed.field("status", f"There is no status '{value}' in your account.")
    if status.id == lead.status_id:
        return False
    old = lead.status_id
    lead.status_id = status.id
    lead.stage_id = status.stage_id
    if lead.first_status_change_at is None:
        lead.first_status_change_at = utcnow()
    record(
        session,
        actor,
        lead,
        "status_changed",
        old_status_id=old,
        status_id=status.id,
        status=status.name,
    )
    return True


def set_office(session: Session, actor: Actor, lead: Lead, office_id: int) -> bool:
    if not office_exists(session, actor.account_id, office_id):
        raise ValidationFailed.field(
            "office_id", f"There is no office {office_id} in your account."
        )
    if office_id == lead.office_id:
        return False
    record(
        session, actor, lead, "office_changed", old_office_id=lead.office_id, office_id=office_id
    )
    lead.office_id = office_id
    lead.out_of_area_distance = None
    return True


SIMPLE_UPDATE_FIELDS = (
    "first_name",
    "last_name",
    "address",
    "postcode",
    "advert_address",
    "advert_postcode",
    "gdpr_checkbox",
    "next_action_date",
    "utm_source",
    "utm_campaign",
    "utm_medium",
    "utm_term",
    "utm_content",
    "utm_gclid",
)


def update_lead(session: Session, actor: Actor, lead_id: int, data: LeadUpdate) -> Lead:
    lead = get_lead_model(session, actor, lead_id, lock=True)
    sent = data.model_fields_set
    errors: dict[str, list[str]] = {}
    changed: dict[str, Any] = {}

    for name in SIMPLE_UPDATE_FIELDS:
        if name in sent:
            new = getattr(data, name)
            if getattr(lead, name) != new:
                changed[name] = serialize.iso(new) if name == "next_action_date" else new
                setattr(lead, name, new)

    if "meta" in sent:
        merged = dict(lead.meta or {})
        for k, v in (data.meta or {}).items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        if compact_size(merged) > 1024:
            errors["meta"] = [
                f"The merged meta must be at most 1024 bytes as JSON (it would be "
                f"{compact_size(merged)})."
            ]
        elif merged != (lead.meta or {}):
            lead.meta = merged or None
            changed["meta"] = data.meta
    if "questionnaire" in sent and data.questionnaire:
        try:
            pairs = check_questionnaire((lead.questionnaire or []) + list(data.questionnaire))
        except ValueError as e:
            errors["questionnaire"] = [f"After appending: {e}"]
        else:
            lead.questionnaire = pairs
            changed["questionnaire"] = data.questionnaire
    try:
        if "office_id" in sent and data.office_id is not None:
            set_office(session, actor, lead, data.office_id)
    except ValidationFailed as e:
        errors.update(e.errors or {})
    try:
        if "status" in sent and data.status is not None:
            set_status(session, actor, lead, data.status)
    except ValidationFailed as e:
        errors.update(e.errors or {})
    if errors:
        raise ValidationFailed(errors)
    if changed:
        record(session, actor, lead, "updated", fields=changed)
    lead.updated_at = utcnow()
    session.flush()
    return lead


def find_by_contact(
    session: Session,
    actor: Actor,
    *,
    email: str | None,
    phone: str | None,
    first_name: str | None,
    last_name: str | None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    q = scoped(actor)
    if email:
        q = q.where(Lead.email_normalized == normalise_email(email))
    if phone:
        norm, _ = normalise_phone(phone)
        q = q.where(Lead.phone_normalized == norm) if norm else q.where(Lead.phone == phone.strip())
    if first_name:
        q = q.where(func.lower(Lead.first_name) == first_name.strip().lower())
    if last_name:
        q = q.where(func.lower(Lead.last_name) == last_name.strip().lower())
    rows = session.execute(q.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)).all()
    return [serialize.to_dict(*r) for r in rows]
