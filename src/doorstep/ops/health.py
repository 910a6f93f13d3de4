from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from doorstep import db
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
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
