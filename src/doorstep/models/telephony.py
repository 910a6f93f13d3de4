from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow


class TelephonySettings(Base):
    """An account's telephony provider (texts now, calls with the autocaller): Twilio with
    the account's own credentials, or "log" (record, send nothing). The auth token is kept
    to sign requests and check Twilio's signatures, so it is stored, and never shown again
    in full once set."""

    __tablename__ = "telephony_settings"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(10))  # twilio | log
    account_sid: Mapped[str | None] = mapped_column(String(40))
    auth_token: Mapped[str | None] = mapped_column(String(80))
    # Texts come from this number (E.164) or Messaging Service (MG...).
    sms_from: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
