"""Creating, reading, updating and finding leads. The API and the dashboard both call these."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.errors import NotFound, ValidationFailed
from doorstep.leads import events, serialize
from doorstep.leads.contact import normalise_email, normalise_phone
from doorstep.leads.schemas import LeadCreate, LeadUpdate, check_questionnaire, compact_size
from doorstep.models import Account, Lead, LeadEvent
from doorstep.models.base import utcnow
from doorstep.models.status import CONTACTED_STATUS_ID, NEW_STATUS_ID, NEW_STATUS_NAME
from doorstep.offices import routing
from doorstep.offices.service import office_exists, office_name
from doorstep.statements import Statement
from doorstep.statuses import service as statuses


def person_lock_ids(account_id: int, email: str, phone_norm: str | None) -> list[int]:
    """The advisory lock ids of a person (email, and phone if any), sorted: every path that
    creates leads on PostgreSQL takes these, in this order (no deadlocks)."""
    keys = [f"e:{email}"] + ([f"p:{phone_norm}"] if phone_norm else [])
    return sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{account_id}:{k}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for k in keys
        }
    )


def _lock_person(conn: Connection, ids: list[int]) -> None:
    """Serialise creates for the same person so exactly one becomes the group's parent.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order (no deadlocks) by
    one statement, which evaluates its select list left to right.
    SQLite: every transaction already begins IMMEDIATE, so writers are serialised."""
    if conn.dialect.name != "postgresql":
        return
    _LOCKS[len(ids)].run(conn, {f"k{i}": lock_id for i, lock_id in enumerate(ids)})


# One statement per number of keys (a person has an email and at most one phone).
_LOCKS = {
    n: Statement("SELECT " + ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(n)))
    for n in (1, 2)
}

_leads = cast(Table, Lead.__table__)
_earlier = _leads.alias("earlier")
_leader = _leads.alias("leader")


def _same(column: str) -> Select[tuple[int]]:
    # "account_id + 0": the account is checked on the rows the key's index finds, never used
    # to choose an index. Without statistics (a young table, a bulk import, autovacuum off)
    # every index looked as cheap as any other, and PostgreSQL read the person's email
    # through the phone index on "account_id = ?" alone, filtering every lead of the account
    # (30 ms and more a create at 20,000 leads). With the key the only indexable condition,
    # the one index led by that key is the only plan short of reading the table.
    return select(_earlier.c.id).where(
        _earlier.c[column] == bindparam(f"group_{column.removesuffix('_normalized')}"),
        (_earlier.c.account_id + literal_column("0")) == bindparam("group_account_id"),
    )


# The person's earliest lead: the earliest with the same email or the same phone. Each is an
# equality look-up on its own index, whatever the planner's statistics say: a single query
# with "email = ? OR phone = ? ORDER BY id LIMIT 1" was planned as a walk of the whole
# primary key on a young table (2.3 ms of PostgreSQL's time a create at 5,000 leads).
_person = union_all(_same("email_normalized"), _same("phone_normalized")).subquery("person")
_first = select(func.min(_person.c.id)).scalar_subquery()
# Insert a lead into its person's group in one statement, after _lock_person: the group is
# that of the earliest lead with the same email or phone (its parent, or itself when it is
# the parent); with no such lead, the new lead is a parent.
_INSERT = (
    insert(_leads)
    .values(
        is_parent=_first.is_(None),
        parent_id=select(
            case(
                (or_(_leader.c.is_parent, _leader.c.parent_id.is_(None)), _leader.c.id),
                else_=_leader.c.parent_id,
            )
        )
        .where(_leader.c.id == _first)
        .scalar_subquery(),
    )
    .returning(_leads.c.id, _leads.c.is_parent, _leads.c.parent_id)
)
# Columns a create does not fill stay null: only those it fills are sent, which keeps the
# statement within psycopg's cache of parsed queries (50 parameters, see the test), unless
# before_insert had the chance to fill any column.
LEAD_COLUMNS = tuple(c.key for c in _leads.columns if c.key not in ("id", "is_parent", "parent_id"))
UNKNOWN_VALUES = dict.fromkeys(LEAD_COLUMNS)


@lru_cache(maxsize=8)
def _insert(columns: tuple[str, ...]) -> Statement:
    return Statement(_INSERT, columns, as_text=True)


@dataclass(frozen=True)
class NewLead:
    """A lead just stored (not yet committed): its column values and the names that its
    lead object shows. ``lead`` gives the ORM object, for callers that go on with it."""

    values: dict[str, Any]
    office_name: str | None
    account_name: str | None
    session: Session

    @property
    def id(self) -> int:
        return int(self.values["id"])

    @property
    def lead(self) -> Lead:
        lead = self.session.get(Lead, self.id)
        assert lead is not None
        return lead

    @cached_property
    def _object(self) -> dict[str, Any]:
        return serialize.from_values(
            self.values, self.office_name, self.account_name, NEW_STATUS_NAME
        )

    def as_dict(self) -> dict[str, Any]:
        return self._object


def choose_route(session: Session, actor: Actor, data: LeadCreate) -> routing.Route:
    """The office a new lead goes to: the one it names (422 if not the account's), else by
    its routing postcode."""
    if data.office_id is not None:
        name = office_name(session, actor.account_id, data.office_id)
        if name is None:
            raise no_such_office(data.office_id)
        return routing.Route(data.office_id, None, "explicit", office_name=name)
    pc = routing.routing_postcode(data.type, data.postcode, data.advert_postcode)
    return routing.route(session, actor.account_id, pc, version=actor.routing_version)


def no_such_office(office_id: int) -> ValidationFailed:
    return ValidationFailed.field("office_id", f"There is no office {office_id} in your account.")


def lead_values(
    actor: Actor, data: LeadCreate, route: routing.Route, default_source: str
) -> dict[str, Any]:
    """The columns a new lead is stored with (grouping, id and estimates aside)."""
    email = normalise_email(data.email)
    phone_norm, phone_callable = normalise_phone(data.phone)
    now = utcnow()
    return {
        **data.model_dump(exclude={"office_id", "source", "international"}),
        "account_id": actor.account_id,
        "office_id": route.office_id,
        "out_of_area_distance": route.out_of_area_distance,
        "status_id": NEW_STATUS_ID,
        "stage_id": 50,
        "source": data.source or default_source,
        "international": bool(data.international),
        "email_normalized": email,
        "phone_normalized": phone_norm,
        "phone_callable": phone_callable,
        "created_at": now,
        "updated_at": now,
        "created_by_token_id": actor.token_id,
        "created_by_user_id": actor.user_id,
    }


def create_lead(
    session: Session,
    actor: Actor,
    data: LeadCreate,
    *,
    default_source: str = "homepage",
    before_insert: Callable[[Lead], None] | None = None,
) -> NewLead:
    """Route, group and store a new lead (not committed). ``before_insert`` may fill in
    fields of the lead (the valuation's estimates) before it is stored."""
    account_id = actor.account_id
    route = choose_route(session, actor, data)
    values = lead_values(actor, data, route, default_source)
    conn = session.connection()
    _lock_person(
        conn, person_lock_ids(account_id, values["email_normalized"], values["phone_normalized"])
    )
    if before_insert is not None:
        lead = Lead(**values)
        before_insert(lead)
        values = {k: getattr(lead, k) for k in LEAD_COLUMNS}
    ((lead_id, is_parent, parent_id),) = _insert(tuple(values)).run(
        conn,
        {
            **values,
            "group_account_id": account_id,
            "group_email": values["email_normalized"],
            "group_phone": values["phone_normalized"],
        },
    )
    values = {**UNKNOWN_VALUES, **values, "id": lead_id, "is_parent": bool(is_parent)}
    values["parent_id"] = parent_id
    account_name = actor.account_name
    if account_name is None:
        account_name = session.scalar(select(Account.name).where(Account.id == account_id))
    new = NewLead(values, route.office_name, account_name, session)
    # The automation that follows (workflows, webhooks) commits with the lead or not at all.
    events.emit(session, events.LEAD_CREATED, new.as_dict())
    return new


def scope_conditions(actor: Actor) -> list[ColumnElement[bool]]:
    """The actor's account, and an Agent's own offices: the rule every lead read applies."""
    conditions = [Lead.account_id == actor.account_id]
    if actor.office_ids is not None:
        conditions.append(Lead.office_id.in_(actor.office_ids))
    return conditions


def scoped(actor: Actor) -> Select[Lead, str, str, str, str, str]:
    """Every lead query starts here: the actor's account, and an Agent's own offices."""
    return serialize.lead_rows().where(*scope_conditions(actor))


def get_lead_and_object(
    session: Session, actor: Actor, lead_id: int
) -> tuple[Lead, dict[str, Any]]:
    """The lead and its lead object, in one query."""
    row = session.execute(scoped(actor).where(Lead.id == lead_id)).first()
    if row is None:
        raise NotFound(f"There is no lead {lead_id}.")
    return row[0], serialize.to_dict(*row)


def get_lead(session: Session, actor: Actor, lead_id: int) -> dict[str, Any]:
    return get_lead_and_object(session, actor, lead_id)[1]


def get_lead_model(session: Session, actor: Actor, lead_id: int, *, lock: bool = False) -> Lead:
    q = select(Lead).where(*scope_conditions(actor), Lead.id == lead_id)
    if lock:
        q = q.with_for_update()
    lead = session.scalar(q)
    if lead is None:
        raise NotFound(f"There is no lead {lead_id}.")
    return lead


def record(session: Session, actor: Actor, lead: Lead, kind: str, **data: Any) -> None:
    if actor.label and not (actor.user_id or actor.token_id):
        data["by"] = actor.label
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


def set_status(
    session: Session,
    actor: Actor,
    lead: Lead,
    value: str | int,
    *,
    note: str | None = None,
    by_call: bool = False,
) -> bool:
    """Move the lead to a status of its account, on its timeline with the note if any.

    With strict lead progression (an account setting) a lead leaves New for Contacted only
    through a connected call (``by_call``), and every other change needs a note."""
    status = statuses.resolve(session, actor.account_id, value)
    if status is None:
        raise ValidationFailed.field("status", f"There is no status '{value}' in your account.")
    if status.id == lead.status_id:
        return False
    if not by_call and strict_progression(session, lead.account_id):
        if lead.status_id == NEW_STATUS_ID and status.id == CONTACTED_STATUS_ID:
            raise ValidationFailed.field(
                "status",
                "This account has strict lead progression: a lead moves from New to Contacted "
                "only through a connected call.",
            )
        if not note:
            raise ValidationFailed.field(
                "status_note",
                "This account has strict lead progression: a status change needs a note "
                "(status_note) saying why.",
            )
    old = lead.status_id
    lead.status_id = status.id
    lead.stage_id = status.stage_id
    if lead.first_status_change_at is None:
        lead.first_status_change_at = utcnow()
    extra: dict[str, Any] = {}
    if note:
        extra["note"] = note
    if by_call:
        extra["by_call"] = True
    record(
        session,
        actor,
        lead,
        "status_changed",
        old_status_id=old,
        status_id=status.id,
        status=status.name,
        **extra,
    )
    return True


def strict_progression(session: Session, account_id: int) -> bool:
    # Through the identity map: a dashboard request has loaded the account already.
    account = session.get(Account, account_id)
    return bool(account and account.strict_progression)


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
    fields = list(changed)
    try:
        if (
            "office_id" in sent
            and data.office_id is not None
            and set_office(session, actor, lead, data.office_id)
        ):
            fields.append("office_id")
    except ValidationFailed as e:
        errors.update(e.errors or {})
    old_status_id = lead.status_id
    if "status_note" in sent and data.status_note and data.status is None:
        errors["status_note"] = ["status_note goes with a status change: send status as well."]
    try:
        if (
            "status" in sent
            and data.status is not None
            and set_status(session, actor, lead, data.status, note=data.status_note)
        ):
            fields.append("status")
    except ValidationFailed as e:
        errors.update(e.errors or {})
    if errors:
        raise ValidationFailed(errors)
    if changed:
        record(session, actor, lead, "updated", fields=changed)
    lead.updated_at = utcnow()
    session.flush()
    if fields:
        _emit_update(session, lead, fields, old_status_id)
    return lead


def contacted_by_call(session: Session, actor: Actor, lead_id: int, note: str) -> bool:
    """A connected call: a lead still in New moves to Contacted (under strict lead progression
    the only way there), with the same timeline entry and events as any status change."""
    lead = get_lead_model(session, actor, lead_id, lock=True)
    if lead.status_id != NEW_STATUS_ID:
        return False
    old_status_id = lead.status_id
    set_status(session, actor, lead, CONTACTED_STATUS_ID, note=note, by_call=True)
    lead.updated_at = utcnow()
    session.flush()
    _emit_update(session, lead, ["status"], old_status_id)
    return True


def _emit_update(session: Session, lead: Lead, fields: list[str], old_status_id: int) -> None:
    obj = serialize.read_lead(session, lead.account_id, lead.id)
    assert obj is not None
    events.emit(session, events.LEAD_UPDATED, obj, {"fields": fields})
    if "status" in fields:
        old = statuses.name_of(session, old_status_id)
        events.emit(
            session,
            events.LEAD_STATUS_CHANGED,
            obj,
            {"old_status": old, "status": obj["status"], "stage": obj["stage"]},
        )


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
