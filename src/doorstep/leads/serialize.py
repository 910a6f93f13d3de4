"""The lead object: every key, in the documented order, null where unknown."""

from __future__ import annotations

from datetime import UTC, datetime
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


def to_dict(
    lead: Lead,
    office_name: str | None,
    account_name: str | None,
    status_name: str | None,
    referred_by_office_name: str | None = None,
    referred_by_account_name: str | None = None,
) -> dict[str, Any]:
    l = lead  # noqa: E741
    ood = l.out_of_area_distance
    values: dict[str, Any] = {
        "id": l.id,
        "type": l.type,
        "title": l.title,
        "meta": l.meta,
        "message": l.message,
        "first_name": l.first_name,
        "email": l.email,
        "advert_url": l.advert_url,
        "advert_image": l.advert_image,
        "advert_postcode": l.advert_postcode,
        "advert_address": l.advert_address,
        "address": l.address,
        "postcode": l.postcode,
        "appointment_availability": l.appointment_availability,
        "comparable_props": l.comparable_props,
        "phone": l.phone,
        "source": l.source,
        "full_name": f"{l.first_name} {l.last_name}",
        "last_name": l.last_name,
        "created_at": iso(l.created_at),
        "is_parent": l.is_parent,
        "parent_id": l.parent_id,
        "questionnaire": l.questionnaire,
        "stage": STAGES.get(l.stage_id),
        "status": status_name,
        "minimum_sale_estimation": l.minimum_sale_estimation,
        "average_sale_estimation": l.average_sale_estimation,
        "maximum_sale_estimation": l.maximum_sale_estimation,
        "minimum_rent_estimation": l.minimum_rent_estimation,
        "average_rent_estimation": l.average_rent_estimation,
        "maximum_rent_estimation": l.maximum_rent_estimation,
        "valuation_status": l.valuation_status,
        "gdpr_checkbox": l.gdpr_checkbox,
        "host": l.host,
        "property_bedrooms": l.property_bedrooms,
        "property_reference": l.property_reference,
        "property_type": l.property_type,
        "raw_property_reference": l.raw_property_reference,
        "office_id": l.office_id,
        "office_name": office_name,
        "out_of_area_distance": None if ood is None else round(ood, 2),
        "international": bool(l.international),
        "account_id": l.account_id,
        "account_name": account_name,
        "referred_by_office_id": l.referred_by_office_id,
        "referred_by_office_name": referred_by_office_name,
        "referred_by_account_id": l.referred_by_account_id,
        "referred_by_account_name": referred_by_account_name,
        "eta": l.eta,
        "facebook_pixel_id": l.facebook_pixel_id,
        "utm_source": l.utm_source,
        "utm_medium": l.utm_medium,
        "utm_campaign": l.utm_campaign,
        "utm_content": l.utm_content,
        "utm_term": l.utm_term,
        "utm_gclid": l.utm_gclid,
        "property_bathrooms": l.property_bathrooms,
        "property_receptions": l.property_receptions,
        "next_action_date": iso(l.next_action_date),
    }
    return {k: values[k] for k in LEAD_KEYS}


def read_lead(session: Session, account_id: int, lead_id: int) -> dict[str, Any] | None:
    row = session.execute(
        lead_rows().where(Lead.account_id == account_id, Lead.id == lead_id)
    ).first()
    return to_dict(*row) if row else None
