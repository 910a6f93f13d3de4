from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, JSONType, UTCDateTime, utcnow


class Workflow(Base):
    """A Lead Responder workflow of an account: its JSON form (responder/definition.py) as
    imported or saved, checked, with its name and trigger kept apart for look-ups."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str] = mapped_column(String(40))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Suppression(Base):
    """Someone who unsubscribed from an account's follow-ups, by e-mail or phone: no marketing
    message of that account reaches them again."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("account_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    address: Mapped[str] = mapped_column(String(320))  # normalised e-mail or E.164
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Questionnaire(Base):
    """A pre-qualification questionnaire sent to a lead by a workflow's ``questionnaire``
    step: the form as it was sent (later edits of the workflow do not change a link already
    in someone's inbox), when its link stops working, and when it was answered (once)."""

    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    # The random part of the signed link: made before the row is written, so the e-mail can
    # be sent without holding a write transaction open (SQLite) while the SMTP server answers.
    key: Mapped[str] = mapped_column(String(32), unique=True)
    # The workflow that sent it, by id and name at the time (no foreign key: a workflow
    # deleted while its e-mail was on its way must not make the sent link fail to store).
    workflow_id: Mapped[int | None] = mapped_column(Integer)
    workflow: Mapped[str] = mapped_column(String(200))
    step_index: Mapped[int] = mapped_column(Integer)
    # The step's JSON (responder.definition.QuestionnaireStep) as sent.
    form: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # {question id: answer} as accepted (the lead's questionnaire holds the [text, answer] pairs).
    answers: Mapped[dict[str, str] | None] = mapped_column(JSONType)
