"""Message templates: Jinja2 in a sandbox, checked when a workflow is saved or imported.

A template sees ``lead`` (the lead object as the API returns it), ``office`` and ``account``.
Undefined names are errors, not blanks: a template that names a variable that does not exist
is refused with its line, so no message ever goes out with a hole in it."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

_env = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_html_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=True)

# What a template may name, with a made-up lead for checking and previews.
SAMPLE_LEAD: dict[str, Any] = {
    "id": 1,
    "type": "vendor",
    "title": "Ms",
    "meta": {"campaign": "spring"},
    "message": "Please call after 5pm.",
    "first_name": "Marla",
    "last_name": "Singer",
    "full_name": "Marla Singer",
    "email": "marla@example.com",
    "phone": "07700 900123",
    "address": "1 High Street",
    "postcode": "NG1 5FS",
    "advert_url": None,
    "advert_image": None,
    "advert_postcode": None,
    "advert_address": None,
    "appointment_availability": None,
    "comparable_props": None,
    "source": "homepage",
    "created_at": "2026-12-04T10:00:00.000Z",
    "is_parent": True,
    "parent_id": None,
    "questionnaire": None,
    "stage": "Unread",
    "status": "New",
    "minimum_sale_estimation": 240000,
    "average_sale_estimation": 255000,
    "maximum_sale_estimation": 270000,
    "minimum_rent_estimation": 1100,
    "average_rent_estimation": 1200,
    "maximum_rent_estimation": 1300,
    "valuation_status": "Success",
    "gdpr_checkbox": True,
    "host": None,
    "property_bedrooms": 3,
    "property_reference": None,
    "property_type": "semi-detached",
    "raw_property_reference": None,
    "office_id": 1,
    "office_name": "Nottingham",
    "out_of_area_distance": None,
    "international": False,
    "account_id": 1,
    "account_name": "Demo Brand",
}
SAMPLE_OFFICE = {
    "id": 1,
    "name": "Nottingham",
    "postcode": "NG1 5FS",
    "email": "nottingham@agency.example.com",
    "phone": "0115 900 0000",
    "sender_name": "Demo Brand Nottingham",
    "opening_hours": "Mon-Fri 09:00-17:30, Sat 09:00-13:00",
}
SAMPLE_ACCOUNT = {"id": 1, "name": "Demo Brand"}


class TemplateProblem(ValueError):
    pass


def render(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    """The template rendered; TemplateProblem saying what is wrong and on which line."""
    env = _html_env if html else _env
    try:
        return env.from_string(source).render(**context)
    except TemplateSyntaxError as e:
        raise TemplateProblem(f"line {e.lineno}: {e.message}") from None
    except UndefinedError as e:
        raise TemplateProblem(f"{_line(e)}{e.message}") from None
    except SecurityError as e:
        raise TemplateProblem(f"{_line(e)}not allowed: {e}") from None
    except TemplateError as e:
        raise TemplateProblem(f"{_line(e)}{e}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as e:
        raise TemplateProblem(f"{_line(e)}{type(e).__name__}: {e}") from None


def _line(e: BaseException) -> str:
    """The template line an error was raised on, from its traceback."""
    tb = e.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"line {line}: " if line else ""


def check(source: str, *, html: bool = False, extra: dict[str, Any] | None = None) -> str | None:
    """None when the template renders for the sample lead, else what is wrong. ``extra``:
    the variables a step adds (a questionnaire's ``questionnaire_url``)."""
    context = {"lead": SAMPLE_LEAD, "office": SAMPLE_OFFICE, "account": SAMPLE_ACCOUNT}
    context |= extra or {}
    try:
        render(source, context, html=html)
    except TemplateProblem as e:
        return str(e)
    return None
