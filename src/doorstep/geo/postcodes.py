"""UK postcode parsing: canonical form and the area / district / sector / unit hierarchy."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Outward code: area letters, district digit, optional digit or letter. Inward: digit + 2 letters.
_UNIT = re.compile(r"^([A-Z]{1,2})([0-9][A-Z0-9]?)([0-9])([A-Z]{2})$")
_SECTOR = re.compile(r"^([A-Z]{1,2})([0-9][A-Z0-9]?)([0-9])$")
_DISTRICT = re.compile(r"^([A-Z]{1,2})([0-9][A-Z0-9]?)$")
_AREA = re.compile(r"^[A-Z]{1,2}$")
_AREA_PREFIX = re.compile(r"^[A-Z]+")

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
    """A coverage code's (kind, canonical code): ``ng1 5`` -> ("sector", "NG1 5").

    Spacing matters where it must: "NG15" is the district NG15, "NG1 5" the sector."""
    parts = code.upper().split()
    if len(parts) == 2:
        outward, inward = parts
        if not _DISTRICT.match(outward):
            return None
        if re.fullmatch(r"[0-9]", inward):
            return "sector", f"{outward} {inward}"
        if re.fullmatch(r"[0-9][A-Z]{2}", inward):
            return "unit", f"{outward} {inward}"
        return None
    if len(parts) != 1:
        return None
    s = parts[0]
    if pc := parse(s):
        return "unit", pc.unit
    if _DISTRICT.match(s):
        return "district", s
    if _AREA.match(s):
        return "area", s
    return None


def routing_parts(value: str | None) -> tuple[str, ...]:
    """The codes a postcode belongs to, most general first. Accepts a bare outward code or a
    sector too, so a lead that only gave "NG1" can still be routed by district."""
    if not value:
        return ()
    if pc := parse(value):
        return pc.codes()
    c = classify(value)
    if c is None or c[0] == "area":
        return ()
    kind, code = c
    district = code.split()[0]
    area = _AREA_PREFIX.match(district).group()  # type: ignore[union-attr]
    return (area, district) if kind == "district" else (area, district, code)
