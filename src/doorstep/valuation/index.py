"""The local house price index Doorstep builds from the imported sales (no external index).

Method (a fixed-effects, "mix-adjusted" index, solved by alternating two streamed passes):
each eligible sale's log price is split into a cell effect (its postcode sector and property
type) and a monthly effect of its region. The monthly effects are measured nationally, then
per postcode area and per district as deviations from the level above, each smoothed over
neighbouring months and shrunk towards its parent in proportion to how few sales it has. So a
district with thin evidence follows its area, and a busy district gets its own curve.

Memory is bounded by the number of cells and region-months, not by the number of sales."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.orm import Session

from doorstep.models import PriceIndex, Sale

NATIONAL = "*"
ITERATIONS = 2
# Smoothing bandwidths (months) and shrinkage (sales) towards the parent level.
NATIONAL_BANDWIDTH = 1.5
LOCAL_BANDWIDTH = 3.0
SHRINK = 30.0
# A sale more than e (x2.7) away from its cell is an outlier for the index: clipped.
CLIP = 1.0

Sums = dict[tuple[str, int], list[float]]
Levels = dict[str, dict[int, float]]


@dataclass
class IndexSummary:
    sales: int
    regions: int
    first_month: int | None
    last_month: int | None
    rows: int


def _stream(
    conn: Connection, before_month: int | None
) -> Iterator[tuple[str, str, str, str, int, int]]:
    q = (
        select(Sale.sector, Sale.property_type, Sale.district, Sale.area, Sale.month, Sale.price)
        .where(Sale.eligible)
        .execution_options(yield_per=20_000)
    )
    if before_month is not None:
        q = q.where(Sale.month < before_month)
    yield from conn.execute(q)  # type: ignore[misc]


def _smooth(
    months: list[int], series: dict[int, tuple[float, float]], bandwidth: float, shrink: float
) -> dict[int, float]:
    """Kernel-weighted mean of (value, weight) by month, shrunk towards 0 by ``shrink``."""
    reach = int(3 * bandwidth) + 1
    out = {}
    for m in months:
        num = den = 0.0
        for k in range(m - reach, m + reach + 1):
            v = series.get(k)
            if v is not None:
                w = math.exp(-0.5 * ((k - m) / bandwidth) ** 2) * v[1]
                num += w * v[0]
                den += w
        out[m] = num / (den + shrink) if den + shrink > 0 else 0.0
    return out


def _levels(sums: Sums, months: list[int]) -> Levels:
    by_region: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    for (region, m), (s, n) in sums.items():
        by_region[region][m] = (s / n, n)
    national_raw = by_region.pop(NATIONAL, {})
    national = _smooth(months, national_raw, NATIONAL_BANDWIDTH, 0.0)
    # A month with no sales anywhere near it keeps the level before it.
    last = 0.0
    for m in months:
        if not any(k in national_raw for k in range(m - 5, m + 6)):
            national[m] = last
        last = national[m]
    levels: Levels = {NATIONAL: national}
    areas = [r for r in by_region if not any(ch.isdigit() for ch in r)]
    for area in areas:
        raw = by_region[area]
        dev = _smooth(
            months,
            {m: (v - national[m], n) for m, (v, n) in raw.items()},
            LOCAL_BANDWIDTH,
            SHRINK,
        )
        # Outside its own months an area holds its level: the national curve there may be
        # made of other regions' sales alone (a partial import), which say nothing of it.
        first, last = min(raw), max(raw)
        levels[area] = {
            m: national[max(first, min(last, m))] + dev[max(first, min(last, m))] for m in months
        }
    for district, raw in by_region.items():
        if district in levels:
            continue
        area = "".join(ch for ch in district if ch.isalpha())[:2]
        parent = levels.get(area, national)
        dev = _smooth(
            months,
            {m: (v - parent[m], n) for m, (v, n) in raw.items()},
            LOCAL_BANDWIDTH,
            SHRINK,
        )
        # Outside its own months a district keeps its last deviation from its area.
        first, last = min(raw), max(raw)
        levels[district] = {m: parent[m] + dev[max(first, min(last, m))] for m in months}
    return levels


def compute(
    conn: Connection, before_month: int | None = None
) -> tuple[Levels, int, list[int], dict[tuple[str, int], int]]:
    """The index levels by region and month, from every eligible sale (before a month, when
    given), and how many sales each region-month rests on."""
    levels: Levels = {}
    months: list[int] = []
    count = 0
    sums: Sums = {}
    for _ in range(ITERATIONS):
        cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        seen: set[int] = set()
        count = 0
        for sector, ptype, district, area, month, price in _stream(conn, before_month):
            adj = _level(levels, district, area, month)
            c = cells[(sector, ptype)]
            c[0] += math.log(price) - adj
            c[1] += 1
            seen.add(month)
            count += 1
        if not seen:
            return {}, 0, [], {}
        months = list(range(min(seen), max(seen) + 1))
        means = {k: s / n for k, (s, n) in cells.items() if n >= 2}
        sums = defaultdict(lambda: [0.0, 0.0])
        for sector, ptype, district, area, month, price in _stream(conn, before_month):
            mean = means.get((sector, ptype))
            if mean is None:
                continue  # a lone sale in its cell says nothing about time
            e = max(-CLIP, min(CLIP, math.log(price) - mean))
            for region in (NATIONAL, area, district):
                s = sums[(region, month)]
                s[0] += e
                s[1] += 1
        levels = _levels(sums, months)
    return levels, count, months, {k: int(v[1]) for k, v in sums.items()}


def _level(levels: Levels, district: str, area: str, month: int) -> float:
    for region in (district, area, NATIONAL):
        series = levels.get(region)
        if series is not None and month in series:
            return series[month]
    return 0.0


def rebuild(engine: Engine) -> IndexSummary:
    with engine.connect() as conn:
        levels, count, months, counts = compute(conn)
    rows = [
        {"region": region, "month": m, "level": level, "sales": counts.get((region, m), 0)}
        for region, series in levels.items()
        for m, level in series.items()
    ]
    with engine.begin() as conn:
        conn.execute(delete(PriceIndex))
        for i in range(0, len(rows), 5000):
            conn.execute(insert(PriceIndex), rows[i : i + 5000])
    return IndexSummary(
        sales=count,
        regions=len(levels),
        first_month=months[0] if months else None,
        last_month=months[-1] if months else None,
        rows=len(rows),
    )


class Series:
    """One region's index, for bringing a sale's price to another month."""

    def __init__(self, region: str | None, levels: dict[int, float]) -> None:
        self.region = region
        self.levels = levels
        self.first = min(levels) if levels else 0
        self.last = max(levels) if levels else 0

    def at(self, month: int) -> float:
        if not self.levels:
            return 0.0
        return self.levels[max(self.first, min(self.last, month))]

    def factor(self, from_month: int, to_month: int) -> float:
        """Multiplier taking a price of ``from_month`` to ``to_month``. Beyond the last
        month of evidence the level is held: Doorstep does not guess the future."""
        return math.exp(self.at(to_month) - self.at(from_month))


def series_from(levels: Levels, district: str, area: str) -> Series:
    for region in (district, area, NATIONAL):
        if region in levels:
            return Series(region, levels[region])
    return Series(None, {})


def load_series(session: Session, district: str, area: str) -> Series:
    for region in (district, area, NATIONAL):
        rows = session.execute(
            select(PriceIndex.month, PriceIndex.level).where(PriceIndex.region == region)
        ).all()
        if rows:
            return Series(region, {m: lv for m, lv in rows})
    return Series(None, {})
