"""Strict lead progression's one door from New to Contacted: a connected call.

The autocaller (and "Call this lead") calls ``record_connected_call`` when a call connects;
every other status change goes through ``leads.service.update_lead``, which, when the account
has strict lead progression, refuses New -> Contacted and any change without a note."""

from __future__ import annotations

from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.leads import service as leads
from doorstep.models import Lead

# Who the timeline names when no user placed the call.
AUTOCALLER = "the autocaller"


def record_connected_call(session: Session, lead: Lead, *, user_id: int | None, note: str) -> bool:
    """Move a lead still in New to Contacted because a call to it connected (whether strict
    progression is on or off); ``note`` goes on the timeline with the change. Returns whether
    the lead moved: a lead past New is left as it is."""
    actor = Actor(
        account_id=lead.account_id, user_id=user_id, label=None if user_id else AUTOCALLER
    )
    return leads.contacted_by_call(session, actor, lead.id, note)
