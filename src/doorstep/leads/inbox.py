"""The dashboard inbox: a user's leads, filtered, newest first, a page at a time, with the
count of each stage. Every query starts from the same scope as ``service.scoped``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from doorstep.auth.principal import Actor
from doorstep.geo import postcodes
from doorstep.leads.schemas import LEAD_TYPES, SOURCES
from doorstep.leads.service import scope_conditions, scoped
from doorstep.models import Lead
from doorstep.models.base import uk_midnight
from doorstep.models.status import STAGES
from doorstep.numbers import row_id, whole

PAGE_SIZE = 50


def _strip(value: str | None) -> str:
    return (value or "").strip()


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


@dataclass
class InboxFilters:
    """What the filter form sent, cleaned: anything unrecognised is simply not applied."""

    type: str = ""
    source: str = ""
    stage: int | None = None
    status: int | None = None
    office: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    page: int = 1
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str]) -> InboxFilters:
        f = cls()
        t = (params.get("type") or "").strip().lower()
        f.type = t if t in LEAD_TYPES else ""
        s = (params.get("source") or "").strip().lower()
        f.source = s if s in SOURCES else ""
        stage = whole(_strip(params.get("stage")))
        f.stage = stage if stage in STAGES else None
        f.status = row_id(_strip(params.get("status")))
        f.office = row_id(_strip(params.get("office")))
        f.date_from = _date(params.get("from"))
        f.date_to = _date(params.get("to"))
        if f.date_from and f.date_to and f.date_from > f.date_to:
            f.problems.append("The 'from' date is after the 'to' date, so no lead can match.")
        f.q = (params.get("q") or "").strip()[:100]
        f.page = max(1, whole(_strip(params.get("page"))) or 1)
        return f

    def params(self) -> dict[str, Any]:
        """As query parameters (for links that keep the filters)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("problems",):
                continue
            v = getattr(self, f.name)
            key = {"date_from": "from", "date_to": "to"}.get(f.name, f.name)
            if v in (None, "") or (f.name == "page" and v == 1):
                continue
            out[key] = v.isoformat() if isinstance(v, date) else v
        return out

    @property
    def active(self) -> bool:
        p = self.params()
        p.pop("page", None)
        p.pop("stage", None)
        return bool(p)


def search_conditions(q: str, dialect: str) -> list[ColumnElement[bool]]:
    """Name, email, phone and postcode, each case-insensitive and by substring.

    Each condition is a plain column LIKE where it can be (SQLite's LIKE already ignores ASCII
    case; PostgreSQL gets ILIKE): a search scans every lead of the scope, so no per-row
    function calls that the query does not need."""
    text = q.lower()

    def has(column: Any, value: str) -> ColumnElement[bool]:
        if dialect == "postgresql":
            return column.icontains(value, autoescape=True)
        return column.contains(value, autoescape=True)

    if postcodes.parse(q):
        # A full postcode is only ever a postcode: no need to test names and emails.
        pc = postcodes.canonical(q)
        return [or_(has(Lead.postcode, pc), has(Lead.advert_postcode, pc))]
    digits = re.sub(r"[^0-9]", "", q)  # \D would keep other scripts' digits
    phone_like = len(digits) >= 4 and len(digits) >= len(re.sub(r"[\s()+-]", "", q)) - 1
    conds: list[ColumnElement[bool]] = []
    if phone_like:
        # 07986 000000, +44 7986 000000 and 7986000000 all find +447986000000.
        national = digits[2:] if digits.startswith("44") else digits.lstrip("0")
        if national:
            conds.append(Lead.phone_normalized.contains(national, autoescape=True))
        conds.append(Lead.phone.contains(q, autoescape=True))
        # A postcode that is not a UK one is kept as sent, and may be all digits.
        conds.append(Lead.postcode.contains(q, autoescape=True))
        return [or_(*conds)]
    if " " in text.strip():
        conds.append(has(Lead.first_name + " " + Lead.last_name, text))
    else:
        conds.extend([has(Lead.first_name, text), has(Lead.last_name, text)])
    conds.append(Lead.email_normalized.contains(text, autoescape=True))
    if digits:
        # Part of a postcode ("NG1", "NG1 5") or of a phone number written with letters.
        conds.append(has(Lead.postcode, q))
        conds.append(has(Lead.advert_postcode, q))
        conds.append(Lead.phone.contains(q, autoescape=True))
    return [or_(*conds)]


def filter_conditions(
    f: InboxFilters, dialect: str, *, with_stage: bool = True, with_search: bool = True
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.type:
        conds.append(Lead.type == f.type)
    if f.source:
        conds.append(Lead.source == f.source)
    if with_stage and f.stage is not None:
        conds.append(Lead.stage_id == f.stage)
    if f.status is not None:
        conds.append(Lead.status_id == f.status)
    if f.office is not None:
        conds.append(Lead.office_id == f.office)
    if f.date_from:
        conds.append(Lead.created_at >= uk_midnight(f.date_from))
    if f.date_to:
        conds.append(Lead.created_at < uk_midnight(f.date_to + timedelta(days=1)))
    if with_search and f.q:
        conds.extend(search_conditions(f.q, dialect))
    return conds


@dataclass
class InboxPage:
    rows: list[dict[str, Any]]
    stage_counts: dict[int, int]
    total: int  # leads matching every filter, the stage included
    page: int
    pages: int

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * PAGE_SIZE + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * PAGE_SIZE)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def stage_counts(session: Session, actor: Actor, f: InboxFilters) -> dict[int, int]:
    """Leads per stage under every filter but the stage itself (the tabs show them all)."""
    rows = session.execute(
        select(Lead.stage_id, func.count())
        .where(*scope_conditions(actor), *filter_conditions(f, _dialect(session), with_stage=False))
        .group_by(Lead.stage_id)
    ).all()
    counts = dict.fromkeys(STAGES, 0)
    for stage_id, n in rows:
        counts[int(stage_id)] = int(n)
    return counts


NEWEST_FIRST = (Lead.created_at.desc(), Lead.id.desc())


def _page_ids(session: Session, actor: Actor, f: InboxFilters) -> tuple[list[int], dict[int, int]]:
    """The ids on the requested page and the stage counts.

    Without a search: one GROUP BY for the counts, then the page's ids from the leads table
    alone (an index walk, however deep the page), joined to the names only for those 50.
    With a search, which must read every lead of the scope anyway, one pass finds the matches
    of every stage; the counts and the page come from that."""
    dialect = _dialect(session)
    if not f.q:
        counts = stage_counts(session, actor, f)
        total = counts.get(f.stage, 0) if f.stage is not None else sum(counts.values())
        page = min(f.page, max(1, -(-total // PAGE_SIZE)))
        ids = session.scalars(
            select(Lead.id)
            .where(*scope_conditions(actor), *filter_conditions(f, dialect))
            .order_by(*NEWEST_FIRST)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        return list(ids), counts
    matches = session.execute(
        select(Lead.id, Lead.stage_id)
        .where(*scope_conditions(actor), *filter_conditions(f, dialect, with_stage=False))
        .order_by(*NEWEST_FIRST)
    ).all()
    counts = dict.fromkeys(STAGES, 0)
    for _, stage_id in matches:
        counts[int(stage_id)] = counts.get(int(stage_id), 0) + 1
    chosen = [i for i, st in matches if f.stage is None or st == f.stage]
    page = min(f.page, max(1, -(-len(chosen) // PAGE_SIZE)))
    return chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], counts


def inbox_page(session: Session, actor: Actor, f: InboxFilters) -> InboxPage:
    ids, counts = _page_ids(session, actor, f)
    total = counts.get(f.stage, 0) if f.stage is not None else sum(counts.values())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(f.page, pages)
    result = (
        session.execute(scoped(actor).where(Lead.id.in_(ids)).order_by(*NEWEST_FIRST)).all()
        if ids
        else []
    )
    rows = [
        {
            "id": lead.id,
            "name": f"{lead.first_name} {lead.last_name}",
            "email": lead.email,
            "phone": lead.phone,
            "type": lead.type,
            "source": lead.source,
            "postcode": lead.postcode or lead.advert_postcode,
            "office_name": office_name,
            "status": status_name,
            "stage_id": lead.stage_id,
            "unread": lead.stage_id == 50,
            "created_at": lead.created_at,
            "next_action_date": lead.next_action_date,
        }
        for lead, office_name, _account, status_name, _ro, _ra in result
    ]
    return InboxPage(rows, counts, total, page, pages)
