"""How a lead's status moves on from a call. Here the plain change: a connected call moves a
New lead to Contacted through the lead's own status-change code (the same timeline entry and
``lead.status_changed`` event as any status change). Strict lead progression (another branch)
keeps this function's signature."""

from __future__ import annotations

from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.leads import service
from doorstep.leads.schemas import LeadUpdate
from doorstep.models import Lead
from doorstep.models.status import NEW_STATUS_ID

CONTACTED = "Contacted"


def record_connected_call(session: Session, lead: Lead, *, user_id: int | None, note: str) -> None:
    """A call to the lead was connected: New becomes Contacted (a lead already past New
    keeps its status)."""
    if lead.status_id != NEW_STATUS_ID:
        return
    actor = Actor(lead.account_id, user_id=user_id, label="the autocaller")
    service.update_lead(session, actor, lead.id, LeadUpdate(status=CONTACTED))
