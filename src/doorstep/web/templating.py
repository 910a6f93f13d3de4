"""The dashboard's Jinja environment, its filters, and the render/redirect helpers every page
uses (they add the signed-in user, the CSRF token and the one-shot flash message)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from doorstep.auth import session as web_session
from doorstep.leads.labels import property_type_name, source_name
from doorstep.leads.schemas import is_web_url
from doorstep.models.base import LONDON
from doorstep.models.status import STAGES

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
env = templates.env


def local(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(LONDON)


def fmt_datetime(dt: datetime | None) -> str:
    d = local(dt)
    return d.strftime("%-d %b %Y, %H:%M") if d else "—"


def fmt_date(dt: datetime | date | None) -> str:
    if dt is None:
        return "—"
    d = local(dt) if isinstance(dt, datetime) else dt
    assert d is not None
    return d.strftime("%-d %b %Y")


def fmt_isodate(value: str | None) -> str:
    """An ISO date string as stored in JSON (``2025-02-14``) -> ``14 Feb 2025``."""
    if not value:
        return "—"
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%-d %b %Y")
    except ValueError:
        return str(value)


def fmt_slots(value: str | list[str]) -> str:
    """Appointment slots as sent; those that are ISO times in UK time: ``1 Jan 2025, 08:00``."""
    out = []
    for slot in [value] if isinstance(value, str) else value:
        try:
            when = datetime.fromisoformat(slot.strip().replace("Z", "+00:00"))
        except ValueError:
            out.append(slot)
            continue
        out.append(fmt_datetime(when) if "T" in slot or ":" in slot else fmt_date(when.date()))
    return ", ".join(out)


def fmt_money(value: int | float | None) -> str:
    return "—" if value is None else f"£{value:,.0f}"


def fmt_number(value: int | float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def fmt_duration(seconds: float | None) -> str:
    """``3 h 20 min``, ``2 d 4 h``, ``45 s``: short and readable in a table."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def fmt_label(value: str | None) -> str:
    """``mortgage_request`` -> ``Mortgage request``; ``rightmove_valuation`` likewise."""
    if not value:
        return "—"
    return value.replace("_", " ").replace("-", " ").capitalize()


env.filters["datetime"] = fmt_datetime
env.filters["date"] = fmt_date
env.filters["money"] = fmt_money
env.filters["slots"] = fmt_slots
env.filters["isodate"] = fmt_isodate
env.filters["number"] = fmt_number
env.filters["duration"] = fmt_duration
env.filters["label"] = fmt_label
env.filters["source"] = source_name
env.filters["property_type"] = property_type_name
env.globals["STAGES"] = STAGES
# {% if url is web_url %}: only http(s) addresses become links; a value stored before the API
# checked the scheme (javascript:, data:) is shown as text.
env.tests["web_url"] = is_web_url


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from ``params`` with ``changes`` applied; empty values are dropped."""
    merged = {**params, **changes}
    pairs = [(k, v) for k, v in merged.items() if v not in (None, "", [])]
    flat: list[tuple[str, Any]] = []
    for k, v in pairs:
        if isinstance(v, list | tuple):
            flat.extend((k, x) for x in v)
        else:
            flat.append((k, v))
    return ("?" + urlencode(flat)) if flat else ""


env.globals["query"] = query


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def is_fragment_request(request: Request) -> bool:
    """An htmx request that swaps part of a page (not a boosted whole-page navigation)."""
    return is_htmx(request) and request.headers.get("hx-boosted") != "true"


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "account_name": getattr(request.state, "account_name", ""),
        "csrf_token": web_session.csrf_token(request),
        "flash": web_session.pop_flash(request),
        "path": request.url.path,
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(
        request, name, ctx, status_code=status_code, headers=headers
    )
    web_session.attach_csrf_cookie(request, response)
    if getattr(request.state, "flash_consumed", False):
        response.delete_cookie(web_session.FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, flash: str | None = None, kind: str = "ok") -> Response:
    """303 to a page (POST-redirect-GET), optionally with a one-shot message for it."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        web_session.set_flash(request, response, flash, kind)
    return response
