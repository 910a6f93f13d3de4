"""Dashboard users: creation and management, their own settings, and the Actor a user acts
as. Signing in and sessions: ``users.signin``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from doorstep.auth import keys
from doorstep.auth.passwords import hash_password, verify_password
from doorstep.auth.principal import Actor
from doorstep.errors import NotFound, ValidationFailed
from doorstep.leads.contact import normalise_phone
from doorstep.models import Office, User, UserOffice
from doorstep.models.base import utcnow
from doorstep.models.user import ROLES
from doorstep.users import signin

MIN_PASSWORD = 10
INVITE_DAYS = 7


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
    role, offices = _check_role(session, account_id, role, office_ids, errors)
    errors.update(password_errors(password))
    if errors:
        raise ValidationFailed(errors)
    user = User(
        account_id=account_id,
        email=email,
        name=(name or "").strip() or None,
        password_hash=hash_password(password),
        role=role,
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


def list_users(session: Session, account_id: int) -> list[User]:
    return list(
        session.scalars(select(User).where(User.account_id == account_id).order_by(User.id))
    )


def _check_role(
    session: Session,
    account_id: int,
    role: str,
    office_ids: Iterable[int],
    errors: dict[str, list[str]],
) -> tuple[str, list[int]]:
    role = (role or "").strip().lower()
    if role not in ROLES:
        errors["role"] = ["The role must be admin, leader or agent."]
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
    return role, offices


def password_errors(password: str) -> dict[str, list[str]]:
    if len(password or "") < MIN_PASSWORD:
        return {"password": [f"The password must be at least {MIN_PASSWORD} characters."]}
    if len(password) > signin.MAX_PASSWORD:
        return {"password": [f"The password must be at most {signin.MAX_PASSWORD:,} characters."]}
    return {}


def get_user(session: Session, account_id: int, user_id: int) -> User:
    """A user of the account; another account's user does not exist here."""
    user = session.scalar(select(User).where(User.id == user_id, User.account_id == account_id))
    if user is None:
        raise NotFound(f"There is no user {user_id} in this account.")
    return user


def _other_admins(session: Session, user: User) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.account_id == user.account_id,
                User.role == "admin",
                User.disabled_at.is_(None),
                User.id != user.id,
            )
        )
        or 0
    )


def update_user(
    session: Session,
    account_id: int,
    user_id: int,
    *,
    role: str | None = None,
    office_ids: Iterable[int] | None = None,
    name: str | None = None,
) -> User:
    """Change a user's role, offices or name (None: leave as it is). The account keeps at
    least one enabled admin."""
    user = get_user(session, account_id, user_id)
    errors: dict[str, list[str]] = {}
    new_role = user.role if role is None else role
    offices = office_ids_of(session, user.id) if office_ids is None else list(office_ids)
    new_role, offices = _check_role(session, account_id, new_role, offices, errors)
    if user.role == "admin" and new_role != "admin" and not _other_admins(session, user):
        errors["role"] = ["This is the account's last admin: make another admin first."]
    if errors:
        raise ValidationFailed(errors)
    user.role = new_role
    if name is not None:
        user.name = name.strip()[:100] or None
    session.execute(delete(UserOffice).where(UserOffice.user_id == user.id))
    session.add_all(UserOffice(user_id=user.id, office_id=o) for o in offices)
    session.flush()
    return user


def set_disabled(session: Session, account_id: int, user_id: int, disabled: bool) -> User:
    """Disable (every session ends, sign-in refused) or enable a user."""
    user = get_user(session, account_id, user_id)
    if disabled:
        if user.role == "admin" and not _other_admins(session, user):
            raise ValidationFailed.field(
                "user", "This is the account's last admin: it cannot be disabled."
            )
        if user.disabled_at is None:
            user.disabled_at = utcnow()
        signin.end_sessions(session, user.id)
    else:
        user.disabled_at = None
    session.flush()
    return user


def set_password(
    session: Session, user: User, password: str, *, keep_session: str | None = None
) -> None:
    """A new password: every session of the user ends (but ``keep_session``, the user's own
    when they change it themselves), and so does any wait on their sign-ins."""
    errors = password_errors(password)
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_password(password)
    signin.end_sessions(session, user.id, keep=keep_session)
    signin.unlock(session, user.email)
    session.flush()


def change_own_password(
    session: Session, user: User, current: str, new: str, repeat: str, session_id: str | None
) -> None:
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, current):
        errors["current_password"] = ["That is not your current password."]
    if new != repeat:
        errors["repeat_password"] = ["The two new passwords are not the same."]
    errors.update(password_errors(new))
    if errors:
        raise ValidationFailed(errors)
    set_password(session, user, new, keep_session=session_id)


def set_phone(session: Session, user: User, phone: str) -> str | None:
    """The user's own phone ("Call this lead" rings it): a valid UK number, kept in E.164;
    empty clears it. Returns what is stored."""
    phone = (phone or "").strip()
    if not phone:
        user.phone = None
        session.flush()
        return None
    e164, callable_ = normalise_phone(phone)
    if e164 is None or not callable_:
        raise ValidationFailed.field(
            "phone",
            f"'{phone[:40]}' is not a valid UK phone number (for example 07986 000000 or "
            "0115 900 0000).",
        )
    user.phone = e164
    session.flush()
    return e164


def _invite_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(keys.current(), salt="doorstep.invitation")


def invitation(user: User) -> str:
    """A signed link token for the user to set their password: it names the user and the
    hash of their password then, so it works once (setting a password changes the hash) and
    for INVITE_DAYS days."""
    stamp = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return _invite_serializer().dumps({"u": user.id, "p": stamp})


def user_of_invitation(session: Session, token: str) -> User | None:
    try:
        data = _invite_serializer().loads(token, max_age=INVITE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = session.get(User, data["u"])
    if user is None or user.disabled_at is not None:
        return None
    stamp = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return user if hmac.compare_digest(stamp, str(data.get("p", ""))) else None


def create_invited_user(
    session: Session,
    account_id: int,
    email: str,
    role: str,
    office_ids: Iterable[int] = (),
    name: str | None = None,
) -> tuple[User, str]:
    """A user without a password yet (a random one nobody knows), and their invitation."""
    user = create_user(
        session, account_id, email, secrets.token_urlsafe(32), role, office_ids, name
    )
    return user, invitation(user)
