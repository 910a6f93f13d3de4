"""The valuation page visitors see: hosted (``/value/{slug}``, optionally per office), in an
iframe (``/value/embed?key=``), or inline in the agency's own page (``embed.js`` fetches
``/value/embed/widget`` and runs the same script). No sign-in, no cookies.

The page only shows a form: everything it does goes through the Lead API with the account's
publishable token (address look-up, then the valuation lead), as any website would. It may
be framed by its token's origins alone (``frame-ancestors``); its scripts and styles are
static files, so a strict CSP holds on it too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from doorstep.db import SessionDep
from doorstep.errors import NotFound
from doorstep.numbers import path_id, row_id
from doorstep.valuepage import service
from doorstep.valuepage.service import Page
from doorstep.web.forms import refuse_nul
from doorstep.web.templating import templates

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_nul)])

STATIC = Path(__file__).parent.parent / "web" / "static" / "value"
# One script for every agency's site: cacheable, and loadable from any origin.
EMBED_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


def _policy(origins: list[str]) -> str:
    """The page's own CSP: nothing but its own files, framed only by the token's origins."""
    ancestors = " ".join(origins) if origins else "'none'"
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {ancestors}"
    )


def _office(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    office = row_id(raw)
    if office is None:
        raise NotFound(f"There is no office {raw[:20]} here.")
    return office


def _render(request: Request, page: Page, template: str, **extra: object) -> Response:
    context = {
        "page": page,
        "theme": service.theme(page.colour),
        "embedded": False,
        **extra,
    }
    headers = {
        "Content-Security-Policy": _policy(page.origins),
        "Cache-Control": "no-cache",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    return templates.TemplateResponse(request, template, context, headers=headers)


@router.get("/embed.js")
def embed_script() -> Response:
    return Response(
        (STATIC / "embed.js").read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers=EMBED_HEADERS,
    )


@router.get("/value/theme.css")
def theme_css(c: Annotated[str, Query(max_length=16)] = "") -> Response:
    """The brand colours as CSS variables (the page may carry no inline style)."""
    t = service.theme("#" + c.lower().lstrip("#"))
    css = (
        f".ds-value{{--ds-brand:{t['brand']};--ds-on-brand:{t['on_brand']};--ds-ink:{t['ink']}}}\n"
    )
    return Response(
        css,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", **EMBED_HEADERS},
    )


@router.get("/value/embed")
def embedded_page(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Query(max_length=200)] = "",
    office: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    page = service.page_by_key(session, key.strip(), _office(office))
    return _render(request, page, "valuepage/page.html", embedded=True)


@router.get("/value/embed/widget")
def embedded_widget(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Query(max_length=200)] = "",
    office: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The form alone, for ``embed.js`` to place inline in a page of the token's origins."""
    page = service.page_by_key(session, key.strip(), _office(office))
    response = _render(request, page, "valuepage/_widget.html", inline=True)
    origin = request.headers.get("origin")
    if origin and origin.strip().lower() in page.origins:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


@router.get("/value/{slug}")
def hosted_page(request: Request, slug: str, session: SessionDep) -> Response:
    return _render(request, service.page_by_slug(session, slug), "valuepage/page.html")


@router.get("/value/{slug}/{office_id}")
def hosted_office_page(
    request: Request, slug: str, office_id: str, session: SessionDep
) -> Response:
    page = service.page_by_slug(session, slug, path_id(office_id, "office"))
    return _render(request, page, "valuepage/page.html")
