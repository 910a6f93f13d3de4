"""Lead API v103: thin routes that parse, call the service and return the lead object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from doorstep import idempotency
from doorstep.auth.api_key import API_KEY_SECURITY, Api, Call, api_call
from doorstep.errors import ValidationFailed
from doorstep.http import NUL_REASON, has_nul, validate
from doorstep.leads import create_pg, examples, service
from doorstep.leads.schemas import LeadCreate, LeadUpdate
from doorstep.leads.serialize import LEAD_KEYS, LeadObject, read_lead
from doorstep.models import Lead
from doorstep.numbers import path_id
from doorstep.ops import metrics

router = APIRouter(prefix="/api/v103", tags=["Leads"])

# Every other key of the lead object is read-only: sent to PATCH, it is a 422 naming it (the
# estimates, routing and referral fields included), not a silent 200.
NOT_UPDATABLE = tuple(key for key in LEAD_KEYS if key not in LeadUpdate.model_fields)


class JSON(JSONResponse):
    """orjson-rendered; a JSONResponse so that the docs show the route's response model."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


def lead_id_of(raw: str) -> int:
    return path_id(raw, "lead")


def create_and_respond(
    request: Request,
    call: Call,
    model: type[LeadCreate],
    default_source: str,
    enrich: Callable[[Lead], None] | None = None,
) -> JSON:
    """Shared by create and valuation: idempotency, validation, creation, one response."""
    session, actor, body = call.session, call.actor, call.body
    key = request.headers.get("idempotency-key")
    claim = None
    if key is not None:
        claim = idempotency.claim(
            session, actor.account_id, key, request.method, request.url.path, body
        )
        if claim.is_replay:
            assert claim.replay_status is not None and claim.replay_body is not None
            return JSON(
                claim.replay_body.encode(),
                status_code=claim.replay_status,
                headers={"Idempotent-Replayed": "true"},
            )
    data = validate(model, body)
    lead = service.create_lead(
        session, actor, data, default_source=default_source, before_insert=enrich
    )
    out = orjson.dumps(lead.as_dict())
    if claim is not None:
        idempotency.store(session, claim, 200, out.decode())
    request.state.lead_id = lead.id
    metrics.LEADS_CREATED.labels(type=lead.values["type"], source=lead.values["source"]).inc()
    metrics.CREATE_PATH.labels(path="thread").inc()
    return JSON(out)


LEAD_EXAMPLE = {"application/json": {"example": examples.LEAD_RESPONSE}}


@router.post(
    "/leads",
    summary="Create Lead",
    response_class=JSON,
    response_model=LeadObject,
    openapi_extra={
        **examples.request_body(LeadCreate, examples.CREATE_REQUEST, idempotent=True),
        "security": API_KEY_SECURITY,
    },
    responses=examples.responses(LEAD_EXAMPLE),
)
async def create_lead(request: Request) -> JSON:
    """Create a lead. Routed by `office_id`, else by postcode (see the routing rules);
    grouped with the person's earlier leads by email or UK-normalised phone.
    Send `Idempotency-Key` to make retries safe."""
    # The key is read here, not through the Api dependency: FastAPI's dependency solving
    # was 4.8-6.8% of a create's CPU in py-spy profiles, and this route is the hot one.
    api = api_call(request)
    if (pool := create_pg.pool_for(request, api.key)) is not None:
        created = await create_pg.create(request, api.key, pool)
        return JSON(created.body, status_code=created.status, headers=created.headers)
    return await api.run(
        lambda call: create_and_respond(request, call, LeadCreate, "homepage"),
        body=True,
        browser=True,
    )


@router.get(
    "/leads/{lead_id}",
    summary="Get Lead",
    response_class=JSON,
    response_model=LeadObject,
    responses=examples.responses(LEAD_EXAMPLE),
)
async def get_lead(request: Request, lead_id: str, api: Api) -> JSON:
    """The lead object. 404 for an unknown id, an id that is not a positive integer, or a lead
    of another account."""

    def work(call: Call) -> JSON:
        lead = service.get_lead(call.session, call.actor, lead_id_of(lead_id))
        request.state.lead_id = lead["id"]
        return JSON(lead)

    return await api.run(work)


@router.patch(
    "/leads/{lead_id}",
    summary="Update Lead",
    response_class=JSON,
    response_model=LeadObject,
    openapi_extra=examples.request_body(LeadUpdate, examples.UPDATE_REQUEST),
    responses=examples.responses(LEAD_EXAMPLE),
)
async def update_lead(request: Request, lead_id: str, api: Api) -> JSON:
    """Update any subset of the updatable fields. `questionnaire` pairs are appended, `meta`
    keys merged (null removes a key), `status` (name or id) moves the stage with it."""
    return await api.run(lambda call: _update(request, lead_id, call), body=True)


def _update(request: Request, lead_id: str, call: Call) -> JSON:
    session, actor, body = call.session, call.actor, call.body
    lid = lead_id_of(lead_id)
    service.get_lead_model(session, actor, lid)  # 404 before any validation message
    errors: dict[str, list[str]] = {}
    if isinstance(body, dict):
        for name in NOT_UPDATABLE:
            if name in body:
                errors[name] = ["This field cannot be updated."]
    try:
        data = validate(LeadUpdate, body)
    except ValidationFailed as e:
        errors = {**(e.errors or {}), **errors}
        raise ValidationFailed(errors) from None
    if errors:
        raise ValidationFailed(errors)
    service.update_lead(session, actor, lid, data)
    request.state.lead_id = lid
    return JSON(read_lead(session, actor.account_id, lid))


@router.get(
    "/person/leads",
    summary="Get leads by contact details",
    response_class=JSON,
    response_model=list[LeadObject],
    responses=examples.responses({"application/json": {"example": [examples.LEAD_RESPONSE]}}),
)
async def person_leads(
    api: Api,
    email: Annotated[str | None, Query(description="Case-insensitive.")] = None,
    phone: Annotated[
        str | None,
        Query(description="Matched by UK-normalised form: 07986 000000 = +447986000000."),
    ] = None,
    first_name: Annotated[str | None, Query(alias="firstName")] = None,
    last_name: Annotated[str | None, Query(alias="lastName")] = None,
) -> JSON:
    """Leads matching every given parameter, newest first. `email` or `phone` is required."""
    params = {"email": email, "phone": phone, "firstName": first_name, "lastName": last_name}

    def work(call: Call) -> JSON:
        if bad := {k: [NUL_REASON] for k, v in params.items() if has_nul(v)}:
            raise ValidationFailed(bad)
        if not (email or "").strip() and not (phone or "").strip():
            raise ValidationFailed(
                {
                    "email": ["Send email or phone (or both)."],
                    "phone": ["Send email or phone (or both)."],
                },
                message="Email or phone must be supplied: leads cannot be found by name alone.",
            )
        return JSON(
            service.find_by_contact(
                call.session,
                call.actor,
                email=email,
                phone=phone,
                first_name=first_name,
                last_name=last_name,
            )
        )

    return await api.run(work)
