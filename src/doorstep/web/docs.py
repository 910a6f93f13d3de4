"""/docs (Swagger UI) and /redoc, from the copies the ``fastapi-offline`` package ships.

FastAPI's own pages start Swagger UI with an inline script and style ReDoc's page with an
inline ``<style>``: under the dashboard's Content-Security-Policy (web/headers.py) neither
would run. These pages load the same files; Swagger UI starts from ``/static/docs.js`` and
runs under the dashboard's policy. ReDoc cannot (below), so /redoc has a policy of its own."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from doorstep.web.headers import content_security_policy

OFFLINE_STATIC = "/static-offline-docs"

# ReDoc styles itself with <style> elements made by script (styled-components, no nonce to
# give it) and searches in a worker made from a blob: URL. The page shows the API's schema,
# never a lead, so inline styles there put nothing at stake; scripts stay the app's own. Its
# sidebar's logo from cdn.redoc.ly stays blocked, like everything else from outside.
REDOC_POLICY = content_security_policy(
    style_src="'self' 'unsafe-inline'",
    worker_src="'self' blob:",
)

router = APIRouter(include_in_schema=False)


def _page(
    root: str, title: str, head: str, body: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="{root}{OFFLINE_STATIC}/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""
    return HTMLResponse(html, headers=headers)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = escape(request.scope.get("root_path", ""))
    return _page(
        root,
        f"{request.app.title} - Swagger UI",
        f'<link rel="stylesheet" href="{root}{OFFLINE_STATIC}/swagger-ui.css">',
        f'<div id="swagger-ui" data-openapi-url="{root}{request.app.openapi_url}"></div>\n'
        f'<script src="{root}{OFFLINE_STATIC}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{root}/static/docs.js"></script>',
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = escape(request.scope.get("root_path", ""))
    return _page(
        root,
        f"{request.app.title} - ReDoc",
        f'<link rel="stylesheet" href="{root}/static/docs.css">',
        "<noscript>ReDoc needs JavaScript to show the documentation.</noscript>\n"
        f'<redoc spec-url="{root}{request.app.openapi_url}"></redoc>\n'
        f'<script src="{root}{OFFLINE_STATIC}/redoc.standalone.js"></script>',
        {"Content-Security-Policy": REDOC_POLICY},
    )
