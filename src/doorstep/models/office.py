from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow

COVERAGE_KINDS = ("area", "district", "sector", "unit")


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    # The office's own address postcode, canonical where it is a UK postcode.
    postcode: Mapped[str | None] = mapped_column(String(10))
    # Located once when the postcode is set, so routing needs no look-up per request.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # How the office answers leads (Lead Responder): the sender of its messages, where its
    # alerts go, and when it is open (offices/hours.py; UK time, bank holidays closed).
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    sender_name: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(255))
    opening_hours: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OfficeCoverage(Base):
    """One postcode area ("NG"), district ("NG1"), sector ("NG1 5") or unit ("NG1 5FS")."""

    __tablename__ = "office_coverage"
    __table_args__ = (
        UniqueConstraint("office_id", "code"),
        Index("ix_office_coverage_account_code", "account_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(10))
