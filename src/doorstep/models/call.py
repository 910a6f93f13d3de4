from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, JSONType, UTCDateTime, utcnow


class OfficeAutocaller(Base):
    """An office's autocaller: whether it rings new leads, from which number (a valid UK
    number of the office, which the lead can call back), whom it rings first (its
    negotiators, in order), when, and how often it tries again."""

    __tablename__ = "office_autocallers"

    office_id: Mapped[int] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    from_number: Mapped[str | None] = mapped_column(String(20))
    negotiators: Mapped[list[str]] = mapped_column(JSONType)  # E.164, in ringing order
    ring_mode: Mapped[str] = mapped_column(String(12), default="sequential")
    ring_seconds: Mapped[int] = mapped_column(Integer, default=20)
    calling_hours: Mapped[str | None] = mapped_column(String(255))
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_minutes: Mapped[list[int]] = mapped_column(JSONType)  # the waits between attempts
    daily_cap: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Call(Base):
    """One attempt to put a negotiator through to a lead: automatic (the autocaller) or
    manual ("Call this lead", ringing ``user_id``'s own phone first). Its legs are the
    negotiators' calls and the lead's; its outcome arrives by the provider's callbacks."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_lead", "lead_id", "id"),
        Index("ix_calls_office_created", "office_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8))  # auto | manual
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    provider: Mapped[str] = mapped_column(String(10))  # twilio | log
    # The provider's id of the negotiator leg that took the call (then of the lead's leg).
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    lead_sid: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    # ringing (negotiators) -> dialling (the lead) -> connected -> ended
    state: Mapped[str] = mapped_column(String(12), default="ringing")
    # no_negotiator | declined | no_answer | busy | machine | failed | connected | logged
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    from_number: Mapped[str | None] = mapped_column(String(20))
    to_number: Mapped[str] = mapped_column(String(20))
    negotiator_number: Mapped[str | None] = mapped_column(String(20))  # the one who answered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # started
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a negotiator pressed 1
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration: Mapped[int | None] = mapped_column(Integer)  # seconds the lead was on the line


class CallLeg(Base):
    """One number rung for a call: a negotiator's phone, or the lead's."""

    __tablename__ = "call_legs"
    __table_args__ = (Index("ix_call_legs_call", "call_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))  # negotiator | lead
    position: Mapped[int] = mapped_column(Integer, default=0)
    number: Mapped[str] = mapped_column(String(20))
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    # placed -> ringing -> answered -> declined|accepted -> ended (status: the provider's last)
    status: Mapped[str] = mapped_column(String(16), default="placed")
    answered_by: Mapped[str | None] = mapped_column(String(20))  # human | machine_* (AMD)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CallCallback(Base):
    """Each provider callback taken, by what it reports: the same one twice is a replay."""

    __tablename__ = "call_callbacks"
    __table_args__ = (UniqueConstraint("call_sid", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
