from __future__ import annotations

from fastapi import APIRouter

from doorstep.auth.api_key import Api, Call
from doorstep.leads.api import JSON
from doorstep.offices import service

router = APIRouter(prefix="/api/v103", tags=["Offices"])


@router.get(
    "/offices",
    summary="Get Offices",
    responses={200: {"content": {"application/json": {"example": {"data": [
        {"id": 1213, "name": "Nottingham"}, {"id": 1214, "name": "Derby"}]}}}}},
)  # fmt: skip
async def get_offices(api: Api) -> JSON:
    """Your account's offices: ids to send as `office_id` when you route explicitly."""

    def work(call: Call) -> JSON:
        offices = service.list_offices(call.session, call.actor.account_id)
        return JSON({"data": [{"id": o.id, "name": o.name} for o in offices]})

    return await api.run(work)
