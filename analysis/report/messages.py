"""The message diagram: who told whom what, in the moments that matter.

A Lamport (sequence) diagram with one vertical lifeline per client and node and time
running down the page.  Each delivered message is an arrow from the moment it was sent
to the moment it arrived; a dropped message ends in a cross.  Only a short window is
drawn -- around the counterexample, else around an invariant violation, else around the
first fault -- because a whole run has tens of thousands of messages and the point is to
let a learner follow one conversation (the stale read, the vote that should not have
been granted), not to draw a hairball.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Any

from analysis.report.data import Op, RunData, describe_op, natural_key
from analysis.report.svg import (
    MSG_PALETTE,
    STATUS_COLOUR,
    esc,
    fmt_ms,
    num,
    term_colour,
    ticks,
)

MAX_MESSAGES = 400
HALF_WINDOW_MS = 300.0


@dataclass(frozen=True)
class Arrow:
    src: str
    dst: str
    kind: str  # deliver | drop
    msg: str
    t0: float
    t1: float
    info: str
    dup: bool = False


class GapScale:
    """Time -> y for a sequence diagram: proportional locally, quiet stretches compressed.

    Messages come in bursts (an election, a client retry storm) separated by quiet
    milliseconds; a linear axis would draw the bursts as unreadable smudges between empty
    pages.  Each gap between consecutive events gets ``PX_PER_MS`` pixels per millisecond
    (at least ``MIN_STEP_PX``, at most ``MAX_GAP_PX``); longer gaps are compressed and listed in :attr:`gaps` so the
    diagram can say so.  The whole is scaled to fit ``MAX_HEIGHT`` pixels.
    """

    PX_PER_MS = 7.0
    MIN_STEP_PX = 8.0
    """Distinct moments are at least this far apart: in a burst, order matters more than duration."""
    MAX_GAP_PX = 30.0
    MAX_HEIGHT = 2400.0
    MIN_HEIGHT = 360.0

    def __init__(self, times: list[float], top: float) -> None:
        ts = sorted(set(times))
        if len(ts) < 2:
            ts = [ts[0] if ts else 0.0, (ts[0] if ts else 0.0) + 1.0]
        dys = [min(max((b - a) * self.PX_PER_MS, self.MIN_STEP_PX), self.MAX_GAP_PX)
               for a, b in zip(ts, ts[1:], strict=False)]
        natural = sum(dys)
        k = 1.0
        if natural > self.MAX_HEIGHT:
            k = self.MAX_HEIGHT / natural
        elif natural < self.MIN_HEIGHT and natural > 0:
            k = self.MIN_HEIGHT / natural
        self.ts = ts
        self.ys = [top]
        self.gaps: list[tuple[float, float, float, float]] = []
        for (a, b), dy in zip(zip(ts, ts[1:], strict=False), dys, strict=False):
            y0 = self.ys[-1]
            self.ys.append(y0 + dy * k)
            if (b - a) * self.PX_PER_MS > self.MAX_GAP_PX * 1.5 and b - a >= 10:
                self.gaps.append((a, b, y0, y0 + dy * k))
        self.bottom = self.ys[-1]

    def __call__(self, t: float) -> float:
        ts, ys = self.ts, self.ys
        if t <= ts[0]:
            return ys[0]
        if t >= ts[-1]:
            return ys[-1]
        i = bisect_right(ts, t) - 1
        a, b = ts[i], ts[i + 1]
        return ys[i] + (ys[i + 1] - ys[i]) * (t - a) / (b - a)

    def clamp(self, t: float) -> float:
        return self(t)


def msg_type(r: dict[str, Any]) -> str:
    for k in ("msg", "type", "message"):
        v = r.get(k)
        if isinstance(v, str) and v:
            return v
    return "message"


def abbreviations(types: list[str]) -> dict[str, str]:
    """Short arrow labels (``AppendEntries`` -> ``AE``), unique within the diagram."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for t in sorted(types):
        words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", t) or [t]
        ab = "".join(w[0].upper() for w in words)
        if ab in used:
            ab = "".join(w[0].upper() for w in words[:-1]) + words[-1][:3].capitalize()
        n = 2
        base = ab
        while ab in used:
            ab = f"{base}{n}"
            n += 1
        used.add(ab)
        out[t] = ab
    return out


def _summary(r: dict[str, Any]) -> str:
    skip = {"t", "kind", "src", "dst", "mid", "msg", "type"}
    return ", ".join(f"{k}={r[k]}" for k in sorted(r) if k not in skip)[:160]


def collect(detail: list[dict[str, Any]], center: float, lo: float, hi: float,
            cap: int = MAX_MESSAGES, nodes: set[str] | None = None) -> tuple[list[Arrow], float, float, int]:
    """Arrows for messages arriving (or dropped) in ``[lo, hi]``, at most ``cap`` nearest ``center``.

    With ``nodes`` given (an invariant violation is about the protocol, not the clients),
    messages between those nodes are kept before client traffic.  Returns the arrows, the
    window actually drawn and how many messages the window held.
    """
    sends: dict[Any, float] = {}
    for r in detail:
        if r.get("kind") == "send" and "mid" in r:
            sends.setdefault(r["mid"], float(r.get("t", 0)))
    delivered: Counter[Any] = Counter()
    arrows: list[Arrow] = []
    for r in detail:
        kind = r.get("kind")
        if kind not in ("deliver", "drop"):
            continue
        t = float(r.get("t", 0))
        if not lo <= t <= hi:
            continue
        src, dst = r.get("src"), r.get("dst")
        if not isinstance(src, str) or not isinstance(dst, str):
            continue
        sent = r.get("sent")
        t0 = float(sent) if isinstance(sent, int | float) else sends.get(r.get("mid"), t)
        t0 = min(t0, t)
        dup = False
        if kind == "deliver":
            delivered[r.get("mid")] += 1
            dup = r.get("mid") is not None and delivered[r.get("mid")] > 1
        arrows.append(Arrow(src, dst, str(kind), msg_type(r), t0, t, _summary(r), dup))
    if nodes:  # the protocol's story: client chatter only right at the focus, and not much of it
        proto = [a for a in arrows if a.src in nodes and a.dst in nodes]
        chatter = sorted((a for a in arrows if not (a.src in nodes and a.dst in nodes)
                          and abs(a.t1 - center) <= 30), key=lambda a: abs(a.t1 - center))
        arrows = proto + chatter[: cap // 4]
    total = len(arrows)
    if len(arrows) > cap:
        if nodes:
            arrows.sort(key=lambda a: (not (a.src in nodes and a.dst in nodes), abs(a.t1 - center)))
        else:
            arrows.sort(key=lambda a: abs(a.t1 - center))
        arrows = arrows[:cap]
    arrows.sort(key=lambda a: (a.t1, a.t0))
    if arrows and total > cap:  # the window shrinks to what is drawn
        lo = min(a.t1 for a in arrows)
        hi = max(a.t1 for a in arrows)
    return arrows, lo, hi, total


def render(data: RunData, detail: list[dict[str, Any]], center: float, reason: str,
           ops: list[Op], roles: dict[int, str], texts: dict[int, str],
           clients: dict[str, str], span: tuple[float, float] | None = None,
           protocol_first: bool = False) -> tuple[str, str]:
    """The diagram SVG and a sentence describing what it shows."""
    lo = center - HALF_WINDOW_MS
    hi = center + HALF_WINDOW_MS
    if span is not None:
        lo, hi = min(lo, span[0] - 50), max(hi, span[1] + 50)
    arrows, lo, hi, total = collect(detail, center, lo, hi,
                                    nodes=set(data.nodes) if protocol_first else None)
    if not arrows:
        return "", (f"No messages were recorded around {fmt_ms(round(center))} ({reason}); the trace may "
                    "have been written without wire records.")
    # draw just the time the chosen messages cover (and the blocked operation, if any)
    lo = max(0.0, min(a.t0 for a in arrows) - 5)
    hi = max(a.t1 for a in arrows) + 5
    if span is not None:
        lo, hi = min(lo, span[0]), max(hi, span[1])
    participants: set[str] = {a.src for a in arrows} | {a.dst for a in arrows}
    nodes = [n for n in data.nodes]
    node_set = set(nodes)
    proc_of_client = {c: p for p, c in clients.items()}
    win_ops = [o for o in ops if o.start <= hi and (o.end if o.end is not None else hi) >= lo]
    for o in win_ops:
        participants.add(clients.get(str(o.process), f"c{o.process}"))
    client_lines = sorted((p for p in participants if p not in node_set), key=natural_key)
    lines = client_lines + nodes + sorted((p for p in participants if p not in node_set and p not in client_lines),
                                          key=natural_key)
    col_w = 104.0 if len(lines) <= 12 else max(56.0, 1240 / len(lines))
    left = 70.0
    width = left + col_w * len(lines) + 20
    top = 46.0
    knots = [lo, hi] + [a.t0 for a in arrows] + [a.t1 for a in arrows] + [
        float(r.get("t", 0)) for r in data.trace
        if r.get("kind") in ("role", "crash", "pause", "restart", "resume") and lo <= float(r.get("t", 0)) <= hi]
    y = GapScale(knots, top)
    height_px = y.bottom - top
    height = top + height_px + 40
    xs = {p: left + col_w * (i + 0.5) for i, p in enumerate(lines)}
    types = sorted({a.msg for a in arrows})
    ab = abbreviations(types)
    colour = {t: MSG_PALETTE[i % len(MSG_PALETTE)] for i, t in enumerate(types)}
    parts = [f'<svg id="msg-diagram" class="zoomable msgs" viewBox="0 0 {num(width)} {num(height)}" '
             f'width="{num(width)}" height="{num(height)}" data-w="{num(width)}" data-h="{num(height)}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="message sequence diagram">']
    # time axis and fault bands
    parts.append('<g class="axis">')
    last_label = -1e9
    for v in ticks(lo, hi, 24):
        yv = y(v)
        if yv - last_label < 16:  # compressed stretches would stack their labels
            continue
        last_label = yv
        yy = num(yv)
        parts.append(f'<line x1="{num(left)}" x2="{num(width - 20)}" y1="{yy}" y2="{yy}"/>'
                     f'<text class="ylab" x="{num(left - 6)}" y="{yy}">{esc(fmt_ms(v))}</text>')
    parts.append("</g>")
    for g0, g1, ya, yb in y.gaps:
        gy = num((ya + yb) / 2)
        parts.append(f'<g class="gap"><line x1="{num(left - 40)}" x2="{num(width - 20)}" y1="{gy}" y2="{gy}"/>'
                     f'<text x="{num(width - 22)}" y="{num((ya + yb) / 2 - 2)}">≈ {g1 - g0:,.0f} ms with no '
                     f"message, compressed</text></g>")
    for w in data.windows:
        if w["end"] < lo or w["start"] > hi:
            continue
        ya, yb = y.clamp(float(w["start"])), y.clamp(float(w["end"]))
        parts.append(f'<g class="fault-band"><title>{esc(w["description"])} ({w["start"]}–{w["end"]} ms)'
                     f'</title><rect x="{num(left)}" y="{num(ya)}" width="{num(width - left - 20)}" '
                     f'height="{num(max(yb - ya, 1.5))}"/><text x="{num(width - 24)}" y="{num(ya + 12)}" '
                     f'text-anchor="end">{esc(str(w["description"])[:70])}</text></g>')
    # lifelines
    for p in lines:
        lx = num(xs[p])
        cls = "node" if p in node_set else "client"
        label = p
        if p in proc_of_client:
            label = f"{p} (p{proc_of_client[p]})"
        parts.append(f'<g class="lifeline {cls}"><line x1="{lx}" x2="{lx}" y1="{num(top - 6)}" '
                     f'y2="{num(top + height_px + 6)}"/><text x="{lx}" y="{num(top - 14)}">{esc(label)}</text>'
                     f'<text x="{lx}" y="{num(top + height_px + 24)}">{esc(label)}</text></g>')
    # node states: outages and role changes
    for r in data.trace:
        t = float(r.get("t", 0))
        node = r.get("node")
        if node not in xs or not lo <= t <= hi:
            continue
        xx = xs[str(node)]
        kind = r.get("kind")
        if kind == "role":
            role = str(r.get("role"))
            term = r.get("term")
            col = term_colour(term if isinstance(term, int) else None) if role == "leader" else "#718096"
            txt = f"{role} T{term}"
            parts.append(f'<g class="state-mark"><title>{esc(node)} became {esc(role)} in term {esc(term)} at '
                         f'{t:g} ms</title><rect x="{num(xx - 30)}" y="{num(y(t) - 7)}" width="60" height="13" '
                         f'rx="6" fill="{col}"/><text x="{num(xx)}" y="{num(y(t) + 3)}">{esc(txt[:14])}</text></g>')
        elif kind in ("crash", "pause", "restart", "resume"):
            sym = {"crash": "✗ crash", "pause": "⏸ pause", "restart": "↺ restart", "resume": "▶ resume"}[str(kind)]
            parts.append(f'<text class="life-event {esc(kind)}" x="{num(xx + 5)}" y="{num(y(t) + 4)}">'
                         f"{sym}</text>")
    # client operations as activation boxes
    for o in win_ops:
        c = clients.get(str(o.process), f"c{o.process}")
        if c not in xs:
            continue
        xx = xs[c]
        end = o.end if o.end is not None else hi
        ya, yb = y.clamp(o.start), y.clamp(end)
        op_role = roles.get(o.id)
        cls = f"op {o.status}" + (f" hl-{op_role}" if op_role else "")
        fill = "url(#hatch-info)" if o.status == "info" else STATUS_COLOUR.get(o.status, "#999")
        text = describe_op(o, texts)
        parts.append(f'<g class="{cls}" data-op="{o.id}"><title>op {o.id}: {esc(text)} ({esc(o.status)})</title>'
                     f'<rect x="{num(xx - 4)}" y="{num(ya)}" width="8" height="{num(max(yb - ya, 2))}" '
                     f'fill="{fill}"/>')
        if op_role:
            parts.append(f'<text class="op-label hl-{op_role}" x="{num(xx - 7)}" y="{num(ya + 4)}" '
                         f'text-anchor="end">{esc(text[:34])}</text>')
        parts.append("</g>")
    # arrows
    label_arrows = len(arrows) <= 220
    for ar in arrows:
        if ar.src not in xs or ar.dst not in xs:
            continue
        x0, x1 = xs[ar.src], xs[ar.dst]
        y0, y1 = y(ar.t0), y(ar.t1)
        col = colour[ar.msg]
        tip = f"{ar.msg} {ar.src} → {ar.dst}, sent {ar.t0:g} ms, " + (
            f"delivered {ar.t1:g} ms" if ar.kind == "deliver" else f"dropped {ar.t1:g} ms") + (
            f"; {ar.info}" if ar.info else "") + ("; a duplicate delivery" if ar.dup else "")
        if ar.kind == "drop":
            xm = x0 + (x1 - x0) * 0.55
            ym = y0 + max(y1 - y0, 6) * 0.55
            parts.append(f'<g class="msg drop"><title>{esc(tip)}</title><line x1="{num(x0)}" y1="{num(y0)}" '
                         f'x2="{num(xm)}" y2="{num(ym)}" stroke="{col}"/><text class="x" x="{num(xm)}" '
                         f'y="{num(ym + 4)}">✗</text></g>')
            continue
        dash = ' stroke-dasharray="4 2"' if ar.dup else ""
        label = ""
        if label_arrows:
            mx, my = x0 + (x1 - x0) * 0.5, (y0 + y1) / 2 - 2
            label = f'<text x="{num(mx)}" y="{num(my)}" fill="{col}">{esc(ab[ar.msg])}</text>'
        parts.append(f'<g class="msg"><title>{esc(tip)}</title><line x1="{num(x0)}" y1="{num(y0)}" '
                     f'x2="{num(x1)}" y2="{num(y1)}" stroke="{col}"{dash} marker-end="url(#arrow)"/>'
                     f"{label}</g>")
    parts.append("</svg>")
    counts = Counter(a.msg for a in arrows)
    drops = sum(1 for a in arrows if a.kind == "drop")
    legend = " ".join(
        f'<span class="chip"><i style="background:{colour[t]}"></i><b>{esc(ab[t])}</b> {esc(t)} '
        f"({counts[t]})</span>" for t in types)
    which = "the ones nearest the focus"
    shown = (f"showing {len(arrows):,} of {total:,} messages in this window ({which})"
             if total > len(arrows) else f"{len(arrows):,} messages")
    sentence = (f"Messages between {fmt_ms(round(lo))} and {fmt_ms(round(hi))}, around {esc(reason)}: "
                f"{shown}, {drops} dropped (✗). Time runs down the page; quiet stretches are compressed (see the axis).")
    if protocol_first:
        sentence += (" Messages between nodes are drawn first; client requests and replies only within "
                     "30 ms of the violation.")
    return "".join(parts), sentence + f'<div class="legend">{legend}</div>'
