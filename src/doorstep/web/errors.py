"""The dashboard's error renderer: a whole error page, or a toast for an htmx fragment request.
The API keeps its JSON error body (see ``app.py``); which one a request gets depends on its
path alone, so an API client never receives HTML."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from doorstep.web.templating import is_fragment_request, render, templates

# Paths that are not the dashboard: the API and the operational endpoints answer in JSON.
JSON_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi")

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Cannot do that",
    413: "Too large",
    422: "Please check the form",
    429: "Slow down",
    500: "Something went wrong",
}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def html_error(
    request: Request,
    status: int,
    message: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    hdrs = dict(headers or {})
    if is_fragment_request(request):
        # Swapped into the page's toast area whatever the element asked for.
        hdrs.update({"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"})
        ctx: dict[str, Any] = {"message": message, "errors": errors, "kind": "error"}
        html = templates.get_template("_toast.html").render(ctx)
        return Response(html, status_code=status, media_type="text/html", headers=hdrs)
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Something went wrong"),
            "message": message,
            "errors": errors,
        },
        status_code=status,
        headers=hdrs,
    )


def error_page(status: int, message: str) -> str:
    """The error page without a request (the middleware's last-resort 500)."""
    return templates.get_template("error.html").render(
        {
            "status": status,
            "title": TITLES.get(status, "Something went wrong"),
            "message": message,
            "errors": None,
            "user": None,
            "csrf_token": "",
            "path": "",
            "flash": None,
        }
    )
