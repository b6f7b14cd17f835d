"""The smallest cycle as a small standalone SVG: transactions as boxes, edges labelled.

Input is one cycle as :func:`analysis.isolation.story.tell` returns it (the JSON under
``result["anomalies"][type][i]``), so a report can draw any cycle from a saved result
without the history.  Boxes sit on a circle in cycle order, clockwise from the top; each
step is an arrow bent outward, coloured and labelled by its kind (``ww``, ``wr``,
``rw``, ``process``, ``realtime``) and key.  Every box carries ``data-op-id`` (and an
``id`` of ``txn-<op>``) so the HTML report can link it to the timeline; every box and
arrow has a ``<title>`` with its full text for hover.
"""

from __future__ import annotations

import html
import math
from typing import Any

KIND_COLOUR = {
    "ww": "#2b6cb0",
    "wr": "#2f855a",
    "rw": "#c53030",
    "process": "#6b46c1",
    "realtime": "#b7791f",
}
BOX_W = 190
BOX_H = 50
MARGIN = 24
TITLE_H = 30
BEND = 28
MAX_CHARS = 30


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _num(x: float) -> str:
    r = round(x, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def _clip(s: str, n: int = MAX_CHARS) -> str:
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _border(cx: float, cy: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the ray from a box's centre towards (tx, ty) leaves the box."""
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    hw, hh = BOX_W / 2 + 3, BOX_H / 2 + 3
    s = min(hw / abs(dx) if dx else math.inf, hh / abs(dy) if dy else math.inf)
    return cx + dx * s, cy + dy * s


def _label(step: dict[str, Any]) -> str:
    kind = str(step.get("type", ""))
    key = step.get("key")
    if kind in ("ww", "wr", "rw") and key is not None:
        return f"{kind} {key}"
    return kind


def first_cycle(result: dict[str, Any]) -> dict[str, Any] | None:
    """The cycle a checker result's explanation tells first: the smallest cycle of the
    most severe anomaly the consistency model forbids, else of any anomaly found; None
    when the result holds no cycle."""
    types = [*result.get("forbidden_found", []), *result.get("anomaly_types", [])]
    for typ in types:
        for case in result.get("anomalies", {}).get(typ, []):
            if "steps" in case and "txns" in case:
                return case  # type: ignore[no-any-return]
    return None


def render_cycle_svg(cycle: dict[str, Any]) -> str:
    """A standalone SVG document (a string) drawing one cycle."""
    txns: list[dict[str, Any]] = list(cycle.get("txns", []))
    steps: list[dict[str, Any]] = list(cycle.get("steps", []))
    n = len(txns)
    if n == 0:
        raise ValueError("a cycle needs at least one transaction")
    if n == 1:
        radius = 0.0
    elif n == 2:
        radius = BOX_W * 0.75
    else:  # neighbours on the circle must clear a box width, side by side
        radius = (BOX_W + 40) / (2 * math.sin(math.pi / n))
    raw = []
    for i in range(n):
        ang = -math.pi / 2 + 2 * math.pi * i / n if n > 2 else math.pi * (1 - i)
        raw.append((radius * math.cos(ang), radius * math.sin(ang)))
    pad = 2 * BEND + 10  # room for arrows bent outward and their labels
    x0 = min(x for x, _ in raw) - BOX_W / 2 - pad
    y0 = min(y for _, y in raw) - BOX_H / 2 - pad
    width = max(x for x, _ in raw) + BOX_W / 2 + pad - x0 + 2 * MARGIN
    height = max(y for _, y in raw) + BOX_H / 2 + pad - y0 + 2 * MARGIN + TITLE_H
    pos = [(x - x0 + MARGIN, y - y0 + MARGIN + TITLE_H) for x, y in raw]
    kind = str(cycle.get("type", "cycle"))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="isolation-cycle" '
        f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'font-family="system-ui, sans-serif" font-size="12" role="img" '
        f'aria-label="{_esc(kind)} cycle of {n} transactions">',
        "<defs>",
    ]
    for name, colour in KIND_COLOUR.items():
        out.append(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append(
        f'<text x="{_num(MARGIN)}" y="{_num(TITLE_H - 10)}" font-size="14" font-weight="bold">'
        f"{_esc(kind)}: a cycle of {n} transaction{'s' if n != 1 else ''}</text>"
    )
    for i, step in enumerate(steps[:n]):
        (ax, ay), (bx, by) = pos[i], pos[(i + 1) % n]
        colour = KIND_COLOUR.get(str(step.get("type")), "#4a5568")
        marker = step.get("type") if step.get("type") in KIND_COLOUR else "ww"
        if n == 1:
            sx, sy = ax + BOX_W / 2 - 20, ay - BOX_H / 2
            ex, ey = ax + BOX_W / 2, ay - BOX_H / 2 + 16
            qx, qy = ax + BOX_W / 2 + 30, ay - BOX_H / 2 - 30
        else:
            mx, my = (ax + bx) / 2, (ay + by) / 2
            dx, dy = bx - ax, by - ay
            length = math.hypot(dx, dy) or 1.0
            qx, qy = mx + dy / length * BEND * 2, my - dx / length * BEND * 2
            sx, sy = _border(ax, ay, qx, qy)
            ex, ey = _border(bx, by, qx, qy)
        lx, ly = 0.25 * sx + 0.5 * qx + 0.25 * ex, 0.25 * sy + 0.5 * qy + 0.25 * ey
        label = _clip(_label(step), 18)
        lw = 7 * len(label) + 8
        out.append(f'<g class="step step-{_esc(step.get("type"))}">')
        out.append(f"<title>{_esc(step.get('text', ''))}</title>")
        out.append(
            f'<path d="M{_num(sx)},{_num(sy)} Q{_num(qx)},{_num(qy)} {_num(ex)},{_num(ey)}" '
            f'fill="none" stroke="{colour}" stroke-width="2" marker-end="url(#arrow-{marker})"/>'
        )
        out.append(
            f'<rect x="{_num(lx - lw / 2)}" y="{_num(ly - 9)}" width="{_num(lw)}" height="18" '
            f'rx="4" fill="#ffffff" stroke="{colour}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_num(lx)}" y="{_num(ly + 4)}" text-anchor="middle" fill="{colour}">'
            f"{_esc(label)}</text>"
        )
        out.append("</g>")
    for (x, y), t in zip(pos, txns, strict=True):
        op = t.get("id")
        status = t.get("status", "ok")
        fill = "#f7fafc" if status == "ok" else "#fffaf0"
        proc = f" \u00b7 p{t['process']}" if t.get("process") is not None else ""
        out.append(f'<g class="txn" id="txn-{_esc(op)}" data-op-id="{_esc(op)}">')
        out.append(f"<title>{_esc(t.get('name', ''))}: op {_esc(op)}: {_esc(t.get('text', ''))}</title>")
        out.append(
            f'<rect x="{_num(x - BOX_W / 2)}" y="{_num(y - BOX_H / 2)}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="6" fill="{fill}" stroke="#2d3748" stroke-width="1.5"/>'
        )
        out.append(
            f'<text x="{_num(x)}" y="{_num(y - 6)}" text-anchor="middle" font-weight="bold">'
            f"{_esc(t.get('name', ''))} \u00b7 op {_esc(op)}{_esc(proc)}</text>"
        )
        out.append(
            f'<text x="{_num(x)}" y="{_num(y + 12)}" text-anchor="middle" fill="#4a5568">'
            f"{_esc(_clip(str(t.get('text', ''))))}</text>"
        )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
