"""Request schemas of the Lead API v103 (what the documentation's tables and CONTRACT.md say).

The response is a plain ordered dict built in ``leads.serialize``: its 59 keys and their order
are part of the contract, so they are written down there once rather than derived."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from doorstep import numbers
from doorstep.geo import postcodes

LeadType = Literal["sale", "let", "vendor", "landlord", "mortgage_request"]
LEAD_TYPES: tuple[str, ...] = get_args(LeadType)
SOURCES = (
    "rightmove",
    "rightmove_valuation",
    "zoopla",
    "zoopla_valuation",
    "onthemarket",
    "gumtree",
    "s1",
    "lettingweb",
    "propertypal",
    "propertynews",
    "ivt",
    "homepage",
)
PropertyType = Literal["detached", "semi-detached", "terraced", "flat-maisonette"]


def compact_size(value: Any) -> int:
    """Bytes of the value as compact UTF-8 JSON: how every byte limit is measured."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def _whole(v: Any) -> Any:
    """A JSON number, or a whole number sent as text (``"office_id": "375"``, and every
    number of a form body) read by ``numbers.whole``: ASCII digits only, so "+3", "1_000",
    "3.0" and "٣" are not numbers, as they are not in a URL."""
    # Python counts true as 1: office_id true was routed to office 1.
    if isinstance(v, bool):
        raise ValueError("Must be a whole number, not true or false.")
    if isinstance(v, str):
        n = numbers.whole(v.strip())
        if n is None:
            raise ValueError("Must be a whole number, in the digits 0-9.")
        return n
    return v


_TRUE_FALSE = {"true": True, "false": False, "1": True, "0": False, "on": True}


def _true_false(v: Any) -> Any:
    """true/false, the 1/0 and "true"/"false" forms integrators send, and "on" (what a
    ticked HTML checkbox sends; an unticked one sends nothing); not "yes" (pydantic's lax
    booleans), which neither the documentation nor CONTRACT.md promises."""
    if isinstance(v, bool):
        return v
    if type(v) is int and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE_FALSE:
        return _TRUE_FALSE[v.strip().lower()]
    raise ValueError("Must be true or false.")


def _status_value(v: Any) -> Any:
    if v is None or (isinstance(v, (str, int)) and not isinstance(v, bool)):
        return v
    raise ValueError("Must be a status name or a status id.")


Whole = Annotated[int, BeforeValidator(_whole)]
Count = Annotated[int, BeforeValidator(_whole), Field(ge=0, le=50)]
TrueFalse = Annotated[bool, BeforeValidator(_true_false)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
Str255 = Annotated[str, StringConstraints(max_length=255)]
STATUS_NOTE_MAX = 1000
StatusNote = Annotated[str, StringConstraints(max_length=STATUS_NOTE_MAX)]
Postcode = Annotated[str, StringConstraints(min_length=2, max_length=10)]


def _check_email(v: str) -> str:
    try:
        validate_email(v, check_deliverability=False)
    except EmailNotValidError as e:
        raise ValueError(f"Must be a valid email address: {e}") from None
    return v


WEB_SCHEMES = ("http", "https")


def is_web_url(value: Any) -> bool:
    """An http:// or https:// address with a host: the only addresses the dashboard links to
    (``javascript:``, ``data:`` and the like would run or show something of the sender's)."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # an unclosed IPv6 bracket, say
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)


def _check_web_url(v: str) -> str:
    if not is_web_url(v):
        raise ValueError("Must be an http:// or https:// address, such as https://example.com/.")
    return v


WebUrl = Annotated[str, StringConstraints(max_length=255), AfterValidator(_check_web_url)]


def _check_meta(v: Any, *, allow_null_values: bool = False) -> dict[str, str | None]:
    if not isinstance(v, dict):
        raise ValueError("Must be an object of string values.")
    for key, val in v.items():
        if val is None and allow_null_values:
            continue
        if not isinstance(val, str):
            raise ValueError(f"The value of '{key}' must be a string.")
    if compact_size(v) > 1024:
        raise ValueError(f"Must be at most 1024 bytes as JSON (it is {compact_size(v)}).")
    return v


def _check_availability(v: Any) -> dict[str, str | list[str]]:
    if not isinstance(v, dict):
        raise ValueError("Must be an object whose values are strings or lists of strings.")
    for key, val in v.items():
        ok = isinstance(val, str) or (
            isinstance(val, list) and all(isinstance(x, str) for x in val)
        )
        if not ok:
            raise ValueError(f"The value of '{key}' must be a string or a list of strings.")
    if compact_size(v) > 1024:
        raise ValueError(f"Must be at most 1024 bytes as JSON (it is {compact_size(v)}).")
    return v


def check_questionnaire(v: Any) -> list[list[str]]:
    pairs = list(v.values()) if isinstance(v, dict) else v
    if not isinstance(pairs, list):
        raise ValueError("Must be a list of [question, answer] pairs.")
    for i, pair in enumerate(pairs):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        ):
            raise ValueError(f"Item {i} must be a [question, answer] pair of two strings.")
    if compact_size(pairs) > 2048:
        raise ValueError(f"Must be at most 2048 bytes as JSON (it is {compact_size(pairs)}).")
    return pairs


def _source(v: Any) -> str | None:
    if isinstance(v, str) and v.strip().lower() in SOURCES:
        return v.strip().lower()
    return None  # missing or unknown: the endpoint's default source


@cache
def _kept_blank(model: type[_Body]) -> frozenset[str]:
    """Fields whose blank string is an error rather than null (worked out once per model)."""
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    return frozenset(required) | model._keep_blank


class _Body(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")
    _keep_blank: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_null(cls, data: Any) -> Any:
        """An empty (or white-space) string for an optional field means null."""
        if not isinstance(data, dict):
            return data
        keep = _kept_blank(cls)
        return {
            k: (None if isinstance(v, str) and not v.strip() and k not in keep else v)
            for k, v in data.items()
        }

    @classmethod
    def rule_errors(cls, data: dict[str, Any]) -> dict[str, list[str]]:
        """Errors of the rules that span fields, read off the raw body. Pydantic runs a model
        validator only once every field is valid; ``http.validate`` adds these to the field
        errors, so that a form learns of every problem in one reply."""
        return {}


class LeadCreate(_Body):
    """Body of ``POST /api/v103/leads`` (and, with ``type`` vendor/landlord, the valuation)."""

    first_name: Name = Field(description="First name, 1–50 characters.", examples=["Marla"])
    last_name: Name = Field(description="Last name, 1–50 characters.", examples=["Singer"])
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)] = Field(
        description="A syntactically valid email address (no DNS look-up).",
        examples=["cloud9@cloud.com"],
    )
    phone: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="Kept as sent (max 255). A UK-normalised E.164 form is stored for matching; "
        "only valid UK numbers are callable by the autocaller.",
        examples=["01623000000"],
    )
    type: Annotated[LeadType, BeforeValidator(_lower)] = Field(
        description="sale, let, vendor, landlord or mortgage_request (any case in, lower out)."
    )
    title: Name | None = None
    advert_address: Str100 | None = None
    advert_postcode: Postcode | None = Field(
        None, description="2–10 characters; a UK postcode is returned in canonical form."
    )
    advert_url: WebUrl | None = Field(
        None,
        description="The advert the lead enquired about: an http:// or https:// address, max "
        "255 (any other scheme, or none, is a 422).",
        examples=["https://www.agency.co.uk/property/7362"],
    )
    advert_image: WebUrl | None = Field(
        None,
        description="The advert's image: an http:// or https:// address, max 255.",
        examples=["https://www.agency.co.uk/images/7362-1.jpg"],
    )
    message: Str255 | None = None
    appointment_availability: dict[str, Any] | None = Field(
        None, description="Object of strings or lists of strings, at most 1,024 bytes as JSON."
    )
    meta: dict[str, Any] | None = Field(
        None, description="Object of string values, at most 1,024 bytes as compact JSON."
    )
    questionnaire: list[Any] | dict[str, Any] | None = Field(
        None,
        description="List of [question, answer] string pairs (or an object whose values are "
        "such pairs), at most 2,048 bytes as JSON.",
    )
    gdpr_checkbox: TrueFalse | None = None
    host: Str255 | None = None
    office_id: Whole | None = Field(
        None, description="An office of your account (422 otherwise). Omit to route by postcode."
    )
    address: Str100 | None = None
    postcode: Postcode | None = Field(None, description="Required for vendor and landlord.")
    source: Annotated[str | None, BeforeValidator(_source)] = Field(
        None,
        description="One of " + ", ".join(SOURCES) + " (any case). Missing or unknown: the "
        "endpoint's default ('homepage'; 'ivt' for valuations).",
    )
    international: TrueFalse | None = None
    utm_source: Str255 | None = None
    utm_campaign: Str255 | None = None
    utm_medium: Str255 | None = None
    utm_term: Str255 | None = None
    utm_content: Str255 | None = None
    utm_gclid: Str255 | None = None
    property_reference: Str255 | None = None
    property_type: Annotated[PropertyType | None, BeforeValidator(_lower)] = None
    property_bedrooms: Count | None = None
    property_bathrooms: Count | None = None
    property_receptions: Count | None = None

    _email = field_validator("email")(_check_email)

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, v: Any) -> Any:
        return None if v is None else _check_meta(v)

    @field_validator("appointment_availability", mode="before")
    @classmethod
    def _avail(cls, v: Any) -> Any:
        return None if v is None else _check_availability(v)

    @field_validator("questionnaire", mode="before")
    @classmethod
    def _questionnaire(cls, v: Any) -> Any:
        return None if v is None else check_questionnaire(v)

    @field_validator("postcode", "advert_postcode")
    @classmethod
    def _canonical_postcode(cls, v: str | None) -> str | None:
        return postcodes.canonical(v) if v else v

    @classmethod
    def _rules(cls, kind: Any, has_postcode: bool) -> dict[str, str]:
        if kind in ("vendor", "landlord") and not has_postcode:
            return {"postcode": POSTCODE_REQUIRED}
        return {}

    @classmethod
    def rule_errors(cls, data: dict[str, Any]) -> dict[str, list[str]]:
        pc = data.get("postcode")
        has_postcode = pc is not None and not (isinstance(pc, str) and not pc.strip())
        return {k: [v] for k, v in cls._rules(_lower(data.get("type")), has_postcode).items()}

    @model_validator(mode="after")
    def _check_rules(self) -> LeadCreate:
        for field, reason in self._rules(self.type, bool(self.postcode)).items():
            raise ValueError(f"{field}|{reason}")
        return self


POSTCODE_REQUIRED = "The postcode is required for vendor and landlord leads."


class ValuationCreate(LeadCreate):
    """Body of ``POST /api/v103/leads/valuation``: a vendor or landlord with a postcode."""

    @classmethod
    def _rules(cls, kind: Any, has_postcode: bool) -> dict[str, str]:
        out = {} if has_postcode else {"postcode": POSTCODE_REQUIRED}
        if kind in LEAD_TYPES and kind not in ("vendor", "landlord"):
            out["type"] = "An instant valuation lead must be of type vendor or landlord."
        return out


def _iso_datetime(v: Any) -> Any:
    if v is None or isinstance(v, datetime):
        return v
    if not isinstance(v, str):
        raise ValueError("Must be an ISO 8601 date string.")
    s = v.strip()
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("Must be an ISO 8601 date string, e.g. 2025-07-12T10:00:00Z.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # a date or time without an offset is taken as UTC
    return dt.astimezone(UTC)


class LeadUpdate(_Body):
    """Body of ``PATCH /api/v103/leads/{id}``: any subset of these fields."""

    _keep_blank = frozenset({"first_name", "last_name"})

    first_name: Name | None = None
    last_name: Name | None = None
    address: Str255 | None = None
    postcode: Str255 | None = None
    advert_address: Str255 | None = None
    advert_postcode: Str255 | None = None
    status: Annotated[str | int | None, BeforeValidator(_status_value)] = Field(
        None, description="A status name of your account (any case) or a status id."
    )
    status_note: StatusNote | None = Field(
        None,
        description="Why the status changes, kept on the lead's activity with the change. "
        "Required with every status change when the account has strict lead progression "
        "(and there a lead moves from New to Contacted only through a connected call); "
        "optional otherwise. Only with `status`.",
    )
    office_id: Whole | None = None
    gdpr_checkbox: TrueFalse | None = None
    next_action_date: Annotated[datetime | None, BeforeValidator(_iso_datetime)] = Field(
        None, description="ISO 8601; converted to UTC. null clears it."
    )
    questionnaire: list[Any] | dict[str, Any] | None = Field(
        None, description="Pairs appended to the lead's existing questionnaire."
    )
    meta: dict[str, Any] | None = Field(
        None, description="Keys merged into the lead's meta; a null value removes the key."
    )
    utm_source: Str255 | None = None
    utm_campaign: Str255 | None = None
    utm_medium: Str255 | None = None
    utm_term: Str255 | None = None
    utm_content: Str255 | None = None
    utm_gclid: Str255 | None = None

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, v: Any) -> Any:
        return None if v is None else _check_meta(v, allow_null_values=True)

    @field_validator("questionnaire", mode="before")
    @classmethod
    def _questionnaire(cls, v: Any) -> Any:
        return None if v is None else check_questionnaire(v)

    @field_validator("postcode", "advert_postcode")
    @classmethod
    def _canonical_postcode(cls, v: str | None) -> str | None:
        return postcodes.canonical(v) if v else v

    @field_validator("first_name", "last_name", mode="before")
    @classmethod
    def _names_not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("Cannot be null: send a name of 1 to 50 characters.")
        return v
