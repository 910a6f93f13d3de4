"""Checks every dashboard request's query and form values get before a page sees them."""

from __future__ import annotations

from fastapi import Request

from doorstep.errors import ValidationFailed
from doorstep.http import NUL_REASON, has_nul


async def refuse_nul(request: Request) -> None:
    """PostgreSQL text cannot hold U+0000: refuse it with a 422, as the API does, rather than
    letting a note, a name or a search fail deep in the database."""
    errors = {k: [NUL_REASON] for k, v in request.query_params.multi_items() if has_nul(v)}
    ctype = request.headers.get("content-type", "")
    if request.method not in ("GET", "HEAD") and ctype.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        errors.update({k: [NUL_REASON] for k, v in form.multi_items() if has_nul(v)})
    if errors:
        raise ValidationFailed(errors)
