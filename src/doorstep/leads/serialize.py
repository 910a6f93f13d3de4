"""The lead object: every key, in the documented order, null where unknown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from doorstep.models import Account, Lead, Office, Status
from doorstep.models.status import STAGES

LEAD_KEYS = [
    "id",
    "type",
    "title",
    "meta",
    "message",
    "first_name",
    "email",
    "advert_url",
    "advert_image",
    "advert_postcode",
    "advert_address",
    "address",
    "postcode",
    "appointment_availability",
    "comparable_props",
    "phone",
    "source",
    "full_name",
    "last_name",
    "created_at",
    "is_parent",
    "parent_id",
    "questionnaire",
    "stage",
    "status",
    "minimum_sale_estimation",
    "average_sale_estimation",
    "maximum_sale_estimation",
    "minimum_rent_estimation",
    "average_rent_estimation",
    "maximum_rent_estimation",
    "valuation_status",
    "gdpr_checkbox",
    "host",
    "property_bedrooms",
    "property_reference",
    "property_type",
    "raw_property_reference",
    "office_id",
    "office_name",
    "out_of_area_distance",
    "international",
    "account_id",
    "account_name",
    "referred_by_office_id",
    "referred_by_office_name",
    "referred_by_account_id",
    "referred_by_account_name",
    "eta",
    "facebook_pixel_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "utm_gclid",
    "property_bathrooms",
    "property_receptions",
    "next_action_date",
]


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
