"""Matching a free-text address (what a vendor types) against Price Paid address parts."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Z0-9]+")
_ABBREVIATIONS = {
    "RD": "ROAD",
    "ST": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "LN": "LANE",
    "DR": "DRIVE",
    "CL": "CLOSE",
    "CRES": "CRESCENT",
    "CT": "COURT",
    "GDNS": "GARDENS",
    "GRN": "GREEN",
    "GR": "GROVE",
    "GRV": "GROVE",
    "PL": "PLACE",
    "SQ": "SQUARE",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "PK": "PARK",
    "HSE": "HOUSE",
    "APARTMENT": "FLAT",
    "APT": "FLAT",
}


def normalise(text: str | None) -> str:
    """Upper case, punctuation dropped, common abbreviations spelt out: ``12a, Peel Rd``
    -> ``12A PEEL ROAD``."""
    if not text:
        return ""
    words = _WORD.findall(text.upper())
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def sale_address(saon: str | None, paon: str | None, street: str | None) -> str:
    return normalise(" ".join(p for p in (saon, paon, street) if p))


def is_same_property(address: str, saon: str | None, paon: str | None, street: str | None) -> bool:
    """The normalised address begins with the sale's flat, house and street: "FLAT 3 12 PEEL
    ROAD ..." matches FLAT 3 / 12 / PEEL ROAD but not the house 12 PEEL ROAD, nor 1 PEEL ROAD.
    A leading FLAT is optional on either side: the Land Registry often records flat 3 as "3"."""
    if not address or not paon:
        return False
    key = _without_flat(sale_address(saon, paon, street))
    address = _without_flat(address)
    return address == key or address.startswith(key + " ")


def _without_flat(text: str) -> str:
    return text[5:] if text.startswith("FLAT ") else text


def on_street(address: str, street: str | None) -> bool:
    if not address or not street:
        return False
    s = normalise(street)
    return len(s) >= 4 and f" {s} " in f" {address} "
