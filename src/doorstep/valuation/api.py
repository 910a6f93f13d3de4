"""``POST /api/v103/leads/valuation``: a vendor or landlord lead with its instant valuation."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from doorstep.auth.api_key import Api, Call
from doorstep.leads import examples
from doorstep.leads.api import JSON, create_and_respond
from doorstep.leads.serialize import LeadObject
from doorstep.models import Lead, LeadEvent
from doorstep.valuation import lookup, service
from doorstep.valuation.schemas import ATTRIBUTION, VALUATION_RESPONSE, ValuationCreate

log = logging.getLogger("doorstep.valuation")
router = APIRouter(prefix="/api/v103", tags=["Leads"])

DESCRIPTION = f"""Create a **vendor** or **landlord** lead (`postcode` required; any other type
is a 422) and value the property at once. Routing, grouping and `Idempotency-Key` work as for
Create Lead; the default `source` is `ivt`.

The lead is always stored, whatever the valuation finds, and the response (like every later
read of the lead) carries:

* `minimum_`, `average_`, `maximum_sale_estimation`: whole pounds. The range is calibrated on
  imported sales so that about 80% of real sale prices fall inside it.
* `minimum_`, `average_`, `maximum_rent_estimation`: whole pounds per calendar month.
* `valuation_status`:
  * `Success`: at least 5 sales of the same property type within 2 km in the last 5 years
    of evidence (for a landlord: at least 3 lettings within 2 km in the last 2 years);
  * `Not Enough Comparable Properties`: the area was widened (up to 40 km and 20 years, then
    all property types) and the estimate comes from there, or, for rents, from the sale
    estimate x the region's gross yield; estimates are null only when nothing was found;
  * `Postcode Not Found`: the postcode is not a UK postcode Doorstep can locate; every
    estimate is null.
* `comparable_props`: the evidence used, each with `address`, `postcode`, `price`, `date`,
  `property_type`, `distance` (metres from the postcode) and `bearing` (degrees from north,
  null at the postcode itself), plus `evidence`: `sale` (price
  in £; `price_today` brought to today by Doorstep's local price index; `same_property` for
  an earlier sale of this very address) or `rent` (£ per month, with `bedrooms`). When no
  `rent` item is listed, the rent estimate is the sale estimate x the gross yield of the
  region (see the README: configurable with `DOORSTEP_RENTAL_YIELDS`).

`property_type` narrows the comparables to that type; `address` lets Doorstep find an earlier
sale of the same home; `property_bedrooms` is matched against lettings (Price Paid Data
records no bedrooms).

{ATTRIBUTION}"""


def _enrich(request: Request, session: Any, account_id: int) -> Any:
    def enrich(lead: Lead) -> None:
        try:
            with session.begin_nested():
                valuation = service.valuate(
                    session,
                    postcode=lead.postcode,
                    property_type=lead.property_type,
                    bedrooms=lead.property_bedrooms,
                    address=lead.address,
                    lead_type=lead.type,
                    account_id=account_id,
                )
        except Exception:
            # The lead matters more than its estimate: store it, say there is none.
            log.exception("valuation failed; the lead is stored without an estimate")
            valuation = service.Valuation(service.NOT_ENOUGH)
            request.state.valuation = {"status": valuation.status, "error": True}
        else:
            request.state.valuation = valuation.explain()
        service.apply(lead, valuation)

    return enrich


@router.post(
    "/leads/valuation",
    summary="Create Instant Valuation Lead",
    description=DESCRIPTION,
    response_class=JSON,
    response_model=LeadObject,
    openapi_extra=examples.request_body(
        ValuationCreate, examples.VALUATION_REQUEST, idempotent=True
    ),
    responses=examples.responses({"application/json": {"example": VALUATION_RESPONSE}}),
)
async def create_valuation_lead(request: Request, api: Api) -> JSON:
    return await api.run(lambda call: _create(request, call), body=True, browser=True)


def _create(request: Request, call: Call) -> JSON:
    session, actor = call.session, call.actor
    response = create_and_respond(
        request, call, ValuationCreate, "ivt", _enrich(request, session, actor.account_id)
    )
    lead_id = getattr(request.state, "lead_id", None)
    explained = getattr(request.state, "valuation", None)
    if lead_id is not None and explained is not None:
        # The dashboard's timeline keeps how the estimate was reached (yield, radius, ...).
        session.add(
            LeadEvent(
                lead_id=lead_id,
                account_id=actor.account_id,
                kind="valuation",
                data=explained,
                actor_token_id=actor.token_id,
            )
        )
    return response


ADDRESSES_EXAMPLE = {
    "postcode": "SW19 7HH",
    "homes": 3,
    "addresses": [
        {
            "label": "12 Dora Road",
            "address": "12 Dora Road, London",
            "property_type": "semi-detached",
            "flats": [],
        },
        {
            "label": "14 Dora Road",
            "address": None,
            "property_type": None,
            "flats": [
                {
                    "label": "Flat 1",
                    "address": "Flat 1, 14 Dora Road, London",
                    "property_type": "flat-maisonette",
                },
                {
                    "label": "Flat 2",
                    "address": "Flat 2, 14 Dora Road, London",
                    "property_type": "flat-maisonette",
                },
            ],
        },
    ],
}


ADDRESSES_DESCRIPTION = f"""The homes in a postcode that imported Price Paid Data knows, for a
valuation form's "choose your address": each home once, in the form of its newest sale; flats
grouped under their building (`address` null when only the building's flats were sold);
buildings in street-number order. Post the chosen `address` (and its `property_type`) with the
valuation: an earlier sale of that home is then used, and listed first in `comparable_props`
with `same_property: true`. A publishable token may call this. 422 for a postcode that is not a
full UK postcode.

{ATTRIBUTION}"""


@router.get(
    "/addresses",
    summary="Look up addresses",
    description=ADDRESSES_DESCRIPTION,
    tags=["Addresses"],
    response_class=JSON,
    responses={
        200: {
            "description": "The homes known in the postcode (an empty list when none are).",
            "content": {"application/json": {"example": ADDRESSES_EXAMPLE}},
        }
    },
)
async def addresses(
    api: Api,
    postcode: Annotated[
        str | None, Query(description="A full UK postcode, any case and spacing.")
    ] = None,
) -> JSON:
    def work(call: Call) -> JSON:
        return JSON(lookup.lookup(call.session, postcode))

    return await api.run(work, browser=True)
