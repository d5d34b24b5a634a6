"""Inline SVG charts, generated in Python: horizontal bars and a histogram.

Charts carry no colours of their own: bars get a `tone-*` class and text inherits the page's
font and colour, so the stylesheet decides (light and dark alike). Every label is escaped (they
can be model output) and long ones are shortened, the full text kept in a tooltip. The SVG has no
namespace attribute: the HTML parser puts inline <svg> in the right namespace by itself.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

CHAR_PX = 7.4  # average width of a 13px label character, for shortening labels


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _shorten(text: str, width_px: float) -> str:
    limit = max(4, int(width_px / CHAR_PX))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(width: int, height: int, label: str, css: str = "chart") -> str:
    return (f'<svg class="{css}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" style="max-width:{width}px" role="img" '
            f'aria-label="{_e(label)}">')


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # printed after the bar (count, share, ...)
    tone: str = "accent"  # accent, ok, bad, warn, muted, alt
    title: str = ""  # tooltip; defaults to "label: text"


def bars(rows: Sequence[Bar], *, label: str, scale_max: float | None = None,
         width: int = 760, label_width: int = 200, text_width: int = 150,
         row_height: int = 26) -> str:
    """One horizontal bar per row, scaled to `scale_max` (default: the largest value)."""
    if not rows:
        return ""
    top = scale_max if scale_max is not None else max(r.value for r in rows)
    area = width - label_width - text_width
    height = row_height * len(rows) + 6
    parts = [_open(width, height, label, "chart bars")]
    for i, row in enumerate(rows):
        y = 3 + i * row_height
        mid = y + row_height / 2
        length = 0.0 if top <= 0 else max(0.0, min(1.0, row.value / top)) * area
        if row.value > 0:
            length = max(length, 2.0)
        tip = row.title or f"{row.label}: {row.text}"
        parts.append(
            f'<g><title>{_e(tip)}</title>'
            f'<text class="lbl" x="{label_width - 10}" y="{mid:.1f}" text-anchor="end" '
            f'dominant-baseline="central">{_e(_shorten(row.label, label_width - 14))}</text>'
            f'<rect class="track" x="{label_width}" y="{y + 4}" width="{area}" '
            f'height="{row_height - 8}" rx="3"/>'
            f'<rect class="bar tone-{_e(row.tone)}" x="{label_width}" y="{y + 4}" '
            f'width="{length:.1f}" height="{row_height - 8}" rx="3"/>'
            f'<text class="val" x="{label_width + length + 8:.1f}" y="{mid:.1f}" '
            f'dominant-baseline="central">{_e(row.text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _ticks(top: int) -> list[int]:
    """Round y-axis values from 0 up to the first one at or above `top`, at most five steps."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * 5 >= top:
                return [i * step for i in range(-(-top // step) + 1)]
        magnitude *= 10


def histogram(edges: Sequence[int], counts: Sequence[int], overflow: int, *, unit: str,
              label: str, width: int = 760, height: int = 230) -> str:
    """Vertical bars for the bins [edges[i], edges[i+1]) plus an open-ended last bin."""
    values = [*counts, overflow] if overflow else list(counts)
    if not values:
        return ""
    left, right, top_pad, bottom = 52, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    ticks = _ticks(max(max(values), 1))
    top = max(ticks[-1], 1)
    slot = plot_w / len(values)
    parts = [_open(width, height, label, "chart hist")]
    for tick in ticks:
        y = top_pad + plot_h - tick / top * plot_h
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{left - 8}" y="{y:.1f}" '
                     f'text-anchor="end" dominant-baseline="central">{tick:,}</text>')
    every = max(1, round(len(edges) / 8))
    for i, value in enumerate(values):
        x = left + i * slot
        h = value / top * plot_h
        is_over = i >= len(counts)
        last = edges[min(i + 1, len(edges) - 1)] - 1
        span = (f"≥ {edges[-1]:,}" if is_over else
                f"{edges[i]:,}" if last == edges[i] else f"{edges[i]:,}–{last:,}")
        tone = "muted" if is_over else "accent"
        parts.append(f'<g><title>{_e(f"{span} {unit}: {value:,}")}</title>'
                     f'<rect class="bar tone-{tone}" x="{x + 1:.1f}" '
                     f'y="{top_pad + plot_h - h:.1f}" width="{max(slot - 2, 1):.1f}" '
                     f'height="{h:.1f}"/></g>')
    more_x = left + (len(values) - 0.5) * slot
    for i in range(0, len(edges), every):
        x = left + i * slot
        if overflow and abs(x - more_x) < 28:
            continue  # it would run into the "more" label ("41more")
        parts.append(f'<text class="tick" x="{x:.1f}" y="{top_pad + plot_h + 16}" '
                     f'text-anchor="middle">{edges[i]:,}</text>')
    if overflow:
        parts.append(f'<text class="tick" x="{more_x:.1f}" y="{top_pad + plot_h + 16}" '
                     f'text-anchor="middle">more</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" '
                 f'y2="{top_pad + plot_h}"/><text class="tick" x="{left + plot_w / 2:.1f}" '
                 f'y="{height - 4}" text-anchor="middle">{_e(unit)}</text></svg>')
    return "".join(parts)
