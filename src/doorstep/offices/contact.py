"""How an office answers leads: the sender name and address of its messages, where its alerts
go, its phone number (the caller id of its calls, ``{{ office.phone }}`` in messages), its
address, and its opening hours (texts and calls wait for them)."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from doorstep.errors import ValidationFailed
from doorstep.leads.contact import normalise_phone
from doorstep.models import Office
from doorstep.offices.hours import HoursError, parse_hours


@dataclass(frozen=True)
class OfficeContact:
    email: str = ""
    phone: str = ""
    sender_name: str = ""
    address: str = ""
    opening_hours: str = ""


def uk_phone(value: str) -> str:
    """A UK number in E.164 (``+441159000000``); ValueError saying why not."""
    e164, valid_uk = normalise_phone(value.strip())
    if e164 is None:
        raise ValueError(f"{value!r} is not a phone number.")
    if not valid_uk:
        raise ValueError(f"{value!r} is not a valid UK phone number.")
    return e164


def check(data: OfficeContact) -> dict[str, str | None]:
    """The values to store, each checked; ValidationFailed naming every bad field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, str | None] = {}
    email = data.email.strip()
    if email:
        try:
            out["email"] = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as e:
            errors["email"] = [str(e)]
    else:
        out["email"] = None
    phone = data.phone.strip()
    if phone:
        try:
            out["phone"] = uk_phone(phone)
        except ValueError as e:
            errors["phone"] = [str(e)]
    else:
        out["phone"] = None
    for name, limit in (("sender_name", 100), ("address", 255)):
        value = " ".join(getattr(data, name).split())
        if len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        out[name] = value or None
    hours = data.opening_hours.strip()
    if hours:
        try:
            out["opening_hours"] = parse_hours(hours).render()
        except HoursError as e:
            errors["opening_hours"] = [str(e)]
    else:
        out["opening_hours"] = None
    if errors:
        raise ValidationFailed(errors)
    return out


def set_contact(session: Session, office: Office, data: OfficeContact) -> Office:
    for key, value in check(data).items():
        setattr(office, key, value)
    session.flush()
    return office


def contact_of(office: Office) -> OfficeContact:
    return OfficeContact(
        email=office.email or "",
        phone=office.phone or "",
        sender_name=office.sender_name or "",
        address=office.address or "",
        opening_hours=office.opening_hours or "",
    )
