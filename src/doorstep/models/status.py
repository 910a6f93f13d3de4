from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow

STAGES: dict[int, str] = {50: "Unread", 100: "In progress", 150: "Closed"}

# (id, name, stage) — seeded by the first migration, shared by every account.
PREDEFINED_STATUSES: tuple[tuple[int, str, int], ...] = (
    (1, "New", 50),
    (2, "Contacted", 100),
    (3, "Appointment booked", 100),
    (4, "Instructed", 150),
    (5, "Not interested", 150),
)
NEW_STATUS_ID = 1
NEW_STATUS_NAME = dict((i, n) for i, n, _ in PREDEFINED_STATUSES)[NEW_STATUS_ID]
# Where a connected call takes a New lead (strict lead progression: the only way there).
CONTACTED_STATUS_ID = 2


class Status(Base):
    """A lead status. Predefined ones have no account; an account may add its own."""

    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50))
    stage_id: Mapped[int] = mapped_column(Integer)
    is_predefined: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def stage_name(self) -> str:
        return STAGES[self.stage_id]
