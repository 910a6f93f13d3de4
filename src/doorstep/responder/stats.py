"""The Automation page's figures, per workflow, from what the lead timelines record: leads
matched, messages sent, failed and stopped, unsubscribes, and the median time from a lead's
arrival to its first message."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.models import Lead, LeadEvent
from doorstep.models.base import utcnow

MESSAGES = ("email_lead", "sms_lead", "notify_office", "webhook")


@dataclass
class WorkflowStats:
    matched: int = 0
    sent: int = 0
    not_sent: int = 0
    failed: int = 0
    stopped: int = 0
    unsubscribes: int = 0
    _first: dict[int, float] = field(default_factory=dict)

    @property
    def median_to_first_message(self) -> float | None:
        """Seconds, over the leads that got a message."""
        return statistics.median(self._first.values()) if self._first else None


def per_workflow(session: Session, account_id: int, days: int = 90) -> dict[int, WorkflowStats]:
    since = utcnow() - timedelta(days=days)
    rows = session.execute(
        select(LeadEvent.kind, LeadEvent.data, LeadEvent.created_at, Lead.id, Lead.created_at)
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .where(
            LeadEvent.account_id == account_id,
            LeadEvent.kind.in_(("responder_matched", "responder", "unsubscribed")),
            LeadEvent.created_at >= since,
        )
        .order_by(LeadEvent.id)
    ).all()
    out: dict[int, WorkflowStats] = {}
    for kind, data, at, lead_id, lead_at in rows:
        d = data or {}
        wid = d.get("workflow_id")
        if not isinstance(wid, int):
            continue
        st = out.setdefault(wid, WorkflowStats())
        if kind == "responder_matched":
            st.matched += 1
        elif kind == "unsubscribed":
            st.unsubscribes += 1
        elif d.get("action") in MESSAGES or d.get("outcome") in ("failed", "stopped"):
            outcome = d.get("outcome")
            if outcome == "sent":
                st.sent += 1
                if lead_id not in st._first:
                    st._first[lead_id] = _seconds(at, lead_at)
            elif outcome == "not_sent":
                st.not_sent += 1
            elif outcome == "failed":
                st.failed += 1
            elif outcome == "stopped":
                st.stopped += 1
    return out


def _seconds(at: datetime, since: datetime) -> float:
    return max(0.0, (at - since).total_seconds())
