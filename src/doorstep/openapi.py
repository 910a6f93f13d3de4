"""What ``/openapi.json`` (and so ``/docs`` and ``/redoc``) says beyond FastAPI's defaults.

FastAPI drops every ``null`` from the examples it publishes (fastapi/fastapi#5559), so the
lead object's example showed 33 of its 59 keys; the contract returns all of them, ``null``
where unknown. The examples are put back as written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Makes a retry safe: the same key and body within 24 hours replay the first "
    "response and create nothing; the same key with another body is a 409.",
}


def _restore(operation: dict[str, Any], route: APIRoute) -> None:
    for code, response in route.responses.items():
        for media, content in (response.get("content") or {}).items():
            if "example" in content:
                operation["responses"][str(code)]["content"][media]["example"] = content["example"]
    body = ((route.openapi_extra or {}).get("requestBody") or {}).get("content") or {}
    for media, content in body.items():
        if "example" in content:
            operation["requestBody"]["content"][media]["example"] = content["example"]


def install(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """``app.openapi`` with the examples of the routers' routes exactly as they give them."""
    generate = app.openapi
    routes = [r for router in routers for r in router.routes]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for route in routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in route.methods or ():
                    operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                    if operation is not None:
                        _restore(operation, route)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
