"""Whole numbers read from text: ids in URL paths, filters in query strings, form fields, the
command line, a Content-Length header, numbers the API receives as strings. Every such value
is read here, and only the ASCII digits 0-9 make a number.

``str.isdigit()`` and ``int()`` are both wider than that: ``isdigit()`` is true for "²", which
``int()`` then refuses (a 500), and for "١" (Arabic-Indic one) and "１" (fullwidth one), which
``int()`` reads as 1, so ``/leads/١`` was lead 1. ``int()`` also takes "1_000", "+1" and " 1 "."""

from __future__ import annotations

import re

from doorstep.errors import NotFound, is_row_id

_DIGITS = re.compile(r"[0-9]+")

# Far more than any count or id, and far below the 4,300 digits past which int() refuses.
MAX_DIGITS = 100


def is_digits(text: str) -> bool:
    """One or more ASCII digits and nothing else (no sign, no white space)."""
    return _DIGITS.fullmatch(text) is not None


def whole(text: str | None, *, max_digits: int = MAX_DIGITS) -> int | None:
    """The whole number ``text`` spells in ASCII digits; None for anything else."""
    if text is None or len(text) > max_digits or not is_digits(text):
        return None
    return int(text)


def row_id(text: str | None) -> int | None:
    """A row id (a positive INTEGER) spelled in ASCII digits; None for anything else."""
    n = whole(text, max_digits=10)
    return n if n is not None and is_row_id(n) else None


def path_id(raw: str, what: str) -> int:
    """An id from a URL path. Anything but a positive integer is simply not found."""
    n = row_id(raw)
    if n is None:
        raise NotFound(f"There is no {what} {raw}.")
    return n
