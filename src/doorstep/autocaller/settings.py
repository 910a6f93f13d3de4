"""An office's autocaller settings, checked: numbers are valid UK numbers kept in E.164, ring
time at least 15 s (Ofcom's persistent-misuse policy), calling hours in the opening-hours
syntax, and a retry policy no more insistent than the per-lead cap per 24 h."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.errors import ValidationFailed
from doorstep.models import Office, OfficeAutocaller
from doorstep.models.base import utcnow
from doorstep.offices.contact import uk_phone
from doorstep.offices.hours import HoursError, parse_hours

RING_MODES = ("sequential", "simultaneous")
MIN_RING_SECONDS = 15  # Ofcom: let a number ring for at least 15 seconds
MAX_RING_SECONDS = 60
DEFAULT_RING_SECONDS = 20
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RETRY_MINUTES = (10, 30)
DEFAULT_DAILY_CAP = 3
MAX_NEGOTIATORS = 10
# When an office has set no calling hours of its own: its opening hours, else these.
DEFAULT_CALLING_HOURS = "Mon-Fri 09:00-17:30, Sat 09:00-13:00"


@dataclass(frozen=True)
class AutocallerInput:
    """What an admin sets; None leaves a setting as it is."""

    enabled: bool | None = None
    from_number: str | None = None
    negotiators: list[str] | None = None
    ring_mode: str | None = None
    ring_seconds: int | None = None
    calling_hours: str | None = None
    max_attempts: int | None = None
    retry_minutes: list[int] | None = None
    daily_cap: int | None = None


def get(session: Session, office_id: int) -> OfficeAutocaller | None:
    return session.scalar(select(OfficeAutocaller).where(OfficeAutocaller.office_id == office_id))


def defaults(office: Office) -> OfficeAutocaller:
    return OfficeAutocaller(
        office_id=office.id,
        account_id=office.account_id,
        enabled=False,
        from_number=office.phone,
        negotiators=[],
        ring_mode="sequential",
        ring_seconds=DEFAULT_RING_SECONDS,
        calling_hours=None,
        max_attempts=DEFAULT_MAX_ATTEMPTS,
        retry_minutes=list(DEFAULT_RETRY_MINUTES),
        daily_cap=DEFAULT_DAILY_CAP,
    )


def of(session: Session, office: Office) -> OfficeAutocaller:
    """The office's settings, or the defaults (off) when none are stored."""
    return get(session, office.id) or defaults(office)


def calling_hours_text(office: Office, s: OfficeAutocaller) -> str:
    return s.calling_hours or office.opening_hours or DEFAULT_CALLING_HOURS


def as_dict(office: Office, s: OfficeAutocaller) -> dict[str, Any]:
    return {
        "office_id": office.id,
        "office": office.name,
        "enabled": bool(s.enabled),
        "from_number": s.from_number,
        "negotiators": list(s.negotiators or []),
        "ring_mode": s.ring_mode,
        "ring_seconds": s.ring_seconds,
        "calling_hours": s.calling_hours,
        "calling_hours_in_force": calling_hours_text(office, s),
        "max_attempts": s.max_attempts,
        "retry_minutes": list(s.retry_minutes or []),
        "daily_cap": s.daily_cap,
    }


def _number(value: str, errors: dict[str, list[str]], key: str) -> str | None:
    try:
        return uk_phone(value)
    except ValueError as e:
        errors.setdefault(key, []).append(str(e))
        return None


def set_autocaller(session: Session, office: Office, data: AutocallerInput) -> OfficeAutocaller:
    """Create or change the office's settings; ValidationFailed naming each bad one."""
    current = get(session, office.id)
    s = current or defaults(office)
    errors: dict[str, list[str]] = {}
    from_number = s.from_number
    if data.from_number is not None:
        from_number = (
            _number(data.from_number, errors, "from_number") if data.from_number.strip() else None
        )
    negotiators = list(s.negotiators or [])
    if data.negotiators is not None:
        given = [n for n in (x.strip() for x in data.negotiators) if n]
        if len(given) > MAX_NEGOTIATORS:
            errors["negotiators"] = [f"At most {MAX_NEGOTIATORS} negotiator numbers."]
        checked = [_number(n, errors, "negotiators") for n in given]
        negotiators = list(dict.fromkeys(n for n in checked if n))
    ring_mode = s.ring_mode
    if data.ring_mode is not None:
        ring_mode = data.ring_mode.strip().lower()
        if ring_mode not in RING_MODES:
            errors["ring_mode"] = [
                "The ring mode is sequential (one after another) or simultaneous (all at once)."
            ]
    ring_seconds = s.ring_seconds if data.ring_seconds is None else data.ring_seconds
    if not MIN_RING_SECONDS <= ring_seconds <= MAX_RING_SECONDS:
        errors["ring_seconds"] = [
            f"Ring each phone for {MIN_RING_SECONDS} to {MAX_RING_SECONDS} seconds "
            f"(at least {MIN_RING_SECONDS}: Ofcom's persistent-misuse policy)."
        ]
    hours = s.calling_hours
    if data.calling_hours is not None:
        hours = None
        if data.calling_hours.strip():
            try:
                hours = parse_hours(data.calling_hours).render()
            except HoursError as e:
                errors["calling_hours"] = [str(e)]
    max_attempts = s.max_attempts if data.max_attempts is None else data.max_attempts
    if not 1 <= max_attempts <= 10:
        errors["max_attempts"] = ["Between 1 and 10 attempts."]
    retry = list(s.retry_minutes or []) if data.retry_minutes is None else list(data.retry_minutes)
    if any(m < 1 or m > 24 * 60 for m in retry):
        errors["retry_minutes"] = ["Each wait between attempts is 1 to 1440 minutes."]
    elif max_attempts > 1 and not retry:
        errors["retry_minutes"] = ["Give the wait before each further attempt, in minutes."]
    daily_cap = s.daily_cap if data.daily_cap is None else data.daily_cap
    if not 1 <= daily_cap <= 10:
        errors["daily_cap"] = ["Between 1 and 10 calls to a lead in 24 hours."]
    enabled = bool(s.enabled) if data.enabled is None else data.enabled
    if enabled and "from_number" not in errors and not from_number:
        errors["from_number"] = [
            "The autocaller needs the office's number to call from "
            "(a valid UK number the lead can call back)."
        ]
    if enabled and "negotiators" not in errors and not negotiators:
        errors["negotiators"] = [
            "The autocaller needs at least one negotiator number to ring first."
        ]
    if errors:
        raise ValidationFailed(errors)
    s.enabled = enabled
    s.from_number = from_number
    s.negotiators = negotiators
    s.ring_mode = ring_mode
    s.ring_seconds = ring_seconds
    s.calling_hours = hours
    s.max_attempts = max_attempts
    s.retry_minutes = retry
    s.daily_cap = daily_cap
    s.updated_at = utcnow()
    if current is None:
        session.add(s)
    session.flush()
    return s
