"""The documentation's example payloads, shown in the OpenAPI docs at /docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

CREATE_REQUEST: dict[str, Any] = {
    "type": "sale",
    "phone": "01623000000",
    "first_name": "Marla",
    "last_name": "Singer",
    "email": "cloud9@cloud.com",
    "title": "Mrs",
    "advert_address": "123 Example Street, Example town",
    "advert_postcode": "DE1 1JX",
    "advert_url": "https://placeholder.com/150",
    "utm_source": "social_media",
    "utm_campaign": "newsletter_2025",
    "appointment_availability": {"hours": ["2025-01-01T08:00:00.000Z", "2025-01-01T09:00:00.000Z"]},
    "message": "I would like a valuation please",
    "meta": {"Property Type": "detached", "Virtual Tour": "true", "Property ID": "7362"},
}

VALUATION_REQUEST: dict[str, Any] = {
    "type": "vendor",
    "phone": "07986000000",
    "property_bedrooms": 4,
    "first_name": "Marla",
    "last_name": "Singer",
    "email": "cloud9@cloud.com",
    "title": "Mrs",
    "address": "123 Example street, Example town",
    "postcode": "De1 1JX",
    "appointment_availability": {"hours": ["2021-01-01T08:00:00.000Z", "2021-01-01T09:00:00.000Z"]},
    "message": "I would like to know how much my home is worth",
    "meta": {"virtual tour": "true"},
    "gdpr_checkbox": True,
    "host": "https://www.yourdomain.ivt.com",
}

UPDATE_REQUEST: dict[str, Any] = {
    "first_name": "Joe",
    "last_name": "Bloggs",
    "address": "123 Example Street",
    "postcode": "EX1 2MP",
    "advert_address": "456 Test Lane",
    "advert_postcode": "EX3 4NP",
    "status": "Contacted",
    "office_id": 375,
    "gdpr_checkbox": True,
    "next_action_date": "2025-07-12T10:00:00Z",
    "questionnaire": [["Do you have pets?", "Yes"]],
    "meta": {"data2": "value2"},
    "utm_source": "Google",
    "utm_medium": "CPC",
    "utm_campaign": "Summer Sale",
    "utm_content": "Ad1",
    "utm_term": "Real Estate",
    "utm_gclid": "GCLID1234567890",
}

LEAD_RESPONSE: dict[str, Any] = {
    "id": 18376, "type": "sale", "title": "Mrs",
    "meta": {"Property ID": "7362", "Virtual Tour": "true", "Property Type": "detached"},
    "message": "I would like a valuation please", "first_name": "Marla",
    "email": "cloud9@cloud.com", "advert_url": "https://placeholder.com/150",
    "advert_image": None, "advert_postcode": "DE1 1JX",
    "advert_address": "123 Example Street, Example town", "address": None, "postcode": None,
    "appointment_availability": {"hours": ["2025-01-01T08:00:00.000Z", "2025-01-01T09:00:00.000Z"]},
    "comparable_props": None, "phone": "01623000000", "source": "homepage",
    "full_name": "Marla Singer", "last_name": "Singer", "created_at": "2026-02-25T08:25:47.038Z",
    "is_parent": True, "parent_id": None, "questionnaire": None, "stage": "Unread",
    "status": "New", "minimum_sale_estimation": None, "average_sale_estimation": None,
    "maximum_sale_estimation": None, "minimum_rent_estimation": None,
    "average_rent_estimation": None, "maximum_rent_estimation": None, "valuation_status": None,
    "gdpr_checkbox": None, "host": None, "property_bedrooms": None, "property_reference": None,
    "property_type": None, "raw_property_reference": None, "office_id": 375,
    "office_name": "Nottingham", "out_of_area_distance": 5947.12, "international": False,
    "account_id": 18, "account_name": "Demo Brand", "referred_by_office_id": None,
    "referred_by_office_name": None, "referred_by_account_id": None,
    "referred_by_account_name": None, "eta": None, "facebook_pixel_id": None,
    "utm_source": "social_media", "utm_medium": None, "utm_campaign": "newsletter_2025",
    "utm_content": None, "utm_term": None, "utm_gclid": None, "property_bathrooms": None,
    "property_receptions": None, "next_action_date": None,
}  # fmt: skip

ERROR_EXAMPLE = {
    "message": "The given data was invalid: first_name, email.",
    "errors": {
        "first_name": ["String should have at most 50 characters."],
        "email": ["Must be a valid email address: An email address must have an @-sign."],
    },
}


def request_body(
    model: type[BaseModel], example: dict[str, Any], idempotent: bool = False
) -> dict[str, Any]:
    """The operation's body with its schema and example; ``idempotent`` adds the
    Idempotency-Key header."""
    from doorstep.openapi import IDEMPOTENCY_KEY

    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    form = {
        "schema": {
            "type": "object",
            "description": "The same fields and rules as JSON; objects in bracket notation "
            "(meta[Property Type]=detached, appointment_availability[hours][]=..., "
            "questionnaire[Selling?]=Yes), numbers as digits, booleans true/false/1/0 or a "
            "ticked checkbox's on. A field sent twice, or a file, is a 422.",
        },
        "example": form_example(example),
    }
    return {
        **({"parameters": [IDEMPOTENCY_KEY]} if idempotent else {}),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema, "example": example},
                "application/x-www-form-urlencoded": form,
                "multipart/form-data": form,
            },
        },
    }


def form_example(example: dict[str, Any]) -> str:
    """A JSON example as the form body a website would send (see ``formdata``)."""
    from urllib.parse import urlencode

    pairs: list[tuple[str, str]] = []
    for key, value in example.items():
        if isinstance(value, dict):
            for k, v in value.items():
                for item in v if isinstance(v, list) else [v]:
                    pairs.append((f"{key}[{k}]" + ("[]" if isinstance(v, list) else ""), item))
        elif isinstance(value, list):
            for i, (question, answer) in enumerate(value):
                pairs += [(f"{key}[{i}][0]", question), (f"{key}[{i}][1]", answer)]
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


def _err(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


def responses(ok: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": "Success", "content": ok},
        400: _err("Malformed JSON", {"message": "The request body is not valid JSON: Expecting "
                                                "',' delimiter at line 3, column 5."}),
        401: _err("Missing, unknown or revoked key", {"message": "Invalid or revoked API key."}),
        404: _err("Not found (or another account's)", {"message": "There is no lead 42."}),
        409: _err("Idempotency-Key reused with another body", {"message": "This Idempotency-Key "
                  "was already used with a different request body or endpoint."}),
        413: _err("Body over 64 KiB", {"message": "The request body is larger than 65536 bytes."}),
        415: _err("Body is neither JSON nor a form", {"message": "The request body must be "
                  "JSON (Content-Type: application/json) or an HTML form "
                  "(application/x-www-form-urlencoded or multipart/form-data)."}),
        422: _err("Validation failed: every failing field at once", ERROR_EXAMPLE),
        429: _err("Rate limit exceeded (see Retry-After)", {"message": "Rate limit of 600 "
                  "requests a minute exceeded; retry in 12 s."}),
    }  # fmt: skip
