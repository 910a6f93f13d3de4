from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from doorstep.auth.api_key import ApiActor
from doorstep.db import SessionDep
from doorstep.offices import service

router = APIRouter(prefix="/api/v103", tags=["Offices"])


@router.get(
    "/offices",
    summary="Get Offices",
    responses={200: {"content": {"application/json": {"example": {"data": [
        {"id": 1213, "name": "Nottingham"}, {"id": 1214, "name": "Derby"}]}}}}},
)  # fmt: skip
def get_offices(actor: ApiActor, session: SessionDep) -> dict[str, Any]:
    """Your account's offices: ids to send as `office_id` when you route explicitly."""
    return {
        "data": [
            {"id": o.id, "name": o.name} for o in service.list_offices(session, actor.account_id)
        ]
    }
