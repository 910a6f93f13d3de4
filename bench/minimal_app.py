"""The yardstick: the least a FastAPI service can do for a create-lead request.

It validates the same body with a comparable Pydantic model (same fields, lengths, types and
email check), inserts one row with SQLAlchemy and psycopg 3 (committed synchronously, like
Doorstep's lead) and echoes the row. No auth, routing, grouping, request log, metrics or
logging: what it costs is the floor Doorstep's full create-lead is measured against.

Run by ``python -m bench`` as ``uvicorn bench.minimal_app:app --workers 2`` with
``BENCH_MINIMAL_DATABASE_URL`` set.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from fastapi import FastAPI
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
leads = Table(
    "leads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(20), nullable=False),
    Column("title", String(50)),
    Column("first_name", String(50), nullable=False),
    Column("last_name", String(50), nullable=False),
    Column("email", String(320), nullable=False),
    Column("phone", String(255), nullable=False),
    Column("message", Text),
    Column("advert_url", String(255)),
    Column("advert_image", String(255)),
    Column("advert_postcode", String(255)),
    Column("advert_address", String(255)),
    Column("address", String(255)),
    Column("postcode", String(255)),
    Column("appointment_availability", JSON().with_variant(JSONB(), "postgresql")),
    Column("meta", JSON().with_variant(JSONB(), "postgresql")),
    Column("questionnaire", JSON().with_variant(JSONB(), "postgresql")),
    Column("source", String(40)),
    Column("gdpr_checkbox", Boolean),
    Column("host", String(255)),
    Column("office_id", Integer),
    Column("international", Boolean),
    Column("utm_source", String(255)),
    Column("utm_campaign", String(255)),
    Column("utm_medium", String(255)),
    Column("utm_term", String(255)),
    Column("utm_content", String(255)),
    Column("utm_gclid", String(255)),
    Column("property_reference", String(255)),
    Column("property_type", String(20)),
    Column("property_bedrooms", Integer),
    Column("property_bathrooms", Integer),
    Column("property_receptions", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def _email(v: str) -> str:
    try:
        validate_email(v, check_deliverability=False)
    except EmailNotValidError as e:
        raise ValueError(str(e)) from None
    return v


Name = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
Str255 = Annotated[str, StringConstraints(max_length=255)]
Postcode = Annotated[str, StringConstraints(min_length=2, max_length=10)]
Count = Annotated[int, Field(ge=0, le=50)]


class LeadIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    first_name: Name
    last_name: Name
    email: Annotated[str, StringConstraints(min_length=1, max_length=320), AfterValidator(_email)]
    phone: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: Annotated[
        Literal["sale", "let", "vendor", "landlord", "mortgage_request"], BeforeValidator(_lower)
    ]
    title: Name | None = None
    advert_address: Str100 | None = None
    advert_postcode: Postcode | None = None
    advert_url: Str255 | None = None
    advert_image: Str255 | None = None
    message: Str255 | None = None
    appointment_availability: dict[str, str | list[str]] | None = None
    meta: dict[str, str] | None = None
    questionnaire: list[tuple[str, str]] | None = None
    gdpr_checkbox: bool | None = None
    host: Str255 | None = None
    office_id: int | None = None
    address: Str100 | None = None
    postcode: Postcode | None = None
    source: Annotated[str | None, BeforeValidator(_lower)] = None
    international: bool | None = None
    utm_source: Str255 | None = None
    utm_campaign: Str255 | None = None
    utm_medium: Str255 | None = None
    utm_term: Str255 | None = None
    utm_content: Str255 | None = None
    utm_gclid: Str255 | None = None
    property_reference: Str255 | None = None
    property_type: Annotated[
        Literal["detached", "semi-detached", "terraced", "flat-maisonette"] | None,
        BeforeValidator(_lower),
    ] = None
    property_bedrooms: Count | None = None
    property_bathrooms: Count | None = None
    property_receptions: Count | None = None


class LeadOut(LeadIn):
    id: int
    created_at: datetime


def build_engine(url: str) -> Any:
    # Enough connections for every thread that may hold one: no connect/close churn.
    return create_engine(url, pool_size=20, max_overflow=20)


DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_minimal"
engine = build_engine(os.environ.get("BENCH_MINIMAL_DATABASE_URL", DEFAULT_URL))
app = FastAPI(title="Minimal create-lead")


@app.post("/leads")
def create_lead(body: LeadIn) -> LeadOut:
    values = body.model_dump()
    with engine.begin() as conn:
        row = conn.execute(
            insert(leads).values(**values).returning(leads.c.id, leads.c.created_at)
        ).one()
    return LeadOut(**values, id=row.id, created_at=row.created_at)
