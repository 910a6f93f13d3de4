"""Gross rental yields by region: the rent estimate where an area has no rental evidence is
the sale estimate x the yield / 12.

Defaults are rounded typical gross yields for whole-property lets by UK region (London
lowest, the North East highest). Operators set their own with ``DOORSTEP_RENTAL_YIELDS``, a
JSON object whose keys are region names, postcode areas or districts (the most specific
wins) and values are percentages: ``{"London": 4.2, "NE": 7.5, "SW19": 3.9}``."""

from __future__ import annotations

from dataclasses import dataclass

from doorstep.config import get_settings

DEFAULT_YIELDS: dict[str, float] = {
    "London": 4.5,
    "South East": 4.6,
    "East of England": 4.9,
    "South West": 4.9,
    "West Midlands": 5.6,
    "East Midlands": 5.6,
    "Yorkshire and the Humber": 6.0,
    "North West": 6.2,
    "North East": 6.8,
    "Wales": 5.8,
    "Scotland": 6.5,
    "Northern Ireland": 6.0,
    "United Kingdom": 5.5,  # postcodes outside these regions (Channel Islands, Isle of Man)
}

# Each postcode area in the region holding most of its addresses.
_AREAS = {
    "London": "E EC N NW SE SW W WC BR CR EN HA IG RM SM TW UB",
    "South East": "BN CT GU HP ME MK OX PO RG RH SL SO TN KT DA",
    "East of England": "AL CB CM CO IP LU NR PE SG SS WD",
    "South West": "BA BH BS DT EX GL PL SN SP TA TQ TR",
    "West Midlands": "B CV DY HR ST TF WR WS WV SY",
    "East Midlands": "DE LE LN NG NN",
    "Yorkshire and the Humber": "BD DN HD HG HU HX LS S WF YO",
    "North West": "BB BL CA CH CW FY L LA M OL PR SK WA WN",
    "North East": "DH DL NE SR TS",
    "Wales": "CF LD LL NP SA",
    "Scotland": "AB DD DG EH FK G HS IV KA KW KY ML PA PH TD ZE",
    "Northern Ireland": "BT",
}
REGION_OF_AREA = {area: region for region, areas in _AREAS.items() for area in areas.split()}


@dataclass(frozen=True)
class Yield:
    percent: float
    region: str  # the region name, or the area/district an operator set a yield for
    configured: bool


def region_of(area: str) -> str:
    return REGION_OF_AREA.get(area, "United Kingdom")


def gross_yield(area: str, district: str) -> Yield:
    custom = {k.strip().upper(): float(v) for k, v in get_settings().rental_yields.items()}
    if district.upper() in custom:
        return Yield(custom[district.upper()], district, True)
    if area.upper() in custom:
        return Yield(custom[area.upper()], area, True)
    region = region_of(area)
    if region.upper() in custom:
        return Yield(custom[region.upper()], region, True)
    return Yield(DEFAULT_YIELDS[region], region, False)


def table() -> dict[str, float]:
    """The yields in force: the defaults with the operator's settings over them."""
    out = dict(DEFAULT_YIELDS)
    for k, v in get_settings().rental_yields.items():
        match = next((r for r in out if r.upper() == k.strip().upper()), None)
        out[match or k.strip().upper()] = float(v)
    return out
