"""``GET /api/v103/addresses?postcode=``: the homes known in a postcode, from imported Price Paid
Data, so that a valuation form can offer "choose your address" and post the one chosen.

Each home is listed once, in the form of its newest sale (the Land Registry's spelling of a
street or town changes over the years; "FLAT 3" is sometimes just "3"), flats grouped under
their building, buildings in street-number order (2, 2A, 10, then named houses). The address
posted back is written so that the valuation finds the home's earlier sale (address.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.errors import ValidationFailed
from doorstep.geo.postcodes import parse
from doorstep.models import Sale
from doorstep.valuation import address as addr

API_TYPE = {"D": "detached", "S": "semi-detached", "T": "terraced", "F": "flat-maisonette"}
_NUMBER = re.compile(r"([0-9]+)\s*([A-Z]?)\b")


def display(text: str | None) -> str:
    """Land Registry capitals as a person writes them: ``FLAT 1A, ST. MARY'S COURT`` ->
    ``Flat 1A, St. Mary's Court``. Words with digits stay as they are (``1A``, ``B2``)."""
    if not text:
        return ""

    def word(w: str) -> str:
        if any(c.isdigit() for c in w):
            return w.upper()
        return "-".join(p[:1].upper() + p[1:].lower() for p in w.split("-"))

    return " ".join(word(w) for w in text.split())


def _order(text: str) -> tuple[int, int, str, str]:
    """Numbers first, in numeric order (``2 < 2A < 10``), then names in alphabetical order."""
    m = _NUMBER.search(text)  # "ROSE COURT 5" too: a named building goes by its number
    return (0, int(m.group(1)[:9]), m.group(2), text) if m else (1, 0, "", text)


def _house(paon: str, street: str | None) -> str:
    """``12`` + ``DORA ROAD`` -> ``12 Dora Road``; a named house keeps a comma."""
    paon_text, street_text = display(paon), display(street)
    if not street_text:
        return paon_text
    if paon_text[:1].isdigit():
        return f"{paon_text} {street_text}"
    return f"{paon_text}, {street_text}"


def _flat(saon: str) -> str:
    text = display(saon)
    return f"Flat {text}" if text[:1].isdigit() else text


@dataclass
class _Building:
    key: tuple[str, str]
    label: str
    place: str  # ", Wimbledon, London": what follows the house in a full address
    order: tuple[Any, ...]
    home: dict[str, Any] | None = None
    flats: list[tuple[tuple[int, int, str, str], dict[str, Any]]] = field(default_factory=list)


def lookup(session: Session, postcode: str | None) -> dict[str, Any]:
    if postcode is None or not postcode.strip():
        raise ValidationFailed.field("postcode", "This field is required.")
    pc = parse(postcode)
    if pc is None:
        raise ValidationFailed.field("postcode", "Must be a full UK postcode, such as DE1 1JX.")
    rows = session.execute(
        select(Sale.saon, Sale.paon, Sale.street, Sale.locality, Sale.town, Sale.property_type)
        .where(Sale.postcode == pc.unit, Sale.property_type.in_(tuple(API_TYPE)))
        .order_by(Sale.deed_date.desc(), Sale.transaction_id)
    ).all()
    seen: set[tuple[str, str, str]] = set()
    buildings: dict[tuple[str, str], _Building] = {}
    for saon, paon, street, locality, town, ptype in rows:
        if not paon:
            continue
        flat_key = addr.normalise(saon)
        flat_key = flat_key[5:] if flat_key.startswith("FLAT ") else flat_key
        home_key = (flat_key, addr.normalise(paon), addr.normalise(street))
        if home_key in seen:
            continue  # an older form of a home already listed
        seen.add(home_key)
        key = home_key[1:]
        building = buildings.get(key)
        if building is None:
            place = "".join(f", {display(p)}" for p in (locality, town) if p)
            building = buildings[key] = _Building(
                key,
                _house(paon, street),
                place,
                (addr.normalise(street), *_order(addr.normalise(paon))),
            )
        if saon:
            label = _flat(saon)
            building.flats.append(
                (
                    _order(flat_key),
                    {
                        "label": label,
                        "address": f"{label}, {building.label}{building.place}",
                        "property_type": API_TYPE[ptype],
                    },
                )
            )
        else:
            building.home = {
                "address": f"{building.label}{building.place}",
                "property_type": API_TYPE[ptype],
            }
    listed = []
    for b in sorted(buildings.values(), key=lambda b: b.order):
        listed.append(
            {
                "label": b.label,
                "address": b.home["address"] if b.home else None,
                "property_type": b.home["property_type"] if b.home else None,
                "flats": [f for _, f in sorted(b.flats, key=lambda x: x[0])],
            }
        )
    homes = sum(len(b.flats) + (b.home is not None) for b in buildings.values())
    return {"postcode": pc.unit, "homes": homes, "addresses": listed}
