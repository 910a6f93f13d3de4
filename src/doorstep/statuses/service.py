from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from doorstep.errors import Conflict, NotFound, ValidationFailed, is_row_id
from doorstep.models import Lead, Status
from doorstep.models.status import STAGES


def visible(account_id: int) -> Select[Status]:
    """Statuses an account can use: the predefined ones and its own."""
    return select(Status).where(or_(Status.account_id.is_(None), Status.account_id == account_id))


def list_statuses(session: Session, account_id: int) -> list[Status]:
    return list(
        session.scalars(visible(account_id).order_by(Status.is_predefined.desc(), Status.id))
    )


def resolve(session: Session, account_id: int, value: str | int) -> Status | None:
    """A status by id or by name (case-insensitive), within the account's statuses."""
    q = visible(account_id)
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return session.scalar(q.where(Status.id == int(value))) if is_row_id(int(value)) else None
    return session.scalar(
        q.where(func.lower(Status.name) == value.strip().lower()).order_by(Status.id).limit(1)
    )


def create_status(session: Session, account_id: int, name: str, stage_id: int) -> Status:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not 1 <= len(name) <= 50:
        errors["name"] = ["The name must be 1 to 50 characters."]
    elif resolve(session, account_id, name) is not None:
        errors["name"] = [f"A status named '{name}' already exists."]
    elif name.isdigit():
        errors["name"] = ["A status name cannot be only digits (digits select a status by id)."]
    if stage_id not in STAGES:
        errors["stage"] = [
            "The stage must be one of " + ", ".join(f"{k} ({v})" for k, v in STAGES.items()) + "."
        ]
    if errors:
        raise ValidationFailed(errors)
    status = Status(account_id=account_id, name=name, stage_id=stage_id, is_predefined=False)
    session.add(status)
    session.flush()
    return status


def delete_status(session: Session, account_id: int, status_id: int) -> None:
    status = session.scalar(
        select(Status).where(Status.id == status_id, Status.account_id == account_id)
    )
    if status is None:
        raise NotFound(f"There is no status {status_id} of this account that can be deleted.")
    in_use = session.scalar(
        select(func.count()).select_from(Lead).where(Lead.status_id == status_id)
    )
    if in_use:
        raise Conflict(
            f"The status '{status.name}' is used by {in_use} lead(s) and cannot be deleted."
        )
    session.delete(status)
    session.flush()


def name_of(session: Session, status_id: int) -> str | None:
    return session.scalar(select(Status.name).where(Status.id == status_id))
