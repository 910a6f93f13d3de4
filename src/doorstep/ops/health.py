from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from doorstep import db
from doorstep.config import get_settings
from doorstep.errors import NotFound, Unauthorized
from doorstep.ops import metrics

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Alive")
def healthz() -> dict[str, str]:
    """The process is up (for a load balancer's liveness check)."""
    return {"status": "ok"}


@router.get("/readyz", summary="Ready", responses={503: {"description": "Database unreachable"}})
def readyz() -> JSONResponse:
    """The database answers: send traffic here."""
    try:
        with db.get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus(request: Request) -> Response:
    """Route names, traffic and error rates are for the operator, not the internet: served
    here only to ``Authorization: Bearer DOORSTEP_METRICS_TOKEN``, else not at all (then
    ``doorstep serve --metrics-port`` serves them on a port of their own)."""
    expected = get_settings().metrics_token
    if not expected:
        raise NotFound()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken says nothing about how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise Unauthorized(
            "Send the metrics token: Authorization: Bearer <DOORSTEP_METRICS_TOKEN>.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
