"""The valuation endpoint's body is the create body restricted to vendor and landlord leads
(``leads.schemas.ValuationCreate``); this module holds what its documentation shows."""

from __future__ import annotations

from typing import Any

from doorstep.leads import examples
from doorstep.leads.schemas import ValuationCreate

__all__ = ["ATTRIBUTION", "VALUATION_RESPONSE", "ValuationCreate"]

ATTRIBUTION = (
    "Contains HM Land Registry data © Crown copyright and database right 2025. This data is "
    "licensed under the Open Government Licence v3.0."
)

VALUATION_RESPONSE: dict[str, Any] = {
    **examples.LEAD_RESPONSE,
    "id": 18381,
    "type": "vendor",
    "meta": {"virtual tour": "true"},
    "message": "I would like to know how much my home is worth",
    "advert_url": None,
    "advert_postcode": None,
    "advert_address": None,
    "address": "12 Dora Road, London",
    "postcode": "SW19 7HH",
    "source": "ivt",
    "appointment_availability": None,
    "utm_source": None,
    "utm_campaign": None,
    # A real valuation of the demo data (`make run`): 12 Dora Road sold in 2013, its price
    # brought forward by the SW19 index, and the newest sale on the street.
    "comparable_props": [
        {
            "evidence": "sale",
            "address": "12, DORA ROAD, LONDON",
            "postcode": "SW19 7HH",
            "price": 1300000,
            "date": "2013-10-04",
            "property_type": "semi-detached",
            "distance": 0,
            "bearing": None,
            "price_today": 1697000,
            "same_property": True,
        },
        {
            "evidence": "sale",
            "address": "24, DORA ROAD, LONDON",
            "postcode": "SW19 7HH",
            "price": 1425000,
            "date": "2018-06-08",
            "property_type": "semi-detached",
            "distance": 0,
            "bearing": None,
            "price_today": 1425000,
            "same_property": False,
        },
    ],
    "minimum_sale_estimation": 1309000,
    "average_sale_estimation": 1692000,
    "maximum_sale_estimation": 2327000,
    "minimum_rent_estimation": 4910,
    "average_rent_estimation": 6345,
    "maximum_rent_estimation": 8725,
    "valuation_status": "Success",
    "gdpr_checkbox": True,
    "property_bedrooms": 3,
    "property_type": "semi-detached",
    "office_id": 5,
    "office_name": "Wimbledon",
    "out_of_area_distance": None,
}
