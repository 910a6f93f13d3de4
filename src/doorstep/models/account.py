from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, UTCDateTime, utcnow


def new_routing_version() -> int:
    return secrets.randbits(62)


class Account(Base):
    """An agency (brand). Owns offices, statuses, tokens, users and leads."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    default_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("offices.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A new random value with every change routing depends on (offices, coverage, the
    # default office, imported unit coordinates): each process keeps the account's routing
    # table in memory and reloads it when the version it sees on a request differs
    # (offices.routing). Random, not counted: an account that reuses a deleted account's id
    # (SQLite reuses the highest) must not find that account's table under version 0.
    routing_version: Mapped[int] = mapped_column(
        BigInteger, default=new_routing_version, server_default="0"
    )
    # A lead created by a questionnaire's rule (a buyer who also has a home to sell) stays in
    # the office of the lead it came from, rather than going where its own postcode routes.
    linked_leads_same_office: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Strict lead progression: New -> Contacted only through a connected call, and every other
    # status change carries a note (leads.service.update_lead).
    strict_progression: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
