from __future__ import annotations

from fastapi import APIRouter

from doorstep.auth.api_key import Api, Call
from doorstep.leads.api import JSON
from doorstep.statuses import service

router = APIRouter(prefix="/api/v103", tags=["Statuses"])


@router.get(
    "/statuses",
    summary="Get Statuses",
    responses={200: {"content": {"application/json": {"example": [
        {"id": 1, "name": "New", "stageId": 50, "isPredefined": True},
        {"id": 101, "name": "Another one", "stageId": 50, "isPredefined": False},
        {"id": 2, "name": "Contacted", "stageId": 100, "isPredefined": True}]}}}},
)  # fmt: skip
async def get_statuses(api: Api) -> JSON:
    """Predefined statuses first, then your account's own. Stages: 50 Unread,
    100 In progress, 150 Closed. Send a name or id as `status` when updating a lead."""

    def work(call: Call) -> JSON:
        statuses = service.list_statuses(call.session, call.actor.account_id)
        return JSON(
            [
                {"id": s.id, "name": s.name, "stageId": s.stage_id, "isPredefined": s.is_predefined}
                for s in statuses
            ]
        )

    return await api.run(work)
