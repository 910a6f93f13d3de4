"""create_app(): middleware, routers, error handlers."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from doorstep import __version__, db, openapi, pg, retention
from doorstep.auth import keys
from doorstep.auth import pages as auth_pages
from doorstep.auth.dashboard import LoginRequired
from doorstep.autocaller import callbacks as autocaller_callbacks
from doorstep.autocaller import pages as autocaller_pages
from doorstep.config import get_settings
from doorstep.errors import DoorstepError, ValidationFailed
from doorstep.jobs.worker import Worker
from doorstep.leads import api as leads_api
from doorstep.leads import pages as leads_pages
from doorstep.offices import api as offices_api
from doorstep.offices import pages as offices_pages
from doorstep.ops import health
from doorstep.ops import logging as ops_logging
from doorstep.ops.middleware import RequestContextMiddleware
from doorstep.reports import pages as reports_pages
from doorstep.responder import pages as responder_pages
from doorstep.responder import public as responder_public
from doorstep.statuses import api as statuses_api
from doorstep.statuses import pages as statuses_pages
from doorstep.tokens import pages as tokens_pages
from doorstep.tokens.browser import BrowserCors
from doorstep.users import pages as users_pages
from doorstep.valuation import api as valuation_api
from doorstep.valuepage import pages as valuepage_pages
from doorstep.valuepage import public as valuepage_public
from doorstep.web import about, docs
from doorstep.web.errors import html_error, wants_json
from doorstep.web.headers import SecurityHeadersMiddleware
from doorstep.web.templating import is_htmx
from doorstep.webhooks import pages as webhooks_pages

log = logging.getLogger("doorstep")

DESCRIPTION = """
Doorstep implements the **Lead API v103**: an integrator's client written against the v103
documentation works by changing only the base URL.

* **Authentication**: send your API token in the `X-API-KEY` header. Tokens are made in the
  dashboard's Developer tab or with `doorstep tokens create`.
* **Success** is `200` for every endpoint, creates included.
* **Errors** are JSON: `{"message": "...", "errors": {"field": ["reason", ...]}}`, listing every
  failing field at once. 400 malformed JSON, 401 bad key, 404 not found (another account's
  objects do not exist for you), 405, 409 `Idempotency-Key` reused with another body,
  413 body over 64 KiB, 415 neither JSON nor a form, 422 validation, 429 rate limit
  (see `Retry-After`).
* **Bodies** are JSON or, for `POST /leads`, `POST /leads/valuation` and `PATCH /leads/{id}`,
  an HTML form (`application/x-www-form-urlencoded` or `multipart/form-data`, UTF-8): the
  same fields and rules, objects in bracket notation (`meta[Property Type]=detached`,
  `appointment_availability[hours][]=...`, `questionnaire[Selling?]=Yes` or
  `questionnaire[0][0]=question&questionnaire[0][1]=answer`). Whole numbers may be sent as
  text in either (`"office_id": "375"`: ASCII digits only); booleans are `true/false/1/0` or
  a ticked checkbox's `on`. A form field sent twice, nested more than two brackets deep, or a
  file part is a 422 naming it; a form body that is not UTF-8 is a 400.
* **Every response** carries `X-Request-Id`; the same id is in your token's request log.
* **Strings** are trimmed; an empty string for an optional field means null. Unknown fields are
  ignored. UK postcodes are returned in canonical form (`DE1 1JX`).
* **Retries**: send `Idempotency-Key` on POST. The same key and body within 24 hours replays the
  first response (header `Idempotent-Replayed: true`) and creates nothing.
* **Routing**: `office_id` wins; otherwise `advert_postcode` (sale, let) or `postcode` (other
  types) routes to the office with the most specific covering entry (area, district, sector,
  unit), else to the nearest covered point (`out_of_area_distance`, metres), else the account's
  default office.

Decisions where the v103 documentation is silent:
* `GET /person/leads` returns at most 100 leads, newest first.
* PATCH of a field that exists on the lead but cannot change (`type`, `email`, `phone`, ...)
  is a 422 naming it; fields unknown to the API are ignored.
* `next_action_date` without a UTC offset is taken as UTC.
* `advert_url` and `advert_image` must be `http://` or `https://` addresses with a host: any
  other scheme (`javascript:`, `data:`, `ftp:`) or none is a 422 naming the field.
* A field whose value nests objects or arrays more than 32 levels deep, or holds an integer of
  more than 4,300 digits, is a 422 naming it (an unknown field too: it cannot be read to be
  ignored).
* Postcode geography: Source: Office for National Statistics licensed under the Open Government
  Licence v.3.0. Contains OS data © Crown copyright and database right 2025. Contains Royal Mail
  data © Royal Mail copyright and database right 2025. Contains GeoPlace data © Local Government
  Information House Limited copyright and database right 2025.
"""


STATIC = Path(__file__).parent / "web" / "static"
DASHBOARD_PAGES = (
    leads_pages,
    autocaller_pages,
    offices_pages,
    statuses_pages,
    tokens_pages,
    valuepage_pages,
    reports_pages,
    responder_pages,
    webhooks_pages,
    users_pages,
)


def _api_error(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The API's JSON error body, or the dashboard's error page / toast for its own paths."""
    # The request log keeps what the client was told, each field's reasons included.
    request.state.error = "\n".join(
        [str(body.get("message"))]
        + [
            f"{field}: {reason}"
            for field, reasons in (body.get("errors") or {}).items()
            for reason in reasons
        ]
    )
    if not wants_json(request):
        return html_error(
            request,
            status,
            str(body.get("message")),
            body.get("errors"),
            dict(headers) if headers else None,
        )
    return JSONResponse(body, status_code=status, headers=headers)


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/login" + (f"?next={quote(target)}" if target not in ("/", "/leads") else "")
    if is_htmx(request):
        # An htmx request cannot follow a redirect to a whole page: ask htmx to navigate.
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _allowed_methods(request: Request) -> list[str]:
    """Methods of every route on this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for path, ops in request.app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(path)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in ops}
    return sorted(methods)


def _page_methods(request: Request) -> list[str]:
    """The dashboard's pages are not in the OpenAPI schema: ask their routers."""
    methods: set[str] = set()
    for module in (auth_pages, about, docs, responder_public, valuepage_public, *DASHBOARD_PAGES):
        for route in module.router.routes:
            regex = getattr(route, "path_regex", None)
            if regex is not None and regex.match(request.url.path):
                methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Each server process prunes old records now and then (retention.py) and, under
    ``doorstep serve`` without ``--no-worker``, runs durable work (jobs/)."""
    settings = get_settings()
    minutes = settings.prune_interval_minutes
    pruner = retention.Pruner(db.get_engine(), minutes * 60) if minutes else None
    app.state.pruner = pruner
    if pruner:
        pruner.start()
    worker = Worker(db.get_engine()) if settings.worker_in_process else None
    app.state.worker = worker
    if worker:
        worker.start()
    # PostgreSQL: the create path's asyncpg pool, on this process's loop (pg.py).
    pool = await pg.open_pool()
    pg.attach(app.state, pool)
    try:
        yield
    finally:
        pg.detach(app.state)
        await pg.close_pool(pool)
        if worker:
            worker.stop()
        if pruner:
            pruner.stop()


def create_app() -> FastAPI:
    settings = get_settings()
    settings.check()
    ops_logging.configure_once(settings.log_level, settings.log_json)
    try:
        keys.load(db.get_engine())
    except SQLAlchemyError:
        # The database is not reachable yet: the key is read on the first dashboard request.
        log.warning("Could not read the session key from the database; will retry.")
    # The docs pages load Swagger UI and ReDoc from the package, not a CDN: an agency's server
    # may have no internet, and /docs is linked from every dashboard page. The package serves
    # the files; web/docs.py serves the pages, which work under a Content-Security-Policy.
    app = FastAPIOffline(
        lifespan=_lifespan,
        title="Doorstep Lead API",
        version=f"v103 (Doorstep {__version__})",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        static_url=docs.OFFLINE_STATIC,
    )

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return _to_login(request)

    @app.exception_handler(DoorstepError)
    async def _domain_error(request: Request, exc: DoorstepError) -> Response:
        return _api_error(request, exc.status_code, exc.body(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")]
            errors.setdefault(loc[-1] if loc else "request", []).append(str(err.get("msg")))
        e = ValidationFailed(errors)
        return _api_error(request, 422, e.body())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Not found.", 405: "Method not allowed."}
        if not wants_json(request):
            messages[404] = "There is nothing at this address. It may have moved or never existed."
        message = messages.get(exc.status_code, str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route's methods; the path may have several.
            headers["Allow"] = ", ".join(_allowed_methods(request) or _page_methods(request))
        return _api_error(request, exc.status_code, {"message": message}, headers)

    api_routers = (
        leads_api.router,
        valuation_api.router,
        offices_api.router,
        statuses_api.router,
        health.router,
    )
    for router in api_routers:
        app.include_router(router)
    app.include_router(about.router)
    app.include_router(docs.router)
    app.include_router(responder_public.router)
    app.include_router(autocaller_callbacks.router)
    app.include_router(valuepage_public.router)
    app.include_router(auth_pages.router)
    for pages in DASHBOARD_PAGES:
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    openapi.install(app, api_routers)
    # Inside the request context: its preflight answers carry X-Request-Id too.
    app.add_middleware(BrowserCors)
    app.add_middleware(
        RequestContextMiddleware,
        max_body=settings.max_body_bytes,
        log_body=settings.request_log_body_bytes,
    )
    app.add_middleware(
        SecurityHeadersMiddleware, static_prefixes=("/static/", docs.OFFLINE_STATIC + "/")
    )
    return app
