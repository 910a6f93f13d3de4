"""The lead object: every key, in the documented order, null where unknown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from doorstep.leads.schemas import LeadType, PropertyType
from doorstep.models import Account, Lead, Office, Status
from doorstep.models.status import STAGES

Text = str | None
Money = Annotated[int | None, Field(description="Whole pounds (rents: per calendar month).")]


class LeadObject(BaseModel):
    """The lead object every endpoint returns: all of these keys, in this order, ``null`` where
    unknown. Written down here once: ``LEAD_KEYS`` and the OpenAPI schema are read off it (the
    responses themselves are built as plain dicts by ``from_values``)."""

    id: int
    type: LeadType
    title: Text
    meta: dict[str, str] | None
    message: Text
    first_name: str
    email: str
    advert_url: Text
    advert_image: Text
    advert_postcode: Text
    advert_address: Text
    address: Text
    postcode: Text
    appointment_availability: dict[str, str | list[str]] | None
    comparable_props: list[dict[str, Any]] | None = Field(
        description="The evidence behind an instant valuation: sales and lettings, each with "
        "evidence, address, postcode, price, date, property_type and distance (metres)."
    )
    phone: str
    source: str
    full_name: str
    last_name: str
    created_at: str = Field(description="ISO 8601 UTC with milliseconds.")
    is_parent: bool
    parent_id: int | None
    questionnaire: list[list[str]] | None
    stage: Literal["Unread", "In progress", "Closed"]
    status: str
    minimum_sale_estimation: Money
    average_sale_estimation: Money
    maximum_sale_estimation: Money
    minimum_rent_estimation: Money
    average_rent_estimation: Money
    maximum_rent_estimation: Money
    valuation_status: (
        Literal["Success", "Not Enough Comparable Properties", "Postcode Not Found"] | None
    )
    gdpr_checkbox: bool | None
    host: Text
    property_bedrooms: int | None
    property_reference: Text
    property_type: PropertyType | None
    raw_property_reference: Text
    office_id: int | None
    office_name: Text
    out_of_area_distance: float | None = Field(
        description="Metres from the routing postcode to the office's coverage, when outside it."
    )
    international: bool
    account_id: int
    account_name: str
    referred_by_office_id: int | None
    referred_by_office_name: Text
    referred_by_account_id: int | None
    referred_by_account_name: Text
    eta: Text
    facebook_pixel_id: Text
    utm_source: Text
    utm_medium: Text
    utm_campaign: Text
    utm_content: Text
    utm_term: Text
    utm_gclid: Text
    property_bathrooms: int | None
    property_receptions: int | None
    next_action_date: str | None = Field(description="ISO 8601 UTC, or null.")


LEAD_KEYS = list(LeadObject.model_fields)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and Z: ``2026-02-25T08:25:47.038Z``."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_office = aliased(Office)
_ref_office = aliased(Office)
_ref_account = aliased(Account)


def lead_rows() -> Select[Lead, str, str, str, str, str]:
    """Leads with the names the lead object shows, in one query."""
    return (
        select(
            Lead,
            _office.name,
            Account.name,
            Status.name,
            _ref_office.name,
            _ref_account.name,
        )
        .join(Account, Account.id == Lead.account_id)
        .join(Status, Status.id == Lead.status_id)
        .outerjoin(_office, _office.id == Lead.office_id)
        .outerjoin(_ref_office, _ref_office.id == Lead.referred_by_office_id)
        .outerjoin(_ref_account, _ref_account.id == Lead.referred_by_account_id)
    )


def from_values(
    v: Mapping[str, Any],
    office_name: str | None,
    account_name: str | None,
    status_name: str | None,
    referred_by_office_name: str | None = None,
    referred_by_account_name: str | None = None,
) -> dict[str, Any]:
    """The lead object from a lead's column values (a row, or a lead being created)."""
    ood = v["out_of_area_distance"]
    values: dict[str, Any] = {
        "id": v["id"],
        "type": v["type"],
        "title": v["title"],
        "meta": v["meta"],
        "message": v["message"],
        "first_name": v["first_name"],
        "email": v["email"],
        "advert_url": v["advert_url"],
        "advert_image": v["advert_image"],
        "advert_postcode": v["advert_postcode"],
        "advert_address": v["advert_address"],
        "address": v["address"],
        "postcode": v["postcode"],
        "appointment_availability": v["appointment_availability"],
        "comparable_props": v["comparable_props"],
        "phone": v["phone"],
        "source": v["source"],
        "full_name": f"{v['first_name']} {v['last_name']}",
        "last_name": v["last_name"],
        "created_at": iso(v["created_at"]),
        "is_parent": v["is_parent"],
        "parent_id": v["parent_id"],
        "questionnaire": v["questionnaire"],
        "stage": STAGES.get(v["stage_id"]),
        "status": status_name,
        "minimum_sale_estimation": v["minimum_sale_estimation"],
        "average_sale_estimation": v["average_sale_estimation"],
        "maximum_sale_estimation": v["maximum_sale_estimation"],
        "minimum_rent_estimation": v["minimum_rent_estimation"],
        "average_rent_estimation": v["average_rent_estimation"],
        "maximum_rent_estimation": v["maximum_rent_estimation"],
        "valuation_status": v["valuation_status"],
        "gdpr_checkbox": v["gdpr_checkbox"],
        "host": v["host"],
        "property_bedrooms": v["property_bedrooms"],
        "property_reference": v["property_reference"],
        "property_type": v["property_type"],
        "raw_property_reference": v["raw_property_reference"],
        "office_id": v["office_id"],
        "office_name": office_name,
        "out_of_area_distance": None if ood is None else round(ood, 2),
        "international": bool(v["international"]),
        "account_id": v["account_id"],
        "account_name": account_name,
        "referred_by_office_id": v["referred_by_office_id"],
        "referred_by_office_name": referred_by_office_name,
        "referred_by_account_id": v["referred_by_account_id"],
        "referred_by_account_name": referred_by_account_name,
        "eta": v["eta"],
        "facebook_pixel_id": v["facebook_pixel_id"],
        "utm_source": v["utm_source"],
        "utm_medium": v["utm_medium"],
        "utm_campaign": v["utm_campaign"],
        "utm_content": v["utm_content"],
        "utm_term": v["utm_term"],
        "utm_gclid": v["utm_gclid"],
        "property_bathrooms": v["property_bathrooms"],
        "property_receptions": v["property_receptions"],
        "next_action_date": iso(v["next_action_date"]),
    }
    return values  # written in LEAD_KEYS order, the documented one


COLUMNS = tuple(c.key for c in Lead.__table__.columns)
_columns_of = attrgetter(*COLUMNS)


def to_dict(
    lead: Lead,
    office_name: str | None,
    account_name: str | None,
    status_name: str | None,
    referred_by_office_name: str | None = None,
    referred_by_account_name: str | None = None,
) -> dict[str, Any]:
    return from_values(
        dict(zip(COLUMNS, _columns_of(lead), strict=True)),
        office_name,
        account_name,
        status_name,
        referred_by_office_name,
        referred_by_account_name,
    )


def read_lead(session: Session, account_id: int, lead_id: int) -> dict[str, Any] | None:
    row = session.execute(
        lead_rows().where(Lead.account_id == account_id, Lead.id == lead_id)
    ).first()
    return to_dict(*row) if row else None
