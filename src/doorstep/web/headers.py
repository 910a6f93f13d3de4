"""Security headers on every response, added by one pure-ASGI middleware (no
BaseHTTPMiddleware: the API's hot path pays for a scan of a few response headers, nothing more).

* Every response: ``X-Content-Type-Options: nosniff``, and ``Cache-Control: no-store`` unless
  it is a static file or set its own: nothing dynamic is cached, so a shared office computer's
  back button or disk cache keeps no lead, request-log entry or token.
* HTML: ``Referrer-Policy: same-origin`` (a lead's address never leaves in a Referer header to
  an advert's site) and a Content-Security-Policy that runs only the app's own scripts and
  styles: no inline script, event handler or ``style="..."`` attribute works, so injected
  markup cannot run. JSON gets no CSP: a browser does not render it.

A response that carries its own Content-Security-Policy keeps it. That is the hook for a page
other sites may show in a frame (a future embeddable valuation page): it renders with
``headers=framing_allowed_by([...origins...])``, every other page stays
``frame-ancestors 'none'``. /docs and /redoc use it for their own policy (web/docs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY: Mapping[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
}
# A scheme and a host (and port): nothing a header could be smuggled through.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def content_security_policy(**directives: str) -> str:
    """The dashboard's policy with some directives replaced (``frame_ancestors=...``)."""
    merged = {**POLICY, **{k.replace("_", "-"): v for k, v in directives.items()}}
    return "; ".join(f"{name} {value}" for name, value in merged.items())


def framing_allowed_by(origins: Iterable[str]) -> dict[str, str]:
    """Headers for a page that the listed origins (``https://www.agency.co.uk``) may show in a
    frame; any other site still may not. Pass them to ``render(..., headers=...)``."""
    listed = list(origins)
    for origin in listed:
        if not _ORIGIN.match(origin):
            raise ValueError(f"Not an origin (https://host[:port]): {origin!r}")
    return {
        "Content-Security-Policy": content_security_policy(
            frame_ancestors=" ".join(listed) or "'none'"
        )
    }


_CSP = content_security_policy().encode()
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_REFERRER = (b"referrer-policy", b"same-origin")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, static_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.static_prefixes = static_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(self.static_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(message.get("headers", ()), static)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_security_headers(
    headers: Iterable[tuple[bytes, bytes]], static: bool
) -> list[tuple[bytes, bytes]]:
    out = list(headers)
    names: set[bytes] = set()
    html = False
    for name, value in out:
        name = name.lower()
        names.add(name)
        if name == b"content-type":
            html = value.startswith(b"text/html")
    if b"x-content-type-options" not in names:
        out.append(_NOSNIFF)
    if not static and b"cache-control" not in names:
        out.append(_NO_STORE)
    if html:
        # A page may be stricter (the questionnaire's link is in its address: no-referrer).
        if b"referrer-policy" not in names:
            out.append(_REFERRER)
        if b"content-security-policy" not in names:
            out.append((b"content-security-policy", _CSP))
    return out
