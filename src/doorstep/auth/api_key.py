"""Every Lead API request is one unit of work on one database connection, on one thread.

On that thread, in this order: the API key is checked and the request counted against the
token's rate limit (committed at once, so the hot counter row is not held), the body (JSON or
an HTML form) is checked (415, 413, 400), the endpoint does its work, the request-log row is
written and everything is committed together, before the response is sent: a 200 means the
lead and its log entry are both stored. A request that fails is rolled back and logged after
the response (ops.middleware). One connection checkout and one thread hop a request: measured with
``make bench``, each extra hop or checkout cost as much as a whole SQL statement.

On PostgreSQL, creating a lead with a secret key takes a faster path of its own, on the event
loop through asyncpg (leads/create_pg.py), with the same guarantees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from doorstep import db, statements
from doorstep.auth.principal import Actor
from doorstep.config import get_settings
from doorstep.errors import PayloadTooLarge, RateLimited, Unauthorized
from doorstep.http import parse_body, read_body
from doorstep.tokens import browser as browser_keys
from doorstep.tokens import service as tokens

R = TypeVar("R", bound=Response)


@dataclass(frozen=True)
class Call:
    """What an endpoint's work gets: the transaction, who is calling, the parsed body."""

    session: Session
    actor: Actor
    body: Any = None


class ApiCall:
    def __init__(self, request: Request, key: str) -> None:
        self.request = request
        self.key = key

    async def run(
        self, work: Callable[[Call], R], *, body: bool = False, browser: bool = False
    ) -> R:
        """``work`` in the request's unit of work; with ``body``, given the parsed body (JSON,
        or an HTML form read into the same shape: see ``formdata``). ``browser``: a
        publishable token may call this endpoint (tokens.browser)."""
        raw = await read_body(self.request) if body else None
        return await db.in_thread(self._unit, work, body, raw, browser)

    def _unit(self, work: Callable[[Call], R], body: bool, raw: Any, browser: bool) -> R:
        state = self.request.state
        # No ping on checkout: the admission is the connection's first statement.
        with db.unpinged(db.get_engine()) as conn:
            admitted = db.retry_closed(conn, self._admit)
            if admitted is None:
                raise Unauthorized("Invalid or revoked API key.")
            # From here on the request is logged against the token.
            state.token_id = admitted.token_id
            state.account_id = admitted.account_id
            if admitted.publishable:
                # Before the token's 429, so that a page allowed to ask can read that too.
                with statements.autocommit(conn) as direct:
                    state.cors_origin = browser_keys.check_request(
                        direct,
                        admitted.token_id,
                        endpoint_allowed=browser,
                        origin=self.request.headers.get("origin"),
                        host=self.request.headers.get("host"),
                    )
            if admitted.retry_after:
                raise RateLimited(
                    f"Rate limit of {admitted.limit} requests a minute exceeded; "
                    f"retry in {admitted.retry_after} s.",
                    headers={"Retry-After": str(admitted.retry_after)},
                )
            if admitted.publishable:
                limit = admitted.address_limit
                if limit is None:
                    limit = get_settings().publishable_address_limit_per_minute
                client = browser_keys.client_key((self.request.scope.get("client") or [""])[0])
                with statements.autocommit(conn) as direct:
                    browser_keys.admit_client(direct, admitted.token_id, client, limit)
            parsed = self._parse(raw) if body else None
            actor = Actor(
                account_id=admitted.account_id,
                token_id=admitted.token_id,
                account_name=admitted.account_name,
                routing_version=admitted.routing_version,
            )
            with db.session_factory()(bind=conn) as session:
                try:
                    response = work(Call(session, actor, parsed))
                    entry = state.log_entry(response.status_code)
                    tokens.log_in_transaction(session.connection(), **entry)
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
            state.logged = True
            return response

    def _admit(self, conn: Connection) -> tokens.Admission | None:
        limit = get_settings().rate_limit_per_minute
        with statements.autocommit(conn) as direct:
            if self.key.startswith(browser_keys.PAGE_KEY_PREFIX):
                # A hosted valuation page's key: admitted as the publishable token it names.
                token_id = browser_keys.token_of_page_key(self.key)
                stored = None if token_id is None else tokens.publishable_hash(direct, token_id)
                if stored is None:
                    return None
                return tokens.admit(direct, "", limit, token_hash=stored)
            return tokens.admit(direct, self.key, limit)

    def _parse(self, raw: bytes | PayloadTooLarge) -> Any:
        return parse_body(self.request.headers.get("content-type"), raw)


# Declared as a security scheme so that the OpenAPI docs offer it (Swagger UI's Authorize).
_KEY_HEADER = APIKeyHeader(
    name="X-API-KEY",
    auto_error=False,
    description="An API token of your account (Developer page, or `doorstep tokens create`).",
)


async def _api_call(
    request: Request, header: Annotated[str | None, Security(_KEY_HEADER)]
) -> ApiCall:
    # async: FastAPI runs a plain function dependency on a worker thread of its own.
    return api_call(request, header)


def api_call(request: Request, header: str | None = None) -> ApiCall:
    """The call of the key sent in X-API-KEY (``header``: already read); 401 without one."""
    if header is None:
        header = request.headers.get(_KEY_HEADER.model.name)
    key = (header or "").strip()
    if not key:
        raise Unauthorized("Missing API key: send it in the X-API-KEY header.")
    return ApiCall(request, key)


Api = Annotated[ApiCall, Depends(_api_call)]
# For a route that reads the key itself (api_call) to spare the dependency machinery on a hot
# path: the same requirement in its OpenAPI operation, so that the docs still send the key.
API_KEY_SECURITY: list[dict[str, list[str]]] = [{_KEY_HEADER.scheme_name: []}]
