from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow


class InstanceKey(Base):
    """Secrets of this installation that every server and worker must share (the key that
    signs dashboard sessions, when the operator has not set one). Kept in the database so
    that every process on every host finds the same value."""

    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
