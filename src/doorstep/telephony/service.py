"""An account's telephony settings: set by an admin (dashboard or CLI), checked, and the
provider objects the Lead Responder sends texts through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.errors import ValidationFailed
from doorstep.models import TelephonySettings
from doorstep.models.base import utcnow
from doorstep.offices.contact import uk_phone
from doorstep.responder.sms import LogOnlySms, SmsProvider, TwilioSms

PROVIDERS = ("twilio", "log")
_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class TelephonyInput:
    provider: str
    account_sid: str | None = None
    auth_token: str | None = None  # None: keep the stored one
    sms_from: str | None = None


def get(session: Session, account_id: int) -> TelephonySettings | None:
    return session.scalar(
        select(TelephonySettings).where(TelephonySettings.account_id == account_id)
    )


def masked(value: str | None) -> str | None:
    """A secret as it may be shown again: its last four characters."""
    return f"…{value[-4:]}" if value else None


def as_dict(t: TelephonySettings | None) -> dict[str, Any]:
    if t is None:
        return {"provider": None}
    return {
        "provider": t.provider,
        "account_sid": t.account_sid,
        "auth_token": masked(t.auth_token),
        "sms_from": t.sms_from,
    }


def set_telephony(session: Session, account_id: int, data: TelephonyInput) -> TelephonySettings:
    """Create or replace the account's settings; ValidationFailed naming each bad field."""
    current = get(session, account_id)
    errors: dict[str, list[str]] = {}
    provider = (data.provider or "").strip().lower()
    if provider not in PROVIDERS:
        errors["provider"] = ["The provider must be twilio or log."]
    sid = (data.account_sid or "").strip() or None
    token = (data.auth_token or "").strip() or None
    if token is None and current is not None and current.provider == "twilio":
        token = current.auth_token
    sms_from = (data.sms_from or "").strip() or None
    if provider == "twilio":
        if not sid or not _SID.fullmatch(sid):
            errors["account_sid"] = ["A Twilio account SID: AC and 32 hexadecimal characters."]
        if not token or not _TOKEN.fullmatch(token):
            errors["auth_token"] = ["A Twilio auth token: 32 hexadecimal characters."]
    if sms_from and not _SERVICE.fullmatch(sms_from):
        try:
            sms_from = uk_phone(sms_from)
        except ValueError as e:
            errors["sms_from"] = [f"{e} Or a Messaging Service SID (MG…)."]
    if errors:
        raise ValidationFailed(errors)
    t = current or TelephonySettings(account_id=account_id)
    t.provider = provider
    t.account_sid = sid if provider == "twilio" else None
    t.auth_token = token if provider == "twilio" else None
    t.sms_from = sms_from
    t.updated_at = utcnow()
    if current is None:
        session.add(t)
    session.flush()
    return t


def sms_provider(t: TelephonySettings) -> SmsProvider:
    if t.provider == "twilio":
        assert t.account_sid and t.auth_token
        return TwilioSms(t.account_sid, t.auth_token)
    return LogOnlySms()
