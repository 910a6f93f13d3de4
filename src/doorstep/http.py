"""Request bodies: content type, size, syntax and schema, each with the contract's status.
JSON everywhere; for the lead endpoints also an HTML form (``formdata``), read into the shape
a JSON body has so that one validation, one idempotency hash and one set of errors serve both."""

from __future__ import annotations

import json
import sys
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from doorstep import formdata
from doorstep.errors import MalformedJSON, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def is_json_content_type(value: str | None) -> bool:
    if not value:
        return False
    mime = value.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


NOT_A_BODY_TYPE = (
    "The request body must be JSON (Content-Type: application/json) or an HTML form "
    "(application/x-www-form-urlencoded or multipart/form-data)."
)


async def read_body(request: Request) -> bytes | PayloadTooLarge:
    """The request's body, or the 413 it earned: raised by ``parse_body`` once the API key
    is checked, so that the request is logged against its token."""
    try:
        return await request.body()
    except PayloadTooLarge as e:
        return e


def parse_body(content_type: str | None, raw: bytes | PayloadTooLarge) -> Any:
    """The body by its Content-Type: JSON, or a form read into the same shape; else 415.
    The content type is checked first: a 413 is for a body the endpoint would take."""
    is_json = is_json_content_type(content_type)
    if not is_json and not formdata.is_form(content_type):
        raise UnsupportedMediaType(NOT_A_BODY_TYPE)
    if isinstance(raw, PayloadTooLarge):
        raise raw
    if is_json:
        return parse_json(raw)
    assert content_type is not None
    return formdata.parse_form(raw, content_type)


def validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    """Pydantic errors as ``{field: [reason, ...]}``, every failing field at once.

    A model-level check names its field by prefixing the message with ``field|``."""
    out: dict[str, list[str]] = {}
    for err in exc.errors():
        msg = str(err.get("msg", "Invalid value."))
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        loc = err.get("loc") or ()
        field = str(loc[0]) if loc else ""
        if "|" in msg and (not field or err.get("type") == "value_error"):
            field, msg = msg.split("|", 1)
        if not field:
            field = "body"
        if err.get("type") == "missing":
            msg = "This field is required."
        if not msg.endswith("."):
            msg += "."
        reasons = out.setdefault(field, [])
        if msg not in reasons:
            reasons.append(msg)
    return out


class _NotJSON(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise _NotJSON(name)


class _LongNumber:
    """An integer of more digits than Python reads (``sys.get_int_max_str_digits()``)."""


def _read_int(digits: str) -> int | _LongNumber:
    limit = sys.get_int_max_str_digits()  # 0: no limit
    if limit and len(digits.lstrip("-")) > limit:
        return _LongNumber()
    return int(digits)


# Levels of objects and arrays in a field's value: no lead field nests more than two, and
# everything that later walks a value (NUL check, byte limits, the request log's view) stays
# well clear of Python's recursion limit.
MAX_NESTING = 32
TOO_DEEP = f"Must not nest objects or arrays more than {MAX_NESTING} levels deep."
TOO_LONG = f"Must not contain a number of more than {sys.get_int_max_str_digits()} digits."


def _unreadable(value: Any) -> str | None:
    """Why a parsed value cannot be taken further, if it cannot (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, _LongNumber):
            return TOO_LONG
        if isinstance(v, dict | list):
            if depth >= MAX_NESTING:
                return TOO_DEEP
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return None


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or the contract's 400; a 422 naming each top-level field (``body``
    for a body that is not an object) that nests too deeply or holds too long a number."""
    data = _parse(raw)
    fields = data.items() if isinstance(data, dict) else [("body", data)]
    errors = {str(k): [reason] for k, v in fields if (reason := _unreadable(v))}
    if errors:
        raise ValidationFailed(errors)
    return data


def _parse(raw: bytes) -> Any:
    try:
        # orjson is the fast path; anything it refuses (or reads differently: huge integers,
        # lone surrogates) goes through json, which also gives the messages below.
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_int=_read_int)
    except UnicodeDecodeError as e:
        raise MalformedJSON(f"The request body is not valid UTF-8 (byte {e.start}).") from None
    except RecursionError:
        # orjson stops at 1,024 levels; no lead field nests more than two.
        raise MalformedJSON(
            "The request body is not valid JSON here: it nests arrays or objects too deeply."
        ) from None
    except _NotJSON as e:
        raise MalformedJSON(
            f"The request body is not valid JSON: {e} is not a JSON value."
        ) from None
    except json.JSONDecodeError as e:
        raise MalformedJSON(
            f"The request body is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}."
        ) from None


def has_nul(value: Any) -> bool:
    """NUL characters cannot be stored in PostgreSQL text; no real field needs one.
    Walked without recursion: whatever the nesting, the answer is not a RecursionError."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


NUL_REASON = "Must not contain NUL (\\u0000) characters."


def validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise ValidationFailed(
            {"body": ["The request body must be a JSON object."]},
            message="The request body must be a JSON object.",
        )
    errors = {k: [NUL_REASON] for k, v in data.items() if k in model.model_fields and has_nul(v)}
    rules = getattr(model, "rule_errors", None)
    try:
        result = model.model_validate(data)
    except ValidationError as e:
        found = validation_errors(e)
        for field, reasons in (rules(data) if rules else {}).items():
            found.setdefault(field, []).extend(r for r in reasons if r not in found[field])
        raise ValidationFailed({**found, **errors}) from None
    if errors:
        raise ValidationFailed(errors)
    return result
