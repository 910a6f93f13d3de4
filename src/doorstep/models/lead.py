from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, JSONType, UTCDateTime, utcnow


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_account_created", "account_id", "created_at"),
        # The key first: an index led by account_id would serve "account_id = ?" alone, and a
        # planner without statistics then read a person's email through the phone index,
        # filtering every lead of the account (issue 14). Led by the key, neither index can
        # stand in for the other.
        Index("ix_leads_email_account", "email_normalized", "account_id"),
        Index("ix_leads_phone_account", "phone_normalized", "account_id"),
        Index("ix_leads_account_office_created", "account_id", "office_id", "created_at"),
        # Only the leads that have one (most have neither): every look-up is "= id".
        Index(
            "ix_leads_parent_id",
            "parent_id",
            postgresql_where=text("parent_id IS NOT NULL"),
            sqlite_where=text("parent_id IS NOT NULL"),
        ),
        Index(
            "ix_leads_linked_from_lead_id",
            "linked_from_lead_id",
            postgresql_where=text("linked_from_lead_id IS NOT NULL"),
            sqlite_where=text("linked_from_lead_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"))
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id"))
    stage_id: Mapped[int] = mapped_column(Integer, default=50)

    type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(50))
    first_name: Mapped[str] = mapped_column(String(50))
    last_name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(255))
    # E.164 where the number parses as a UK (or international) number: used for matching.
    phone_normalized: Mapped[str | None] = mapped_column(String(32))
    # Only valid UK numbers may be called by the autocaller.
    phone_callable: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str | None] = mapped_column(Text)

    advert_url: Mapped[str | None] = mapped_column(String(255))
    advert_image: Mapped[str | None] = mapped_column(String(255))
    advert_postcode: Mapped[str | None] = mapped_column(String(255))
    advert_address: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(255))
    postcode: Mapped[str | None] = mapped_column(String(255))

    appointment_availability: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    meta: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    questionnaire: Mapped[list[list[str]] | None] = mapped_column(JSONType)
    comparable_props: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)

    source: Mapped[str] = mapped_column(String(40))
    is_parent: Mapped[bool] = mapped_column(Boolean, default=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))

    minimum_sale_estimation: Mapped[int | None] = mapped_column(Integer)
    average_sale_estimation: Mapped[int | None] = mapped_column(Integer)
    maximum_sale_estimation: Mapped[int | None] = mapped_column(Integer)
    minimum_rent_estimation: Mapped[int | None] = mapped_column(Integer)
    average_rent_estimation: Mapped[int | None] = mapped_column(Integer)
    maximum_rent_estimation: Mapped[int | None] = mapped_column(Integer)
    valuation_status: Mapped[str | None] = mapped_column(String(64))

    gdpr_checkbox: Mapped[bool | None] = mapped_column(Boolean)
    host: Mapped[str | None] = mapped_column(String(255))
    property_bedrooms: Mapped[int | None] = mapped_column(Integer)
    property_bathrooms: Mapped[int | None] = mapped_column(Integer)
    property_receptions: Mapped[int | None] = mapped_column(Integer)
    property_reference: Mapped[str | None] = mapped_column(String(255))
    property_type: Mapped[str | None] = mapped_column(String(20))
    raw_property_reference: Mapped[str | None] = mapped_column(String(255))

    out_of_area_distance: Mapped[float | None] = mapped_column(Float)
    international: Mapped[bool] = mapped_column(Boolean, default=False)
    referred_by_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("offices.id", ondelete="SET NULL")
    )
    referred_by_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    # The lead this one was referred from (dashboard "refer to another office").
    referred_from_lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL")
    )
    # The lead whose questionnaire answers created this one (a buyer's vendor lead).
    linked_from_lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL")
    )
    eta: Mapped[str | None] = mapped_column(String(255))
    facebook_pixel_id: Mapped[str | None] = mapped_column(String(255))

    utm_source: Mapped[str | None] = mapped_column(String(255))
    utm_medium: Mapped[str | None] = mapped_column(String(255))
    utm_campaign: Mapped[str | None] = mapped_column(String(255))
    utm_content: Mapped[str | None] = mapped_column(String(255))
    utm_term: Mapped[str | None] = mapped_column(String(255))
    utm_gclid: Mapped[str | None] = mapped_column(String(255))

    next_action_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who created it: an API token or a dashboard user (or neither, for the CLI).
    created_by_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # First time the status left "New": the reports' time-to-first-contact.
    first_status_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LeadEvent(Base):
    """The lead's activity timeline: every status change, note and update, by whom."""

    __tablename__ = "lead_events"
    __table_args__ = (Index("ix_lead_events_lead", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
