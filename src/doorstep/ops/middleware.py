"""One ASGI middleware for what every request needs: a request id, the 64 KiB body limit
(enforced while the body streams in, before it is parsed), metrics, an access log line and
the request log row of an authenticated request (unless the API call wrote it itself)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep import db, numbers, statements
from doorstep.errors import PayloadTooLarge
from doorstep.ops import metrics
from doorstep.ops.logging import request_id_var
from doorstep.tokens import service as tokens
from doorstep.web.errors import JSON_PREFIXES, error_page

log = logging.getLogger("doorstep.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Seconds a client is asked to wait when the database is away (a restart takes a few).
RETRY_AFTER = 5


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, log_body: int) -> None:
        self.app = app
        self.max_body = max_body
        self.log_body = log_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        ctx = request_id_var.set(rid)

        declared = numbers.whole(headers.get("content-length"))
        too_large = declared is not None and declared > self.max_body
        captured = bytearray()
        received = 0
        limit = self.max_body

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
                room = self.log_body - len(captured)
                if room > 0:
                    captured.extend(chunk[:room])
            return message

        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        def log_entry(status: int) -> dict[str, Any]:
            """The request-log row of this request, as it stands (see api.ApiCall). Its text
            is what PostgreSQL can store: a NUL (a form field's value, a decoded %00 in the
            path) is kept as U+FFFD, as a body's undecodable bytes are."""
            query = (scope.get("query_string") or b"").decode("latin-1")[:2048] or None
            body = captured.decode("utf-8", errors="replace") if captured else None
            return {
                "account_id": state["account_id"],
                "token_id": state["token_id"],
                "method": scope["method"],
                "path": _storable(scope["path"][:2048]),
                "query": _storable(query),
                "status_code": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client_addr": (scope.get("client") or (None,))[0],
                "user_agent": _storable((headers.get("user-agent") or "")[:512] or None),
                "request_id": rid,
                "body": _storable(body),
                "body_truncated": received > len(captured),
                "error": _storable(state.get("error")),
                "lead_id": state.get("lead_id"),
            }

        # An API call writes its own row in its transaction when it succeeds, and sets
        # "logged"; any other authenticated request is logged here, after the response.
        state["log_entry"] = log_entry
        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception as error:
            # The one place an unexpected error becomes a 500 (or, when the database is away,
            # a 503 the client may retry): logged with the request id, shown to the client
            # without internals.
            outage = db.unavailable(error)
            if outage:
                logging.getLogger("doorstep").warning("database unavailable: %s", error)
                state["error"] = "Database unavailable."
                code = 503
                message = (
                    "The database is unavailable just now; nothing was changed. "
                    f"Try again in {RETRY_AFTER} seconds (request id {rid})."
                )
            else:
                logging.getLogger("doorstep").exception("unhandled error")
                state["error"] = "Internal server error."
                code = 500
                message = f"Internal server error. Quote request id {rid} when reporting it."
            if not started_response:
                if scope["path"].startswith(JSON_PREFIXES):
                    body = json.dumps({"message": message}).encode()
                    content_type = b"application/json"
                else:
                    # A dashboard page: the error page, in the dashboard's layout.
                    body = error_page(code, message).encode()
                    content_type = b"text/html; charset=utf-8"
                response_headers = [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ]
                if outage:
                    response_headers.append((b"retry-after", str(RETRY_AFTER).encode()))
                await send_with_id(
                    {"type": "http.response.start", "status": code, "headers": response_headers}
                )
                await send_with_id({"type": "http.response.body", "body": body})
        finally:
            duration = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            metrics.child(metrics.REQUESTS, method, route_path, str(status)).inc()
            metrics.child(metrics.LATENCY, method, route_path).observe(duration)
            path = loggable_path(scope)
            log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "route": route_path,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                },
            )
            if "token_id" in state and not state.get("logged"):
                await db.in_thread(_write_log, log_entry(status))
            request_id_var.reset(ctx)


def _storable(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def _write_log(entry: dict[str, Any]) -> None:
    try:
        with statements.autocommit() as conn:
            tokens.write_log(conn, **entry)
    except Exception as error:
        logger = logging.getLogger("doorstep.request_log")
        if db.unavailable(error):  # the database is away: the row cannot be kept
            logger.warning("request log row lost, database unavailable: %s", error)
        else:
            logger.exception("could not write the request log")


def loggable_path(scope: Scope) -> str:
    """The path as the access log shows it. A signed link carries its capability in the path
    (`/unsubscribe/{token}`, `/q/{token}`): whoever reads the log could use it, so the value of
    a path parameter named `token` is replaced."""
    path: str = scope["path"]
    secret = (scope.get("path_params") or {}).get("token")
    if isinstance(secret, str) and secret:
        path = path.replace(secret, "[redacted]")
    return path
