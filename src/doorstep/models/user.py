from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow

ROLES = ("admin", "leader", "agent")


class User(Base):
    """A dashboard user. Admin: everything; Leader: all offices' leads; Agent: own offices."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    # The user's own phone in E.164 (a valid UK number): "Call this lead" rings it first.
    phone: Mapped[str | None] = mapped_column(String(20))
    # Set while the user may not sign in (their sessions end when it is set).
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UserOffice(Base):
    __tablename__ = "user_offices"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    office_id: Mapped[int] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True
    )


class UserSession(Base):
    """A signed-in dashboard session, kept on the server: the cookie carries a random id
    whose hash is stored here. Signing out deletes the row, so a copied or replayed cookie
    opens nothing; a password change, disabling the user and "sign out everywhere" delete the
    user's rows."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    client_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class SignInFailure(Base):
    """A failed sign-in, counted per e-mail (``e:``) and per client address (``a:``) for the
    sign-in limits, whether or not the e-mail belongs to anyone."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
