"""Tiny helpers for writing SVG by hand: escaping, compact numbers, scales, colours.

Hand-written SVG keeps the report a single dependency-free file; these helpers keep the
markup small (one decimal place is plenty on screen) and every string escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

STATUS_COLOUR = {"ok": "#3f8f5f", "fail": "#d9822b", "info": "#8b8fa6"}
TERM_PALETTE = ("#2b6cb0", "#b83280", "#2c7a7b", "#6b46c1", "#c05621", "#2f855a", "#9b2c2c", "#4a5568")
MSG_PALETTE = ("#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#c53030", "#2c7a7b", "#b83280", "#4a5568",
               "#744210", "#285e61")


def esc(s: object) -> str:
    """Escape any value for HTML text or a double-quoted attribute."""
    return html.escape(str(s), quote=True)


def num(x: float) -> str:
    """A compact coordinate: integers without a point, else one decimal."""
    r = round(x, 1)
    if r == int(r):
        return str(int(r))
    return f"{r:.1f}"


def term_colour(term: int | None) -> str:
    if term is None:
        return TERM_PALETTE[-1]
    return TERM_PALETTE[term % (len(TERM_PALETTE) - 1)]


class Scale:
    """A linear map from a data interval onto a pixel interval."""

    def __init__(self, d0: float, d1: float, r0: float, r1: float) -> None:
        if d1 <= d0:
            d1 = d0 + 1.0
        self.d0, self.d1, self.r0, self.r1 = d0, d1, r0, r1
        self.k = (r1 - r0) / (d1 - d0)

    def __call__(self, v: float) -> float:
        return self.r0 + (v - self.d0) * self.k

    def clamp(self, v: float) -> float:
        lo, hi = min(self.r0, self.r1), max(self.r0, self.r1)
        return min(max(self(v), lo), hi)


def nice_step(span: float, target: int = 8) -> float:
    """A round tick step (1, 2, 5 x 10^k) giving about ``target`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def ticks(d0: float, d1: float, target: int = 8) -> list[float]:
    step = nice_step(d1 - d0, target)
    first = (d0 // step) * step
    if first < d0:
        first += step
    out: list[float] = []
    v = first
    while v <= d1 + 1e-9 and len(out) < 200:
        out.append(round(v, 6))
        v += step
    return out


def fmt_ms(v: float) -> str:
    """Axis labels: ``250 ms`` or ``12.5 s``."""
    if abs(v) >= 10_000:
        return f"{v / 1000:g} s"
    return f"{v:g} ms"


def time_axis(scale: Scale, y: float, height: float, target: int = 10, cls: str = "axis",
              label_y: float | None = None) -> str:
    """Vertical grid lines with labels along the top, for a horizontal time scale."""
    parts = [f'<g class="{cls}">']
    ly = num(y - 4 if label_y is None else label_y)
    for v in ticks(scale.d0, scale.d1, target):
        x = num(scale(v))
        parts.append(f'<line x1="{x}" x2="{x}" y1="{num(y)}" y2="{num(y + height)}"/>'
                     f'<text x="{x}" y="{ly}">{esc(fmt_ms(v))}</text>')
    parts.append("</g>")
    return "".join(parts)


def hatch_defs() -> str:
    """Patterns shared by every SVG in the page (ids are global in an HTML document)."""
    return (
        '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
        '<pattern id="hatch-info" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#d9dbe5"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#8b8fa6" stroke-width="3"/></pattern>'
        '<pattern id="hatch-down" width="5" height="5" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="5" stroke="#c53030" '
        'stroke-width="1.5"/></pattern>'
        '<marker id="arrow" viewBox="0 0 8 8" refX="7.5" refY="4" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="context-stroke"/></marker>'
        "</defs></svg>"
    )


def join(parts: Iterable[str]) -> str:
    return "".join(parts)
