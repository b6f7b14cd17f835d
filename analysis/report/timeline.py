"""The timeline: what every client did and what every node was, on one time axis.

One lane per node shows its role (a coloured segment per term it led, so "who was leader
when" is visible at a glance, plus crash and pause marks); one lane per client process
shows its operations as bars from invocation to completion.  Fault windows are
translucent bands across every lane, so a learner sees which operations ran while the
network was split.  The same function draws the whole-run overview and the close-up
around the counterexample; only the time range and the set of drawn operations differ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analysis.report.data import Op, RunData, describe_op, leader_segments, node_roles, outages
from analysis.report.svg import STATUS_COLOUR, Scale, esc, fmt_ms, num, term_colour, time_axis

WIDTH = 1240
LEFT = 96
RIGHT = 16
STATUS_WORD = {"ok": "ok", "fail": "failed", "info": "unknown outcome"}


@dataclass
class TimelineSpec:
    """What one timeline draws."""

    lo: float
    hi: float
    ops: list[Op]
    """Operations drawn as bars."""
    density: list[Op] = field(default_factory=list)
    """Operations summarised as per-lane density (too many to draw one by one)."""
    roles: dict[int, str] = field(default_factory=dict)
    """Op id -> blocker/concurrent/preceding, for highlighting."""
    texts: dict[int, str] = field(default_factory=dict)
    id_prefix: str = ""
    lane_h: float = 16.0
    label_ops: bool = False
    dim_key: str | None = None
    """In the close-up, ops on other keys than the counterexample's are dimmed."""
    bracket: tuple[float, float] | None = None
    markers: list[tuple[float, str]] = field(default_factory=list)
    title: str = "timeline"
    letters: dict[int, str] = field(default_factory=dict)
    """Op id -> a letter shown on the bar and in the evidence table (close-up only)."""
    label_space: float = 0.0
    """Pixels above each bar reserved for labels (close-up only)."""
    divergence: tuple[float, str] | None = None
    """A counterfactual's first divergence: where this run parted from the first run."""


def _fault_rows(data: RunData, x: Scale) -> list[tuple[dict[str, Any], int]]:
    """Place fault labels in rows so they do not overlap."""
    rows_end: list[float] = []
    out = []
    for w in data.windows:
        if w["end"] < x.d0 or w["start"] > x.d1:
            continue
        x0 = x.clamp(float(w["start"]))
        label_w = 6.2 * min(len(str(w["description"])), 60) + 8
        row = next((i for i, e in enumerate(rows_end) if e < x0), None)
        if row is None:
            row = len(rows_end)
            rows_end.append(0.0)
        rows_end[row] = x0 + label_w
        out.append((w, row))
    return out


def _lane_label(p: int | str) -> str:
    return f"p{p}" if isinstance(p, int) else str(p)


def render(data: RunData, spec: TimelineSpec, processes: Iterable[int | str]) -> str:
    """One timeline SVG (a string), ``spec.lo``..``spec.hi`` across the width."""
    x = Scale(spec.lo, spec.hi, LEFT, WIDTH - RIGHT)
    procs = list(processes)
    nodes = data.nodes
    fault_rows = _fault_rows(data, x)
    n_rows = max((r for _, r in fault_rows), default=-1) + 1
    top = 24 + 15 * min(n_rows, 6)
    node_h = 16.0
    nodes_y = top + 6
    clients_y = nodes_y + node_h * len(nodes) + (14 if nodes else 0)
    lane_h = spec.lane_h
    height = clients_y + lane_h * len(procs) + 10
    parts: list[str] = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {num(height)}" width="{WIDTH}" '
        f'height="{num(height)}" role="img" aria-label="{esc(spec.title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    plot_h = height - top - 4
    parts.append(time_axis(x, top, plot_h, label_y=14))
    # fault bands
    for w, row in fault_rows:
        x0, x1 = x.clamp(float(w["start"])), x.clamp(float(w["end"]))
        desc = str(w["description"])
        ly = 20 + 15 * min(row, 5)
        label = desc if len(desc) <= 60 else desc[:59] + "…"
        parts.append(
            f'<g class="fault-band" data-fault="{esc(w.get("id"))}"><title>{esc(desc)} '
            f'({w["start"]}–{w["end"]} ms)</title>'
            f'<rect x="{num(x0)}" y="{num(top)}" width="{num(max(x1 - x0, 1.5))}" height="{num(plot_h)}"/>'
            f'<text x="{num(x0 + 3)}" y="{num(ly + 12)}">{esc(label)}</text></g>'
        )
    # node lanes
    if nodes:
        segs = leader_segments(data)
        outs = outages(data)
        roles = node_roles(data)
        parts.append('<g class="nodes">')
        for i, node in enumerate(nodes):
            y = nodes_y + i * node_h
            lane_label = f"{node} {roles[node]}" if node in roles else node
            parts.append(f'<text class="lane-label" x="{LEFT - 8}" y="{num(y + 12)}">{esc(lane_label)}</text>'
                         f'<line class="lane-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{num(y + 8)}" '
                         f'y2="{num(y + 8)}"/>')
            for t0, t1, role, term in segs.get(node, []):
                if t1 < spec.lo or t0 > spec.hi:
                    continue
                a, b = x.clamp(t0), x.clamp(t1)
                wdt = max(b - a, 1.0)
                tip = f"{node} {role} in term {term} from {t0:g} to {t1:g} ms"
                if role == "leader":
                    col = term_colour(term)
                    label = f"T{term}" if term is not None else "leader"
                    txt = (f'<text x="{num(a + 3)}" y="{num(y + 12)}">{esc(label)}</text>'
                           if wdt > 8 * len(label) else "")
                    parts.append(f'<g class="role leader"><title>{esc(tip)}</title><rect x="{num(a)}" '
                                 f'y="{num(y + 1)}" width="{num(wdt)}" height="14" fill="{col}"/>{txt}</g>')
                elif role in ("candidate", "pre-candidate", "precandidate"):
                    parts.append(f'<rect class="role candidate" x="{num(a)}" y="{num(y + 5)}" '
                                 f'width="{num(wdt)}" height="6"><title>{esc(tip)}</title></rect>')
            for t0, t1, what in outs.get(node, []):
                if t1 < spec.lo or t0 > spec.hi:
                    continue
                a, b = x.clamp(t0), x.clamp(t1)
                tip = f"{node} {'crashed' if what == 'crash' else 'paused'} from {t0:g} to {t1:g} ms"
                parts.append(f'<g class="outage {what}"><title>{esc(tip)}</title><rect x="{num(a)}" '
                             f'y="{num(y + 1)}" width="{num(max(b - a, 2))}" height="14"/>'
                             f'<text x="{num(a + 2)}" y="{num(y + 12)}">{"✗" if what == "crash" else "⏸"}'
                             f"</text></g>")
        parts.append("</g>")
    # client lanes
    lane_of = {p: i for i, p in enumerate(procs)}
    parts.append('<g class="clients">')
    for i, p in enumerate(procs):
        y = clients_y + i * lane_h
        if lane_h >= 9:
            parts.append(f'<text class="lane-label" x="{LEFT - 8}" y="{num(y + lane_h * 0.72)}">'
                         f"{esc(_lane_label(p))}</text>")
        if i % 2 == 0:
            parts.append(f'<rect class="lane-bg" x="{LEFT}" y="{num(y)}" width="{WIDTH - LEFT - RIGHT}" '
                         f'height="{num(lane_h)}"/>')
    if lane_h < 9 and procs:
        mid = clients_y + lane_h * len(procs) / 2
        parts.append(f'<text class="lane-label" x="{LEFT - 8}" y="{num(mid)}">{len(procs)} clients</text>')
    if spec.density:
        parts.append(_density(spec, x, lane_of, clients_y, lane_h))
    for o in sorted(spec.ops, key=lambda o: (o.id in spec.roles, o.start)):
        lane = lane_of.get(o.process)
        if lane is None:
            continue
        y = clients_y + lane * lane_h
        parts.append(_bar(o, spec, x, y, lane_h))
    parts.append("</g>")
    if spec.label_ops:
        parts.append(_labels(spec, x, lane_of, clients_y, lane_h))
    last_label = -1e9
    for t, label in sorted(spec.markers):
        if spec.lo <= t <= spec.hi:
            px = x(t)
            mx = num(px)
            head = label.split(":", 1)[0][:40]
            # markers closer than a label's width share the first one's label
            text = f"⚠ {head}" if px - last_label > 8 * len(head) + 30 else ""
            if text:
                last_label = px
            parts.append(f'<g class="marker"><title>{esc(label)}</title><line x1="{mx}" x2="{mx}" '
                         f'y1="{num(top)}" y2="{num(height - 4)}"/><text x="{num(px + 3)}" y="{num(top + 10)}">'
                         f"{esc(text)}</text></g>")
    if spec.divergence is not None and spec.lo <= spec.divergence[0] <= spec.hi:
        px = x(spec.divergence[0])
        parts.append(f'<g class="divergence" id="divergence-marker"><title>{esc(spec.divergence[1])}</title>'
                     f'<line x1="{num(px)}" x2="{num(px)}" y1="{num(top - 14)}" y2="{num(height - 4)}"/>'
                     f'<text x="{num(px + 4)}" y="{num(top - 4)}">first divergence</text></g>')
    if spec.bracket is not None:
        a, b = x.clamp(spec.bracket[0]), x.clamp(spec.bracket[1])
        parts.append(f'<g class="bracket"><rect x="{num(a - 2)}" y="{num(top)}" width="{num(b - a + 4)}" '
                     f'height="{num(plot_h)}"/><text x="{num(b + 5)}" y="{num(height - 8)}">close-up below'
                     f"</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _labels(spec: TimelineSpec, x: Scale, lane_of: dict[int | str, int], y0: float, lane_h: float) -> str:
    """Letter badges and, where there is room, text above the counterexample's operations.

    A label never runs into the next badge in its lane: it is shortened, or left out (the
    letter still links the bar to its row in the evidence table).
    """
    by_lane: dict[int, list[Op]] = {}
    for o in spec.ops:
        lane = lane_of.get(o.process)
        if o.id in spec.roles and lane is not None:
            by_lane.setdefault(lane, []).append(o)
    out = ['<g class="labels">']
    for lane, ops in sorted(by_lane.items()):
        ops.sort(key=lambda o: o.start)
        y = y0 + lane * lane_h + spec.label_space - 2
        for n, o in enumerate(ops):
            role = spec.roles[o.id]
            a = x.clamp(o.start)
            limit = x.clamp(ops[n + 1].start) - 4 if n + 1 < len(ops) else x.r1 + 40
            letter = spec.letters.get(o.id, "")
            lx = a
            if letter:
                out.append(f'<g class="letter hl-{role}"><circle cx="{num(a + 6)}" cy="{num(y - 6)}" r="6.5"/>'
                           f'<text x="{num(a + 6)}" y="{num(y - 2.5)}">{esc(letter)}</text></g>')
                lx = a + 15
            text = describe_op(o, spec.texts)
            room = int((limit - lx) / 6.2)
            if room < len(text):
                text = text[: room - 1] + "…" if room >= 7 else ""
            if text:
                out.append(f'<text class="op-label hl-{role}" x="{num(lx)}" y="{num(y - 2)}">{esc(text)}</text>')
    out.append("</g>")
    return "".join(out)


def _bar(o: Op, spec: TimelineSpec, x: Scale, y: float, lane_h: float) -> str:
    role = spec.roles.get(o.id)
    cls = ["op", o.status]
    if role:
        cls.append(f"hl-{role}")
    if spec.dim_key is not None and o.key != spec.dim_key and not role:
        cls.append("dim")
    text = describe_op(o, spec.texts)
    end = o.end if o.end is not None else spec.hi
    a = x.clamp(o.start)
    b = x.clamp(end)
    w = max(b - a, 1.5)
    pad = 2 if lane_h >= 8 else 0.5
    h = max(lane_h - 2 * pad - spec.label_space, 1)
    y += spec.label_space
    when = f"{o.start:g}–{o.end:g} ms" if o.end is not None else f"from {o.start:g} ms, never completed"
    tip = f"op {o.id}, process {o.process}: {text} ({STATUS_WORD.get(o.status, o.status)}, {when})"
    if role:
        tip += " — in the isolation cycle" if role == "cycle" else f" — {role} in the counterexample"
    idattr = f' id="{spec.id_prefix}op-{o.id}"'
    fill = "url(#hatch-info)" if o.status == "info" else STATUS_COLOUR.get(o.status, "#999")
    out = [f'<g class="{" ".join(cls)}" data-op="{o.id}"{idattr}><title>{esc(tip)}</title>'
           f'<rect x="{num(a)}" y="{num(y + pad)}" width="{num(w)}" height="{num(h)}" fill="{fill}"/>']
    if o.status == "info":
        # an unknown outcome may take effect at any moment after the invocation
        tail_end = x.clamp(spec.hi)
        if tail_end > b:
            ty = num(y + pad + h / 2)
            out.append(f'<line class="info-tail" x1="{num(b)}" x2="{num(tail_end)}" y1="{ty}" y2="{ty}"/>')
    if spec.label_ops and not role and w > len(text) * 5.6 + 6 and h >= 11:
        out.append(f'<text class="op-text" x="{num(a + 3)}" y="{num(y + pad + h * 0.75)}">{esc(text)}</text>')
    out.append("</g>")
    return "".join(out)


def _density(spec: TimelineSpec, x: Scale, lane_of: dict[int | str, int], y0: float, lane_h: float) -> str:
    """Per lane, per time bucket: how many undrawn operations ran, as opacity."""
    n_lanes = max(len(lane_of), 1)
    buckets = max(20, min(240, 9000 // n_lanes))
    width = (x.d1 - x.d0) / buckets
    cells: dict[tuple[int, int], Counter[str]] = {}
    for o in spec.density:
        lane = lane_of.get(o.process)
        if lane is None:
            continue
        b = int((o.start - x.d0) / width)
        if 0 <= b < buckets:
            cell = cells.get((lane, b))
            if cell is None:
                cell = cells[(lane, b)] = Counter()
            cell[o.status] += 1
    if not cells:
        return ""
    peak = max(sum(c.values()) for c in cells.values())
    parts = ['<g class="density">']
    px = (x.r1 - x.r0) / buckets
    for (lane, b), c in sorted(cells.items()):
        n = sum(c.values())
        bad = c["fail"] + c["info"]
        colour = STATUS_COLOUR["fail"] if bad / n > 0.2 else STATUS_COLOUR["ok"]
        op = 0.2 + 0.8 * n / peak
        t0 = x.d0 + b * width
        tip = (f"{n} operations invoked {fmt_ms(round(t0))}–{fmt_ms(round(t0 + width))}: {c['ok']} ok, "
               f"{c['fail']} failed, {c['info']} unknown")
        parts.append(f'<rect x="{num(x.r0 + b * px)}" y="{num(y0 + lane * lane_h + 1)}" '
                     f'width="{num(px)}" height="{num(max(lane_h - 2, 1))}" fill="{colour}" '
                     f'fill-opacity="{op:.2f}"><title>{esc(tip)}</title></rect>')
    parts.append("</g>")
    return "".join(parts)
