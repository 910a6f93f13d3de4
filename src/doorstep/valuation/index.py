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
from array import array
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


@dataclass
class IndexSummary:
    sales: int
    regions: int
    first_month: int | None
    last_month: int | None
    rows: int


@dataclass
class Computed:
    """Levels and sales counts by region over ``first`` .. ``first + len - 1``, one compact
    array per region: a national import has ~3,000 districts x 360 months."""

    first: int
    levels: dict[str, array[float]]
    counts: dict[str, array[float]]
    sales: int

    @property
    def months(self) -> int:
        return len(self.levels.get(NATIONAL, ()))


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


def _zeros(n: int) -> array[float]:
    return array("d", bytes(8 * n))


def _smooth(
    values: array[float], weights: array[float], bandwidth: float, shrink: float
) -> array[float]:
    """Kernel-weighted mean of the values by month, shrunk towards 0 by ``shrink``."""
    n = len(values)
    reach = int(3 * bandwidth) + 1
    kernel = [math.exp(-0.5 * (d / bandwidth) ** 2) for d in range(reach + 1)]
    out = _zeros(n)
    for m in range(n):
        num = den = 0.0
        for k in range(max(0, m - reach), min(n, m + reach + 1)):
            w = weights[k]
            if w:
                w *= kernel[abs(k - m)]
                num += w * values[k]
                den += w
        out[m] = num / (den + shrink) if den + shrink > 0 else 0.0
    return out


def _span(counts: array[float]) -> tuple[int, int]:
    have = [i for i, c in enumerate(counts) if c]
    return have[0], have[-1]


def _levels(
    sums: dict[str, array[float]], counts: dict[str, array[float]]
) -> dict[str, array[float]]:
    n = len(counts[NATIONAL])

    def means(region: str) -> array[float]:
        s, c = sums[region], counts[region]
        return array("d", (s[i] / c[i] if c[i] else 0.0 for i in range(n)))

    raw_national = means(NATIONAL)
    national = _smooth(raw_national, counts[NATIONAL], NATIONAL_BANDWIDTH, 0.0)
    # A month with no sales anywhere near it keeps the level before it.
    c = counts[NATIONAL]
    for m in range(n):
        if not any(c[k] for k in range(max(0, m - 5), min(n, m + 6))) and m > 0:
            national[m] = national[m - 1]
    levels = {NATIONAL: national}
    areas = [r for r in counts if r != NATIONAL and not any(ch.isdigit() for ch in r)]
    for area in areas:
        raw = means(area)
        dev = _smooth(
            array("d", (raw[i] - national[i] for i in range(n))),
            counts[area],
            LOCAL_BANDWIDTH,
            SHRINK,
        )
        # Outside its own months an area holds its level: the national curve there may be
        # made of other regions' sales alone (a partial import), which say nothing of it.
        first, last = _span(counts[area])
        levels[area] = array(
            "d",
            (national[max(first, min(last, m))] + dev[max(first, min(last, m))] for m in range(n)),
        )
    for district in counts:
        if district in levels:
            continue
        area = "".join(ch for ch in district if ch.isalpha())[:2]
        parent = levels.get(area, national)
        raw = means(district)
        dev = _smooth(
            array("d", (raw[i] - parent[i] for i in range(n))),
            counts[district],
            LOCAL_BANDWIDTH,
            SHRINK,
        )
        # Outside its own months a district keeps its last deviation from its area.
        first, last = _span(counts[district])
        levels[district] = array("d", (parent[m] + dev[max(first, min(last, m))] for m in range(n)))
    return levels


def compute(conn: Connection, before_month: int | None = None) -> Computed | None:
    """The index from every eligible sale (before a month, when given); None without sales."""
    levels: dict[str, array[float]] = {}
    counts: dict[str, array[float]] = {}
    first = 0
    count = 0
    for _ in range(ITERATIONS):
        cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        lo, hi, count = 10**9, -1, 0
        for sector, ptype, district, area, month, price in _stream(conn, before_month):
            adj = _level(levels, district, area, month - first) if levels else 0.0
            c = cells[(sector, ptype)]
            c[0] += math.log(price) - adj
            c[1] += 1
            lo, hi = min(lo, month), max(hi, month)
            count += 1
        if not count:
            return None
        first, n = lo, hi - lo + 1
        means = {k: s / k_n for k, (s, k_n) in cells.items() if k_n >= 2}
        del cells
        sums: dict[str, array[float]] = {}
        counts = {}
        for sector, ptype, district, area, month, price in _stream(conn, before_month):
            mean = means.get((sector, ptype))
            if mean is None:
                continue  # a lone sale in its cell says nothing about time
            e = max(-CLIP, min(CLIP, math.log(price) - mean))
            i = month - first
            for region in (NATIONAL, area, district):
                if region not in sums:
                    sums[region], counts[region] = _zeros(n), _zeros(n)
                sums[region][i] += e
                counts[region][i] += 1
        if NATIONAL not in counts:
            # No cell sold twice: nothing shows a change over time, so the index is flat.
            flat = {NATIONAL: _zeros(n)}
            return Computed(first, flat, {NATIONAL: _zeros(n)}, count)
        levels = _levels(sums, counts)
    return Computed(first, levels, counts, count)


def _level(levels: dict[str, array[float]], district: str, area: str, i: int) -> float:
    for region in (district, area, NATIONAL):
        series = levels.get(region)
        if series is not None:
            return series[i]
    return 0.0


def rebuild(engine: Engine) -> IndexSummary:
    with engine.connect() as conn:
        computed = compute(conn)
    with engine.begin() as conn:
        conn.execute(delete(PriceIndex))
        if computed is None:
            return IndexSummary(0, 0, None, None, 0)
        batch: list[dict[str, object]] = []
        written = 0
        for region, series in computed.levels.items():
            counts = computed.counts.get(region)
            for i, level in enumerate(series):
                batch.append(
                    {
                        "region": region,
                        "month": computed.first + i,
                        "level": level,
                        "sales": int(counts[i]) if counts else 0,
                    }
                )
                if len(batch) >= 5000:
                    conn.execute(insert(PriceIndex), batch)
                    written += len(batch)
                    batch = []
        if batch:
            conn.execute(insert(PriceIndex), batch)
            written += len(batch)
    return IndexSummary(
        sales=computed.sales,
        regions=len(computed.levels),
        first_month=computed.first,
        last_month=computed.first + computed.months - 1,
        rows=written,
    )


class Series:
    """One region's index, for bringing a sale's price to another month."""

    def __init__(self, region: str | None, first: int, levels: array[float] | list[float]) -> None:
        self.region = region
        self.first = first
        self.levels = levels
        self.last = first + len(levels) - 1

    def at(self, month: int) -> float:
        if not self.levels:
            return 0.0
        return self.levels[max(0, min(len(self.levels) - 1, month - self.first))]

    def factor(self, from_month: int, to_month: int) -> float:
        """Multiplier taking a price of ``from_month`` to ``to_month``. Beyond the last
        month of evidence the level is held: Doorstep does not guess the future."""
        return math.exp(self.at(to_month) - self.at(from_month))


def series_from(computed: Computed | None, district: str, area: str) -> Series:
    if computed is not None:
        for region in (district, area, NATIONAL):
            if region in computed.levels:
                return Series(region, computed.first, computed.levels[region])
    return Series(None, 0, [])


def load_series(session: Session, district: str, area: str) -> Series:
    for region in (district, area, NATIONAL):
        rows = session.execute(
            select(PriceIndex.month, PriceIndex.level)
            .where(PriceIndex.region == region)
            .order_by(PriceIndex.month)
        ).all()
        if rows:
            return Series(region, rows[0][0], [level for _, level in rows])
    return Series(None, 0, [])
