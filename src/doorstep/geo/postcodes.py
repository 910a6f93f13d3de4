"""UK postcode parsing: canonical form and the area / district / sector / unit hierarchy."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Outward code: area letters, district digit, optional digit or letter. Inward: digit + 2 letters.
_UNIT = re.compile(r"^([A-Z]{1,2})([0-9][A-Z0-9]?)([0-9])([A-Z]{2})$")
_SECTOR = re.compile(r"^([A-Z]{1,2})([0-9][A-Z0-9]?)([0-9])$")
_DISTRICT = re.compile(r"^([A-Z]{1,2})([0-9][A-Z0-9]?)$")
_AREA = re.compile(r"^[A-Z]{1,2}$")

KIND_RANK = {"unit": 4, "sector": 3, "district": 2, "area": 1}


@dataclass(frozen=True, slots=True)
class Postcode:
    """A full unit postcode such as ``NG1 5FS``."""

    area: str  # NG
    district: str  # NG1
    sector: str  # NG1 5
    unit: str  # NG1 5FS

    def codes(self) -> tuple[str, str, str, str]:
        return (self.area, self.district, self.sector, self.unit)


def _squash(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def parse(value: str | None) -> Postcode | None:
    """Parse a full UK unit postcode, any case and spacing; None when it is not one."""
    if not value:
        return None
    s = _squash(value)
    m = _UNIT.match(s)
    if not m:
        return None
    area, dist, sect, unit = m.groups()
    district = area + dist
    return Postcode(area, district, f"{district} {sect}", f"{district} {sect}{unit}")


def canonical(value: str) -> str:
    """``de11jx`` -> ``DE1 1JX``; anything that is not a UK postcode is returned trimmed."""
    pc = parse(value)
    return pc.unit if pc else value.strip()


def classify(code: str) -> tuple[str, str] | None:
    """A coverage code's (kind, canonical code): ``ng1 5`` -> ("sector", "NG1 5")."""
    s = _squash(code)
    if not s:
        return None
    if pc := parse(s):
        return "unit", pc.unit
    if m := _SECTOR.match(s):
        return "sector", f"{m.group(1)}{m.group(2)} {m.group(3)}"
    if _DISTRICT.match(s):
        return "district", s
    if _AREA.match(s):
        return "area", s
    return None


def routing_parts(value: str | None) -> tuple[str, ...]:
    """The codes a postcode belongs to, most general first. Accepts a bare outward code too,
    so a lead that only gave "NG1" can still be routed by district."""
    if not value:
        return ()
    if pc := parse(value):
        return pc.codes()
    c = classify(value)
    if c is None or c[0] == "area":
        return ()
    kind, code = c
    if kind == "district":
        m = _DISTRICT.match(code)
        assert m
        return (m.group(1), code)
    m = _SECTOR.match(code.replace(" ", ""))
    assert m
    return (m.group(1), m.group(1) + m.group(2), code)
