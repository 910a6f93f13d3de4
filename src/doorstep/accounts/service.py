from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.errors import NotFound, ValidationFailed, is_row_id
from doorstep.models import Account


def create_account(session: Session, name: str) -> Account:
    name = name.strip()
    if not name or len(name) > 255:
        raise ValidationFailed.field("name", "The name must be 1 to 255 characters.")
    account = Account(name=name)
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id) if is_row_id(account_id) else None
    if account is None:
        raise NotFound(f"There is no account {account_id}.")
    return account


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


def update_account(
    session: Session,
    account_id: int,
    *,
    linked_leads_same_office: bool | None = None,
    strict_progression: bool | None = None,
) -> Account:
    """Change the settings given (None: leave as it is)."""
    account = get_account(session, account_id)
    if linked_leads_same_office is not None:
        account.linked_leads_same_office = linked_leads_same_office
    if strict_progression is not None:
        account.strict_progression = strict_progression
    session.flush()
    return account


def settings_of(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "name": account.name,
        "linked_leads_same_office": account.linked_leads_same_office,
        "strict_progression": account.strict_progression,
    }
