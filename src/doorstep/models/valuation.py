"""Evidence for instant valuations: sales (HM Land Registry Price Paid Data), the local price
index Doorstep builds from them, the agencies' own lettings and the model's calibration."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base, JSONType, UTCDateTime, utcnow


class Sale(Base):
    """One Price Paid Data transaction, keyed by its HMLR transaction id (without braces), so
    re-imports and monthly updates (record status A/C/D) change rows in place."""

    __tablename__ = "sales"
    __table_args__ = (
        # The comparables query: nearby sectors, one property type, a window of months.
        Index(
            "ix_sales_comparables",
            "sector",
            "property_type",
            "month",
            postgresql_where=text("eligible"),
            sqlite_where=text("eligible"),
        ),
        # Every sale in a postcode: the address look-up lists homes whatever their sales'
        # category, and a repeat sale is found among them (the eligible ones).
        Index("ix_sales_postcode_all", "postcode"),
    )

    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    price: Mapped[int] = mapped_column(Integer)
    deed_date: Mapped[date] = mapped_column(Date)
    # year * 12 + month - 1: months are what the price index and recency work in.
    month: Mapped[int] = mapped_column(Integer)
    postcode: Mapped[str | None] = mapped_column(String(8))
    sector: Mapped[str | None] = mapped_column(String(6))
    district: Mapped[str | None] = mapped_column(String(4))
    area: Mapped[str | None] = mapped_column(String(2))
    property_type: Mapped[str] = mapped_column(String(1))  # D S T F O
    new_build: Mapped[bool] = mapped_column(Boolean)
    tenure: Mapped[str] = mapped_column(String(1))  # F L U
    paon: Mapped[str | None] = mapped_column(String(100))
    saon: Mapped[str | None] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(100))
    locality: Mapped[str | None] = mapped_column(String(100))
    town: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(1))  # A standard, B additional
    # Category A, a house or flat (not O), a plausible price and a UK postcode: the sales a
    # valuation may use. Everything is kept so that C/D records always find their row.
    eligible: Mapped[bool] = mapped_column(Boolean)
    # Where it is: unit coordinates when imported (doorstep geo import), else the sector or
    # district centroid. Stored so the comparables query needs no join.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geo_precision: Mapped[str | None] = mapped_column(String(8))


class PriceIndex(Base):
    """Monthly log price level by region (``*`` all sales, an area ``SW``, a district
    ``SW19``), mix-adjusted and smoothed, each region's level already blended with its parents."""

    __tablename__ = "price_index"

    region: Mapped[str] = mapped_column(String(4), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[float] = mapped_column(Float)
    sales: Mapped[int] = mapped_column(Integer)


class RentalEvidence(Base):
    """A letting from ``doorstep rents import``: an agency's own (``account_id``) or shared
    with every account on the server (``account_id`` null)."""

    __tablename__ = "rental_evidence"
    __table_args__ = (Index("ix_rental_evidence_sector", "sector", "let_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # The agency's reference, or a digest of the row when it has none: re-imports update.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    postcode: Mapped[str] = mapped_column(String(8))
    sector: Mapped[str] = mapped_column(String(6))
    district: Mapped[str] = mapped_column(String(4))
    bedrooms: Mapped[int | None] = mapped_column(Integer)
    property_type: Mapped[str | None] = mapped_column(String(20))
    monthly_rent: Mapped[int] = mapped_column(Integer)
    let_date: Mapped[date] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geo_precision: Mapped[str | None] = mapped_column(String(8))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ValuationModel(Base):
    """What the last ``prices import`` built: the data's span and the interval calibration."""

    __tablename__ = "valuation_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sales: Mapped[int] = mapped_column(Integer)
    first_month: Mapped[int | None] = mapped_column(Integer)
    last_month: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ValuationPage(Base):
    """An account's hosted instant valuation page (``/value/{slug}``) and its embed: the
    publishable token it posts with (the page may be framed by that token's origins), and
    the agency's name, colour and privacy policy."""

    __tablename__ = "valuation_pages"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    brand_name: Mapped[str | None] = mapped_column(String(100))
    brand_colour: Mapped[str] = mapped_column(String(7), default="#1d4ed8")
    privacy_url: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
