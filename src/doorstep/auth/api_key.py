"""The only place an API key becomes an Actor: authentication and the per-token rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text

from doorstep import db
from doorstep.auth.principal import Actor
from doorstep.config import get_settings
from doorstep.errors import RateLimited, Unauthorized
from doorstep.tokens import service as tokens


def _authenticate(request: Request) -> Actor:
    key = (request.headers.get("x-api-key") or "").strip()
    if not key:
        raise Unauthorized("Missing API key: send it in the X-API-KEY header.")
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The counter is bookkeeping, not a lead: no need to wait for the WAL flush.
            session.execute(text("SET LOCAL synchronous_commit = off"))
        token = tokens.authenticate(session, key)
        if token is None:
            raise Unauthorized("Invalid or revoked API key.")
        # From here on the request is logged against the token (see ops.middleware).
        request.state.token_id = token.id
        request.state.account_id = token.account_id
        limit = tokens.effective_limit(token, get_settings().rate_limit_per_minute)
        wait = tokens.hit_rate_limit(session, token.id, limit)
        actor = Actor(account_id=token.account_id, token_id=token.id)
    if wait:
        raise RateLimited(
            f"Rate limit of {limit} requests a minute exceeded; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return actor


ApiActor = Annotated[Actor, Depends(_authenticate)]
