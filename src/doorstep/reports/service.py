"""Reports over an actor's leads: leads per day by source and by type, and the time from a
lead's creation to its first status change, per office. Days are UK days."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, Float, cast, func, select
from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.leads.service import scope_conditions
from doorstep.models import Call, Lead, Office
from doorstep.models.base import LONDON, uk_midnight

MAX_DAYS = 366


@dataclass
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        return uk_midnight(self.start), uk_midnight(self.end + timedelta(days=1))


def parse_period(start: str | None, end: str | None, today: date) -> tuple[Period, list[str]]:
    problems: list[str] = []

    def _d(v: str | None) -> date | None:
        try:
            return date.fromisoformat((v or "").strip())
        except ValueError:
            if (v or "").strip():
                problems.append(f"“{v}” is not a date; the default period is shown.")
            return None

    e = _d(end) or today
    s = _d(start) or (e - timedelta(days=29))
    if s > e:
        problems.append("The start is after the end: the two dates were swapped.")
        s, e = e, s
    if (e - s).days + 1 > MAX_DAYS:
        problems.append(f"A report covers at most {MAX_DAYS} days: the start was moved.")
        s = e - timedelta(days=MAX_DAYS - 1)
    return Period(s, e), problems


def _hour_bucket(session: Session) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Lead.created_at), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", Lead.created_at)


@dataclass
class DailySeries:
    days: list[date]
    series: dict[str, list[int]]  # label -> count per day, largest total first

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.series.values())


def leads_per_day(
    session: Session, actor: Actor, period: Period
) -> tuple[DailySeries, DailySeries]:
    """(by source, by type). Counted per UTC hour in the database, so the UK day of each
    hour is exact across clock changes without a time-zone database in SQLite."""
    lo, hi = period.bounds()
    bucket = _hour_bucket(session)
    rows = session.execute(
        select(bucket, Lead.source, Lead.type, func.count())
        .where(*scope_conditions(actor), Lead.created_at >= lo, Lead.created_at < hi)
        .group_by(bucket, Lead.source, Lead.type)
    ).all()
    days = period.days
    index = {d: i for i, d in enumerate(days)}
    by_source: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    by_type: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for hour, source, lead_type, n in rows:
        utc = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
        i = index.get(utc.astimezone(LONDON).date())
        if i is None:
            continue
        by_source[source][i] += n
        by_type[lead_type][i] += n

    def ordered(d: dict[str, list[int]]) -> dict[str, list[int]]:
        return dict(sorted(d.items(), key=lambda kv: (-sum(kv[1]), kv[0])))

    return DailySeries(days, ordered(by_source)), DailySeries(days, ordered(by_type))


@dataclass
class OfficeResponse:
    office: str
    leads: int
    changed: int
    waiting: int
    median_s: float | None
    mean_s: float | None
    p90_s: float | None


def _seconds(session: Session) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", Lead.first_status_change_at - Lead.created_at), Float)
    return cast(
        (func.julianday(Lead.first_status_change_at) - func.julianday(Lead.created_at)) * 86400.0,
        Float,
    )


def first_response(session: Session, actor: Actor, period: Period) -> list[OfficeResponse]:
    """For leads created in the period: how long until someone first changed the status."""
    lo, hi = period.bounds()
    rows = session.execute(
        select(Lead.office_id, _seconds(session)).where(
            *scope_conditions(actor), Lead.created_at >= lo, Lead.created_at < hi
        )
    ).all()
    names = dict(
        session.execute(
            select(Office.id, Office.name).where(Office.account_id == actor.account_id)
        ).all()
    )
    per: dict[int | None, list[float | None]] = defaultdict(list)
    for office_id, secs in rows:
        per[office_id].append(None if secs is None else max(0.0, float(secs)))
    out = []
    for office_id, values in per.items():
        done = sorted(v for v in values if v is not None)
        p90 = done[min(len(done) - 1, round(0.9 * (len(done) - 1)))] if done else None
        out.append(
            OfficeResponse(
                office=names.get(office_id, "No office") if office_id else "No office",
                leads=len(values),
                changed=len(done),
                waiting=len(values) - len(done),
                median_s=statistics.median(done) if done else None,
                mean_s=statistics.fmean(done) if done else None,
                p90_s=p90,
            )
        )
    return sorted(out, key=lambda r: r.office.lower())


@dataclass
class OfficeCalls:
    office: str
    leads: int  # created in the period
    called: int  # of which at least one call was placed
    connected: int  # of which a call was connected
    median_to_call_s: float | None
    median_to_connection_s: float | None
    outcomes: dict[str, int]  # every call's outcome, by outcome


def calls(session: Session, actor: Actor, period: Period) -> list[OfficeCalls]:
    """For leads created in the period, per office: how many were called and connected, how
    soon (median from the lead to its first call, and to its first connection), and the
    outcomes of all their calls (the autocaller's and "Call this lead")."""
    lo, hi = period.bounds()
    leads = session.execute(
        select(Lead.id, Lead.office_id, Lead.created_at).where(
            *scope_conditions(actor), Lead.created_at >= lo, Lead.created_at < hi
        )
    ).all()
    if not leads:
        return []
    created = {lid: (office_id, at) for lid, office_id, at in leads}
    call_rows = session.execute(
        select(Call.lead_id, Call.created_at, Call.outcome, Call.connected_at, Call.ended_at)
        .join(Lead, Lead.id == Call.lead_id)
        .where(
            *scope_conditions(actor),
            Lead.created_at >= lo,
            Lead.created_at < hi,
            Call.account_id == actor.account_id,
        )
        .order_by(Call.created_at)
    ).all()
    first_call: dict[int, datetime] = {}
    first_connection: dict[int, datetime] = {}
    outcomes: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for lead_id, at, outcome, connected_at, ended_at in call_rows:
        office_id = created[lead_id][0]
        outcomes[office_id][outcome or "in progress"] += 1
        if outcome in ("logged", None):
            continue
        first_call.setdefault(lead_id, at)
        if outcome == "connected":
            first_connection.setdefault(lead_id, connected_at or ended_at or at)
    names = dict(
        session.execute(
            select(Office.id, Office.name).where(Office.account_id == actor.account_id)
        ).all()
    )
    per: dict[int | None, list[int]] = defaultdict(list)
    for lid, (office_id, _) in created.items():
        per[office_id].append(lid)
    out = []
    for office_id, ids in per.items():
        to_call = [(first_call[i] - created[i][1]).total_seconds() for i in ids if i in first_call]
        to_conn = [
            (first_connection[i] - created[i][1]).total_seconds()
            for i in ids
            if i in first_connection
        ]
        out.append(
            OfficeCalls(
                office=names.get(office_id, "No office") if office_id else "No office",
                leads=len(ids),
                called=len(to_call),
                connected=len(to_conn),
                median_to_call_s=statistics.median(max(0.0, s) for s in to_call)
                if to_call
                else None,
                median_to_connection_s=statistics.median(max(0.0, s) for s in to_conn)
                if to_conn
                else None,
                outcomes=dict(sorted(outcomes[office_id].items())),
            )
        )
    return sorted(out, key=lambda r: r.office.lower())
