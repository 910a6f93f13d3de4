"""Reading an account's API request log: filtered by token, status code, path and time,
newest first, a page at a time (keyset on id, so deep pages stay fast)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from doorstep.errors import NotFound
from doorstep.models import ApiToken, RequestLog
from doorstep.models.base import from_local_input, to_local_input
from doorstep.numbers import is_digits, row_id

PAGE_SIZE = 50
_STATUS_CLASS = re.compile(r"^([1-5])xx$")


def _local_datetime(value: str | None) -> datetime | None:
    v = (value or "").strip()
    if not v:
        return None
    try:
        return from_local_input(v)
    except ValueError:
        return None


@dataclass
class LogFilters:
    token: int | None = None
    status: str = ""  # "", "422", "4xx", "ok", "failed"
    path: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None  # show entries with a smaller id (the next, older page)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str]) -> LogFilters:
        f = cls()
        f.token = row_id((params.get("token") or "").strip())
        s = (params.get("status") or "").strip().lower()
        if s and not (
            s in ("ok", "failed") or _STATUS_CLASS.match(s) or (is_digits(s) and len(s) == 3)
        ):
            f.problems.append(
                f"“{s}” is not a status filter: use a code such as 422, a class such as 4xx, "
                "ok or failed."
            )
            s = ""
        f.status = s
        f.path = (params.get("path") or "").strip()[:200]
        f.since = _local_datetime(params.get("since"))
        f.until = _local_datetime(params.get("until"))
        f.before = row_id((params.get("before") or "").strip())
        return f

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "token": self.token,
            "status": self.status,
            "path": self.path,
            "since": to_local_input(self.since),
            "until": to_local_input(self.until),
        }
        return {k: v for k, v in out.items() if v not in (None, "")}

    def conditions(self) -> list[ColumnElement[bool]]:
        c: list[ColumnElement[bool]] = []
        if self.token is not None:
            c.append(RequestLog.token_id == self.token)
        s = self.status
        if s == "ok":
            c.append(RequestLog.status_code < 400)
        elif s == "failed":
            c.append(RequestLog.status_code >= 400)
        elif m := _STATUS_CLASS.match(s):
            lo = int(m.group(1)) * 100
            c.extend([RequestLog.status_code >= lo, RequestLog.status_code < lo + 100])
        elif s:
            c.append(RequestLog.status_code == int(s))
        if self.path:
            c.append(RequestLog.path.contains(self.path, autoescape=True))
        if self.since:
            c.append(RequestLog.created_at >= self.since)
        if self.until:
            c.append(RequestLog.created_at <= self.until)
        if self.before is not None:
            c.append(RequestLog.id < self.before)
        return c


@dataclass
class LogPage:
    entries: list[tuple[RequestLog, str]]  # (entry, token name)
    next_before: int | None


def search(session: Session, account_id: int, f: LogFilters) -> LogPage:
    rows = session.execute(
        select(RequestLog, ApiToken.name)
        .join(ApiToken, ApiToken.id == RequestLog.token_id)
        .where(RequestLog.account_id == account_id, *f.conditions())
        .order_by(RequestLog.id.desc())
        .limit(PAGE_SIZE + 1)
    ).all()
    entries = [(r[0], r[1]) for r in rows[:PAGE_SIZE]]
    more = len(rows) > PAGE_SIZE
    return LogPage(entries, entries[-1][0].id if more and entries else None)


def get_entry(session: Session, account_id: int, entry_id: int) -> tuple[RequestLog, str]:
    row = session.execute(
        select(RequestLog, ApiToken.name)
        .join(ApiToken, ApiToken.id == RequestLog.token_id)
        .where(RequestLog.account_id == account_id, RequestLog.id == entry_id)
    ).first()
    if row is None:
        raise NotFound(f"There is no request {entry_id} in this account's log.")
    return row[0], row[1]
