"""Server-rendered SVG charts: a stacked bar per day, no JavaScript and no build step."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

# Distinguishable on white, in the order series are drawn (largest first).
PALETTE = (
    "#1d4ed8", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9",
    "#ec4899", "#84cc16", "#6b7280", "#14b8a6", "#f97316", "#a855f7",
)  # fmt: skip


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _nice_step(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value``."""
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if m * magnitude >= value:
                return m * magnitude
        magnitude *= 10


def stacked_bars(days: list[date], series: dict[str, list[int]], title: str) -> Markup:
    width, height = 960, 260
    left, right, top, bottom = 44, 10, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(vals[i] for vals in series.values()) for i in range(len(days))]
    # Four grid steps of a round whole number each: 0, 10, 20, 30, 40.
    step = _nice_step(max(1, -(-max(totals, default=0) // 4)))
    peak = step * 4
    n = max(1, len(days))
    slot = plot_w / n
    bar = max(1.0, slot * 0.72)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):
        v = step * k
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{"#9aa5b1" if k == 0 else "#e4e7eb"}" stroke-width="1"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,}</text>')
    every = max(1, -(-n // 12))
    for i, d in enumerate(days):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i]
            if not v:
                continue
            h = plot_h * v / peak
            y -= h
            tip = f"{d.strftime('%-d %b')}: {escape(name)} {v:,}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour(j)}"><title>{tip}</title></rect>'
            )
        if i % every == 0:
            cx = left + slot * i + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                f"{d.strftime('%-d %b')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
