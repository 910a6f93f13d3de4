"""The only place an API key becomes an Actor: authentication and the per-token rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from doorstep import db, statements
from doorstep.auth.principal import Actor
from doorstep.config import get_settings
from doorstep.errors import RateLimited, Unauthorized
from doorstep.tokens import service as tokens


def _admit(key: str) -> tokens.Admission | None:
    # Its own short transaction, committed at once: the request's rate-limit count stands
    # whatever happens to the request, and the hot counter row is not held meanwhile.
    with statements.autocommit() as conn:
        return tokens.admit(conn, key, get_settings().rate_limit_per_minute)


async def _authenticate(request: Request) -> Actor:
    key = (request.headers.get("x-api-key") or "").strip()
    if not key:
        raise Unauthorized("Missing API key: send it in the X-API-KEY header.")
    admitted = await db.in_thread(_admit, key)
    if admitted is None:
        raise Unauthorized("Invalid or revoked API key.")
    # From here on the request is logged against the token (see ops.middleware).
    request.state.token_id = admitted.token_id
    request.state.account_id = admitted.account_id
    if admitted.retry_after:
        raise RateLimited(
            f"Rate limit of {admitted.limit} requests a minute exceeded; "
            f"retry in {admitted.retry_after} s.",
            headers={"Retry-After": str(admitted.retry_after)},
        )
    return Actor(
        account_id=admitted.account_id,
        token_id=admitted.token_id,
        account_name=admitted.account_name,
    )


ApiActor = Annotated[Actor, Depends(_authenticate)]
