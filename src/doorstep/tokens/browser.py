"""Keys a browser may hold (CONTRACT.md, "publishable tokens"): what such a key may do, from
where, how often per visitor, and the CORS answers that let a web page use it.

A publishable key is public the moment it is on a page, so it is worth only what it can do:
create leads and look up addresses, from the token's listed origins, at a limited rate per
client address on top of the token's own limit. A secret token never gets a CORS grant.

A CORS preflight carries no key, only its origin: it is granted when a live publishable token
lists that origin. The real request is then checked against its own token's origins, and only
it gets ``Access-Control-Allow-Origin``."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep import db, statements
from doorstep.auth import keys
from doorstep.errors import DoorstepError, RateLimited
from doorstep.statements import Direct, Statement

# The endpoints a publishable key may call, and with which method.
BROWSER_ENDPOINTS = {
    "/api/v103/leads": "POST",
    "/api/v103/leads/valuation": "POST",
    "/api/v103/addresses": "GET",
}
ALLOWED_HEADERS = "X-API-KEY, Content-Type, Idempotency-Key"
EXPOSED_HEADERS = "X-Request-Id, Retry-After, Idempotent-Replayed"
PREFLIGHT_MAX_AGE = "600"

_ORIGINS = Statement("SELECT origin FROM token_origins WHERE token_id = :token_id")
_LISTED = Statement(
    """
    SELECT 1 FROM token_origins o JOIN api_tokens t ON t.id = o.token_id
    WHERE o.origin = :origin AND t.publishable AND t.revoked_at IS NULL
    LIMIT 1
    """
)
_COUNT = Statement(
    """
    INSERT INTO client_rate_counters (token_id, client, "window", count)
    SELECT :token_id, :client, :window, 1 WHERE 1 + :carried <= :lim
    ON CONFLICT (token_id, client, "window") DO UPDATE SET count = client_rate_counters.count + 1
    WHERE client_rate_counters.count + 1 + :carried <= :lim
    RETURNING count
    """
)
_WINDOW = Statement(
    "SELECT count FROM client_rate_counters WHERE token_id = :token_id AND client = :client "
    'AND "window" = :window'
)


class Forbidden(DoorstepError):
    status_code = 403


def is_same_origin(origin: str, host: str | None) -> bool:
    """The page making the request is served by Doorstep itself (the hosted valuation page):
    its origin's host and port are the request's own ``Host``."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    return bool(host) and netloc == (host or "").strip().lower()


def client_key(address: str | None) -> str:
    """One visitor: an IPv4 address, or an IPv6 /64 (one home's or phone's whole network)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def check_request(
    conn: Direct,
    token_id: int,
    *,
    endpoint_allowed: bool,
    origin: str | None,
    host: str | None,
) -> str | None:
    """403 unless a publishable token may make this request from this origin; the origin to
    grant CORS to (None: no Origin, or the page is Doorstep's own)."""
    if not endpoint_allowed:
        raise Forbidden(
            "This is a publishable key, for web pages: it may only create leads "
            "(POST /leads, POST /leads/valuation) and look up addresses. Use a secret token "
            "from your server for everything else."
        )
    if origin is None or is_same_origin(origin, host):
        return None
    listed = {row[0] for row in _ORIGINS.run(conn, {"token_id": token_id})}
    if origin.strip().lower() not in listed:
        raise Forbidden(
            f"Requests from {origin[:200]} may not use this key: add the origin to the "
            "token on the Developer tab."
        )
    return origin


def admit_client(
    conn: Direct, token_id: int, client: str, limit: int, now: float | None = None
) -> None:
    """Count a request against the token's limit for one client address (a sliding minute,
    as the token's own limit: tokens.service.admit); 429 with Retry-After past it."""
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // 60)
    weight = 1 - (now % 60) / 60
    key = {"token_id": token_id, "client": client}
    last = _WINDOW.run(conn, {**key, "window": window - 1})
    carried = (last[0][0] if last else 0) * weight
    counted = _COUNT.run(conn, {**key, "window": window, "carried": carried, "lim": limit})
    if counted:
        return
    this = _WINDOW.run(conn, {**key, "window": window})
    counts = {window - 1: last[0][0] if last else 0, window: this[0][0] if this else 0}
    wait = _wait(counts, limit, now)
    raise RateLimited(
        f"Too many requests from your address: at most {limit} a minute with this key; "
        f"retry in {wait} s.",
        headers={"Retry-After": str(wait)},
    )


def _wait(counts: dict[int, int], limit: int, now: float) -> int:
    """Seconds until one more request fits, if none is admitted meanwhile."""
    for wait in range(1, 121):
        later = now + wait
        w = int(later // 60)
        carried = counts.get(w - 1, 0) * (1 - (later % 60) / 60)
        if counts.get(w, 0) + 1 + carried <= limit:
            return wait
    return 120


def origin_is_listed(origin: str) -> bool:
    with statements.autocommit() as conn:
        return bool(_LISTED.run(conn, {"origin": origin.strip().lower()}))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class BrowserCors:
    """Answers CORS preflights for the browser endpoints, and adds the grant to a response
    whose request a publishable token was allowed to make from its origin (``cors_origin``
    in the request's state, set by auth.api_key)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = BROWSER_ENDPOINTS.get(scope.get("path", "")) if scope["type"] == "http" else None
        origin = _header(scope, b"origin") if method else None
        if method is None or origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, send, origin, method)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def with_grant(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"vary", b"Origin")]
                granted = state.get("cors_origin")
                if granted:
                    headers += [
                        (b"access-control-allow-origin", granted.encode("latin-1")),
                        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                    ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_grant)

    async def _preflight(self, scope: Scope, send: Send, origin: str, method: str) -> None:
        asked = (_header(scope, b"access-control-request-method") or "").strip().upper()
        same = is_same_origin(origin, _header(scope, b"host"))
        if asked == method and (same or await db.in_thread(origin_is_listed, origin)):
            headers = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", method.encode()),
                (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
                (b"vary", b"Origin"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if asked != method:
            message = f"{scope['path']} takes only {method} from a web page."
        else:
            message = (
                f"No publishable token lists the origin {origin[:200]}: add it to a "
                "publishable token on the Developer tab."
            )
        body = json.dumps({"message": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# The hosted page's own key. A publishable token is stored only as a hash (CONTRACT.md), so
# the page Doorstep serves itself cannot carry the token: it carries a key signed with the
# installation's key, naming the token, that the Lead API accepts as that token (same origin
# rules, limits and request log) until it expires. Reloading the page gives a new one.
PAGE_KEY_PREFIX = "ds_page_"
PAGE_KEY_MAX_AGE = 12 * 60 * 60
_PAGE_SALT = "doorstep.valuation-page-key"


def page_key(token_id: int) -> str:
    return PAGE_KEY_PREFIX + URLSafeTimedSerializer(keys.current(), salt=_PAGE_SALT).dumps(token_id)


def token_of_page_key(key: str) -> int | None:
    """The token a page key names, if the key is this installation's and has not expired."""
    if not key.startswith(PAGE_KEY_PREFIX):
        return None
    try:
        token_id = URLSafeTimedSerializer(keys.current(), salt=_PAGE_SALT).loads(
            key.removeprefix(PAGE_KEY_PREFIX), max_age=PAGE_KEY_MAX_AGE
        )
    except BadSignature:
        return None
    return token_id if isinstance(token_id, int) and not isinstance(token_id, bool) else None
