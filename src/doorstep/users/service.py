"""Dashboard users: creation, sign-in with lock-out, and the Actor a user acts as."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.auth.passwords import hash_password, needs_rehash, verify_password
from doorstep.auth.principal import Actor
from doorstep.errors import ValidationFailed
from doorstep.models import Office, User, UserOffice
from doorstep.models.base import utcnow
from doorstep.models.user import ROLES

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def create_user(
    session: Session,
    account_id: int,
    email: str,
    password: str,
    role: str,
    office_ids: Iterable[int] = (),
    name: str | None = None,
) -> User:
    errors: dict[str, list[str]] = {}
    email = normalise_email(email)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as e:
        errors["email"] = [f"Must be a valid email address: {e}"]
    else:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            errors["email"] = [f"A user with the email {email} already exists."]
    role = (role or "").strip().lower()
    if role not in ROLES:
        errors["role"] = ["The role must be admin, leader or agent."]
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = [f"The password must be at least {MIN_PASSWORD} characters."]
    offices = sorted(set(office_ids))
    if offices:
        found = set(
            session.scalars(
                select(Office.id).where(Office.account_id == account_id, Office.id.in_(offices))
            )
        )
        missing = [o for o in offices if o not in found]
        if missing:
            errors["office"] = [f"There is no office {o} in account {account_id}." for o in missing]
    if role == "agent" and not offices:
        errors.setdefault("office", []).append(
            "An agent sees only the leads of their offices: give at least one office."
        )
    if errors:
        raise ValidationFailed(errors)
    user = User(
        account_id=account_id,
        email=email,
        name=(name or "").strip() or None,
        password_hash=hash_password(password),
        role=role,
        failed_logins=0,
        session_version=1,
    )
    session.add(user)
    session.flush()
    session.add_all(UserOffice(user_id=user.id, office_id=o) for o in offices)
    session.flush()
    return user


def office_ids_of(session: Session, user_id: int) -> list[int]:
    return list(
        session.scalars(
            select(UserOffice.office_id)
            .where(UserOffice.user_id == user_id)
            .order_by(UserOffice.office_id)
        )
    )


def actor_for(session: Session, user: User) -> Actor:
    """Admins and leaders see every office's leads; an agent only their own offices'."""
    offices = frozenset(office_ids_of(session, user.id)) if user.role == "agent" else None
    return Actor(account_id=user.account_id, user_id=user.id, office_ids=offices)


@dataclass(frozen=True)
class SignIn:
    user: User | None
    message: str | None = None  # why it failed, in words for the sign-in page


def sign_in(session: Session, email: str, password: str, now: datetime | None = None) -> SignIn:
    """Check a password. Failures are counted (the caller commits them); the fifth failure in a
    row locks the user out for 15 minutes and signs out their sessions."""
    now = now or utcnow()
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    wrong = "The email or password is not right."
    if user is None:
        verify_password(None, password)
        return SignIn(None, wrong)
    if user.locked_until is not None and user.locked_until > now:
        return SignIn(None, _locked_message(user.locked_until, now))
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            user.session_version = (user.session_version or 1) + 1
            session.flush()
            return SignIn(None, _locked_message(user.locked_until, now))
        session.flush()
        return SignIn(None, wrong)
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return SignIn(user)


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, round((until - now).total_seconds() / 60))
    return (
        f"Too many failed attempts: this user is locked for {minutes} more minute"
        f"{'s' if minutes != 1 else ''}. Ask an admin if you have forgotten the password."
    )


def list_users(session: Session, account_id: int) -> list[User]:
    return list(
        session.scalars(select(User).where(User.account_id == account_id).order_by(User.id))
    )
