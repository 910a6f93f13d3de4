"""Pre-qualification: the questionnaire a workflow's ``questionnaire`` step sends, its signed
link, and the answers a person gives on the hosted page (``/q/{token}``, no sign-in).

The link is the credential: itsdangerous-signed with the installation's key, naming the
account, a random key of the stored questionnaire and when it stops working. Answers go
into the lead through ``leads.service.update_lead``, the path the API's PATCH takes (the
questionnaire's byte limit, the timeline and the ``lead.updated`` event all apply), once:
the stored questionnaire is locked and marked answered in the same transaction. A rule
whose condition holds creates a linked lead through ``create_lead``, so it is routed,
grouped and announced (``lead.created``) like any other."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.auth import keys
from doorstep.auth.principal import Actor
from doorstep.config import get_settings
from doorstep.errors import ValidationFailed
from doorstep.geo import postcodes
from doorstep.http import has_nul
from doorstep.leads import service
from doorstep.leads.schemas import LeadCreate, LeadUpdate
from doorstep.leads.workflow import QUESTIONNAIRE_PERSON
from doorstep.models import Account, Lead, Questionnaire
from doorstep.models.base import utcnow
from doorstep.responder.definition import Condition, QuestionnaireStep, Rule

# Lead types whose property is the person's own home: a rule creating one needs their address.
ADDRESS_TYPES = ("vendor", "landlord")

# -- the link ----------------------------------------------------------------------------


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(keys.current(), salt="doorstep.questionnaire")


def new_key() -> str:
    return secrets.token_urlsafe(16)


def link(account_id: int, key: str, expires_at: datetime) -> str:
    token = _signer().dumps({"a": account_id, "k": key, "x": int(expires_at.timestamp())})
    return f"{get_settings().public_url.rstrip('/')}/q/{token}"


def _read(token: str) -> tuple[int, str, datetime] | None:
    try:
        data = _signer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    a, k, x = data.get("a"), data.get("k"), data.get("x")
    if not isinstance(a, int) or not isinstance(k, str) or not isinstance(x, int):
        return None
    return a, k, datetime.fromtimestamp(x, UTC)


State = Literal["forged", "gone", "expired", "answered", "open"]


@dataclass
class Opened:
    """What a link leads to. ``forged``: not a link Doorstep made (or made with a key since
    rolled); ``gone``: its questionnaire or lead was deleted; then expired, answered, open."""

    state: State
    agency: str = ""
    row: Questionnaire | None = None
    form: QuestionnaireStep | None = None
    lead: Lead | None = None


def open_link(session: Session, token: str, *, lock: bool = False) -> Opened:
    found = _read(token)
    if found is None:
        return Opened("forged")
    account_id, key, expires_at = found
    agency = session.scalar(select(Account.name).where(Account.id == account_id)) or ""
    q = select(Questionnaire).where(
        Questionnaire.account_id == account_id, Questionnaire.key == key
    )
    row = session.scalar(q.with_for_update() if lock else q)
    lead = None
    if row is not None:
        lead = session.scalar(
            select(Lead).where(Lead.account_id == account_id, Lead.id == row.lead_id)
        )
    if row is None or lead is None:
        return Opened("gone", agency)
    form = QuestionnaireStep.model_validate(row.form)
    # Answered comes before expired: someone coming back later is told their answers arrived.
    if row.answered_at is not None:
        return Opened("answered", agency, row, form, lead)
    if utcnow() >= min(expires_at, row.expires_at):
        return Opened("expired", agency, row, form, lead)
    return Opened("open", agency, row, form, lead)


# -- the form ----------------------------------------------------------------------------


def _wanted(v: str | list[str]) -> list[str]:
    return v if isinstance(v, list) else [v]


def holds(condition: Condition, answers: Mapping[str, str]) -> bool:
    return all(answers.get(qid) in _wanted(want) for qid, want in condition.items())


def describe(condition: Condition, form: QuestionnaireStep) -> str:
    """``“Yes” to “Do you have a property to sell?”``: the hint shown without JavaScript."""
    parts = []
    for qid, want in condition.items():
        q = form.question(qid)
        answers = " or ".join(f"“{w}”" for w in _wanted(want))
        parts.append(f"{answers} to “{q.text if q else qid}”")
    return " and ".join(parts)


def address_fields(form: QuestionnaireStep, lead: Lead) -> tuple[list[str], list[Rule]]:
    """The fields to ask for (``address``, ``postcode``) when a rule could create a lead for
    the person's own home and the lead does not hold them, and the rules that need them."""
    rules = [
        r
        for r in form.rules
        if r.create_lead.type in ADDRESS_TYPES and r.create_lead.type != lead.type
    ]
    if not rules:
        return [], []
    missing = [name for name in ("address", "postcode") if not getattr(lead, name)]
    return missing, rules if missing else []


@dataclass
class Checked:
    answers: dict[str, str] = field(default_factory=dict)  # question id -> answer
    pairs: list[list[str]] = field(default_factory=list)  # [question text, answer]
    address: dict[str, str] = field(default_factory=dict)  # address / postcode given
    rules: list[Rule] = field(default_factory=list)  # the rules whose condition holds
    errors: dict[str, str] = field(default_factory=dict)  # field name -> what to fix


def field_name(qid: str) -> str:
    return f"q_{qid}"


def check(form: QuestionnaireStep, lead: Lead, values: Mapping[str, str]) -> Checked:
    """The answers to the questions that are asked given the earlier answers; an answer to a
    question whose ``ask_if`` does not hold is dropped (a page without JavaScript shows every
    question). Errors name the field and say what to do, in the order of the page."""
    out = Checked()
    for q in form.questions:
        name = field_name(q.id)
        if q.ask_if is not None and not holds(q.ask_if, out.answers):
            continue
        value = (values.get(name) or "").strip()
        if not value:
            if q.required:
                out.errors[name] = (
                    f"Choose an answer to “{q.text}”" if not q.free_text else f"Answer “{q.text}”"
                )
            continue
        if q.free_text:
            if has_nul(value):
                out.errors[name] = f"The answer to “{q.text}” holds a character it cannot"
                continue
            if len(value) > q.limit:
                out.errors[name] = (
                    f"The answer to “{q.text}” must be {q.limit} characters or fewer "
                    f"(it is {len(value)})"
                )
                continue
        elif value not in (q.answers or []):
            out.errors[name] = f"Choose one of the answers to “{q.text}”"
            continue
        out.answers[q.id] = value
        out.pairs.append([q.text, value])
    out.rules = [r for r in form.rules if holds(r.if_, out.answers)]
    asked, needing = address_fields(form, lead)
    if any(r in out.rules for r in needing):
        for name in asked:
            value = (values.get(name) or "").strip()
            label = "the address of the property" if name == "address" else "its postcode"
            if not value:
                out.errors[name] = f"Enter {label}"
            elif has_nul(value) or len(value) > 255:
                out.errors[name] = f"Enter {label} in 255 characters or fewer"
            elif name == "postcode" and postcodes.parse(value) is None:
                out.errors[name] = "Enter a UK postcode, like NG1 5FS"
            else:
                out.address[name] = value
    return out


# -- answering ---------------------------------------------------------------------------


@dataclass
class Answered:
    linked: list[Lead]
    not_created: list[str]


def answer(session: Session, opened: Opened, checked: Checked) -> Answered:
    """Store the checked answers (``opened`` locked and open): appended to the lead's
    questionnaire through the update path, then each firing rule's linked lead. Raises
    ValidationFailed when the lead cannot take them (its questionnaire would pass 2 KiB)."""
    row, lead, form = opened.row, opened.lead, opened.form
    assert row is not None and lead is not None and form is not None and opened.state == "open"
    actor = Actor(account_id=lead.account_id, label=QUESTIONNAIRE_PERSON)
    update: dict[str, object] = dict(checked.address)
    if checked.pairs:
        update["questionnaire"] = checked.pairs
    if update:
        service.update_lead(session, actor, lead.id, LeadUpdate.model_validate(update))
    row.answered_at = utcnow()
    row.answers = checked.answers
    done = Answered([], [])
    for rule in checked.rules:
        new, reason = _create_linked(session, actor, lead, rule, form, checked)
        if new is not None:
            done.linked.append(new)
        elif reason:
            done.not_created.append(reason)
    service.record(
        session,
        actor,
        lead,
        "questionnaire_answered",
        questionnaire_id=row.id,
        workflow=row.workflow,
        workflow_id=row.workflow_id,
        answers=len(checked.pairs),
        linked=[{"id": n.id, "type": n.type} for n in done.linked],
        not_created=done.not_created,
    )
    session.flush()
    return done


def _create_linked(
    session: Session,
    actor: Actor,
    source: Lead,
    rule: Rule,
    form: QuestionnaireStep,
    checked: Checked,
) -> tuple[Lead | None, str | None]:
    kind = rule.create_lead.type
    label = kind.replace("_", " ")
    if source.type == kind:
        return None, f"No {label} lead created: this lead is one"
    earlier = session.scalar(
        select(Lead.id).where(
            Lead.account_id == source.account_id,
            Lead.linked_from_lead_id == source.id,
            Lead.type == kind,
        )
    )
    if earlier is not None:
        return None, f"No {label} lead created: lead #{earlier} is already linked"
    because = "; ".join(
        f"{q.text if (q := form.question(qid)) else qid} {checked.answers.get(qid)}"
        for qid in rule.if_
    )
    values: dict[str, object] = {
        "type": kind,
        "title": source.title,
        "first_name": source.first_name,
        "last_name": source.last_name,
        "email": source.email,
        "phone": source.phone,
        "address": source.address,
        "postcode": source.postcode,
        "gdpr_checkbox": source.gdpr_checkbox,
        "message": f"From the questionnaire of lead #{source.id}: {because}"[:255],
        "questionnaire": checked.pairs or None,
    }
    same_office = session.scalar(
        select(Account.linked_leads_same_office).where(Account.id == source.account_id)
    )
    if same_office and source.office_id is not None:
        values["office_id"] = source.office_id
    try:
        data = LeadCreate.model_validate(values)
    except ValidationError as e:
        fields = ", ".join(sorted({str(err["loc"][-1]) for err in e.errors() if err["loc"]}))
        return None, f"No {label} lead created: the person's {fields} would not make one"

    def link_back(lead: Lead) -> None:
        lead.linked_from_lead_id = source.id

    try:
        new = service.create_lead(
            session, actor, data, default_source=source.source, before_insert=link_back
        ).lead
    except ValidationFailed as e:
        return None, f"No {label} lead created: {e.message}"
    service.record(session, actor, source, "linked_lead", lead_id=new.id, type=new.type)
    service.record(session, actor, new, "linked_in", lead_id=source.id, type=source.type)
    return new, None


def new_row(
    account_id: int,
    lead_id: int,
    workflow_id: int | None,
    workflow: str,
    step_index: int,
    form: QuestionnaireStep,
) -> Questionnaire:
    now = utcnow()
    return Questionnaire(
        account_id=account_id,
        lead_id=lead_id,
        key=new_key(),
        workflow_id=workflow_id,
        workflow=workflow,
        step_index=step_index,
        form=form.model_dump(mode="json", by_alias=True, exclude_none=True),
        created_at=now,
        expires_at=now + form.lifetime,
    )
