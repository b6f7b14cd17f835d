"""Small charts: latency and throughput over time, availability per fault window.

They answer "what did the faults do to clients?" -- latency climbs when the leader is cut
off, throughput drops to the failure rate during an election, availability inside each
fault window is lower than outside.  Fault windows are drawn as the same bands as in the
timeline, so the eye links cause and effect.  Big runs are bucketed (percentiles per time
bucket), so a chart never holds more than a few hundred shapes.
"""

from __future__ import annotations

from collections import Counter

from analysis.report.data import Op, RunData, outside_faults_stats, window_stats
from analysis.report.svg import STATUS_COLOUR, Scale, esc, fmt_ms, num, ticks, time_axis

W = 1240
H = 220
LEFT = 96
RIGHT = 16
TOP = 24
SCATTER_MAX = 3000
BUCKETS = 120


def _bands(data: RunData, x: Scale, top: float, h: float) -> str:
    out = []
    for w in data.windows:
        a, b = x.clamp(float(w["start"])), x.clamp(float(w["end"]))
        out.append(f'<rect class="fault-band-rect" x="{num(a)}" y="{num(top)}" width="{num(max(b - a, 1))}" '
                   f'height="{num(h)}"><title>{esc(w["description"])}</title></rect>')
    return "".join(out)


def _y_axis(y: Scale, unit: str) -> str:
    parts = ['<g class="axis yaxis">']
    for v in ticks(y.d0, y.d1, 5):
        yy = num(y(v))
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{yy}" y2="{yy}"/>'
                     f'<text class="ylab" x="{LEFT - 6}" y="{yy}">{v:g}{esc(unit)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def latency(data: RunData) -> tuple[str, str]:
    """Latency of completed operations by invocation time (scatter, or bucketed percentiles)."""
    done = [o for o in data.ops if o.latency is not None and o.status != "info"]
    if not done:
        return "", "No operation completed, so there is no latency to show."
    x = Scale(0, data.end_ms, LEFT, W - RIGHT)
    lats = sorted(o.latency or 0.0 for o in done)
    ymax = max(_percentile(lats, 0.995) * 1.1, 1.0)
    y = Scale(0, ymax, TOP + H, TOP)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {TOP + H + 8}" width="{W}" height="{TOP + H + 8}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="latency over time">',
             _bands(data, x, TOP, H), time_axis(x, TOP, H, 10), _y_axis(y, " ms")]
    if len(done) <= SCATTER_MAX:
        for o in done:
            lat = o.latency or 0.0
            cy = y(min(lat, ymax))
            clipped = " clipped" if lat > ymax else ""
            parts.append(f'<circle class="pt {o.status}{clipped}" cx="{num(x(o.start))}" cy="{num(cy)}" r="2" '
                         f'fill="{STATUS_COLOUR.get(o.status, "#999")}" data-op="{o.id}"/>')
        note = (f"Each dot is one completed operation ({len(done):,}); green ok, orange failed. "
                "Dots pinned to the top took longer than the axis shows.")
    else:
        width = data.end_ms / BUCKETS
        buckets: list[list[float]] = [[] for _ in range(BUCKETS)]
        for o in done:
            b = min(BUCKETS - 1, int(o.start / width)) if width > 0 else 0
            buckets[b].append(o.latency or 0.0)
        lines = {"p50": [], "p99": [], "max": []}  # type: dict[str, list[str]]
        for i, vals in enumerate(buckets):
            if not vals:
                continue
            vals.sort()
            cx = num(x((i + 0.5) * width))
            for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
                lines[name].append(f"{cx},{num(y(min(_percentile(vals, q), ymax)))}")
        for name in ("max", "p99", "p50"):
            parts.append(f'<polyline class="lat {name}" points="{" ".join(lines[name])}"/>')
        parts.append(f'<g class="chart-legend"><text x="{LEFT + 8}" y="{TOP + 12}">'
                     '<tspan class="p50">━ median</tspan>  <tspan class="p99">━ 99th percentile</tspan>  '
                     '<tspan class="max">━ slowest</tspan></text></g>')
        note = (f"{len(done):,} completed operations, bucketed into {BUCKETS} time slices of "
                f"{fmt_ms(round(width))}: median, 99th percentile and slowest per slice.")
    parts.append("</svg>")
    return "".join(parts), note


def throughput(data: RunData) -> tuple[str, str]:
    """Completions per second per time slice, stacked ok / failed / unknown."""
    if not data.ops:
        return "", "No operations."
    n_buckets = min(BUCKETS, max(10, int(data.end_ms / 50)))
    width = data.end_ms / n_buckets
    counts: list[Counter[str]] = [Counter() for _ in range(n_buckets)]
    for o in data.ops:
        t = o.end if o.end is not None else o.start
        b = min(n_buckets - 1, max(0, int(t / width)))
        counts[b][o.status] += 1
    per_s = 1000.0 / width
    peak = max((sum(c.values()) for c in counts), default=1) * per_s
    x = Scale(0, data.end_ms, LEFT, W - RIGHT)
    y = Scale(0, max(peak * 1.05, 1.0), TOP + H, TOP)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {TOP + H + 8}" width="{W}" height="{TOP + H + 8}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="throughput over time">',
             _bands(data, x, TOP, H), time_axis(x, TOP, H, 10), _y_axis(y, "/s")]
    bw = max((x.r1 - x.r0) / n_buckets - 1, 1)
    for i, c in enumerate(counts):
        base = 0.0
        x0 = num(x(i * width) + 0.5)
        tip = (f"{fmt_ms(round(i * width))}–{fmt_ms(round((i + 1) * width))}: {c['ok']} ok, {c['fail']} failed, "
               f"{c['info']} unknown")
        seg = []
        for status in ("ok", "fail", "info"):
            v = c[status] * per_s
            if v <= 0:
                continue
            y0, y1 = y(base), y(base + v)
            fill = "url(#hatch-info)" if status == "info" else STATUS_COLOUR[status]
            seg.append(f'<rect x="{x0}" y="{num(y1)}" width="{num(bw)}" height="{num(y0 - y1)}" fill="{fill}"/>')
            base += v
        if seg:
            parts.append(f'<g class="bar"><title>{esc(tip)}</title>{"".join(seg)}</g>')
    parts.append("</svg>")
    note = (f"Operations completed per second, in slices of {fmt_ms(round(width))}: green ok, orange failed, "
            "hatched unknown outcome (timed out).")
    return "".join(parts), note


def availability(data: RunData) -> tuple[str, str]:
    """Share of operations that succeeded, inside each fault window and outside all of them."""
    rows = [(str(s["description"]), f'{s["start"]}–{s["end"]} ms', s) for s in window_stats(data)]
    base = outside_faults_stats(data)
    rows.insert(0, ("no fault active", "baseline", {**base}))
    rows = [r for r in rows if r[2]["ops"] > 0 or r[1] != "baseline"]
    if not rows:
        return "", "No operations."
    bar_w = 560.0
    label_w = 520.0
    row_h = 26
    height = 30 + row_h * len(rows)
    width = label_w + bar_w + 140
    parts = [f'<svg class="chart avail" viewBox="0 0 {num(width)} {height}" width="{num(width)}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="availability">']
    x = Scale(0, 1, label_w, label_w + bar_w)
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        xx = num(x(v))
        parts.append(f'<g class="axis"><line x1="{xx}" x2="{xx}" y1="18" y2="{height - 4}"/>'
                     f'<text x="{xx}" y="14">{int(v * 100)}%</text></g>')
    for i, (desc, when, s) in enumerate(rows):
        y0 = 22 + i * row_h
        n = s["ops"]
        label = desc if len(desc) <= 70 else desc[:69] + "…"
        parts.append(f'<text class="row-label" x="{num(label_w - 10)}" y="{y0 + 15}">{esc(label)} '
                     f'<tspan class="muted">({esc(when)})</tspan></text>')
        if n == 0:
            parts.append(f'<text class="muted" x="{num(label_w + 6)}" y="{y0 + 15}">no operation was invoked '
                         "during this window</text>")
            continue
        acc = 0.0
        for status in ("ok", "fail", "info"):
            share = s[status] / n
            if share <= 0:
                continue
            fill = "url(#hatch-info)" if status == "info" else STATUS_COLOUR[status]
            parts.append(f'<rect x="{num(x(acc))}" y="{y0 + 3}" width="{num(x(acc + share) - x(acc))}" '
                         f'height="17" fill="{fill}"><title>{s[status]} {status} of {n}</title></rect>')
            acc += share
        parts.append(f'<text class="row-value" x="{num(label_w + bar_w + 8)}" y="{y0 + 15}">'
                     f'{100 * s["ok"] / n:.0f}% ok of {n:,}</text>')
    parts.append("</svg>")
    note = ("Share of operations invoked in each window that succeeded (green), failed (orange) or "
            "ended with an unknown outcome (hatched). The first row is the time when no fault was active.")
    return "".join(parts), note


def op_count_by_status(ops: list[Op]) -> Counter[str]:
    return Counter(o.status for o in ops)
