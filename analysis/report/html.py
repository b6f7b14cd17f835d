"""One self-contained HTML report per run: ``render_folder(folder)`` writes ``report.html``.

The file has no external references at all (no scripts, stylesheets or fonts from the
network), so it opens from disk, from a CI artifact or an e-mail attachment, and keeps
working years later.  It is assembled from small parts, each with one job:

* :mod:`.data` reads the folder, pairs the history, picks the focus and what to draw;
* :mod:`.timeline` draws clients and nodes on one time axis;
* :mod:`.messages` draws the sequence diagram around the focus;
* :mod:`.charts` draws latency, throughput and availability;
* :mod:`.text` writes the header, explanation and evidence tables;
* :mod:`.story` lists a small run (a shrunk counterexample) top to bottom, beside the timeline;
* :mod:`.assets` holds the inline CSS and the small script (op details, zoom).

Big runs are sampled: at most :data:`BAR_CAP` operations become bars (the ones nearest the
focus) and the report says so in its header.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from analysis.records import stored
from analysis.report import assets, charts, cycle, messages, story, text, timeline
from analysis.report.data import (
    Focus,
    Op,
    RunData,
    Selection,
    choose_focus,
    client_names,
    counterexample,
    describe_op,
    involved_ids,
    leader_based,
    load_detail,
    load_run,
    natural_key,
    node_roles,
    select_ops,
    short,
)
from analysis.report.svg import esc, fmt_ms, hatch_defs

BAR_CAP = 3000
"""Most operations drawn as individual bars; the rest are bucketed."""
EMBED_TRACE_CAP = 6000
"""Most trace records embedded for the click-an-operation details panel."""
DETAIL_LOAD_CAP = 60_000
"""Most trace records read back from the detail windows."""
SMALL_TRACE = 12_000
"""Traces up to this many records are embedded whole (any operation's messages can be shown)."""
MSG_MARGIN_MS = 400.0


def render_folder(folder: Path) -> Path:
    """Render ``folder/report.html`` from the run's files and return its path."""
    folder = Path(folder)
    page = render(folder)
    out = folder / "report.html"
    tmp = folder / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def render(folder: Path) -> str:
    """The report for ``folder`` as one HTML string."""
    t0 = time.perf_counter()
    data = load_run(folder)
    ce = counterexample(data)
    roles = involved_ids(ce)
    cyc = None if ce else cycle.isolation_cycle(data)
    if cyc:
        roles = cycle.cycle_roles(cyc)
    by_id = {o.id: o for o in data.ops}
    texts: dict[int, str] = {}
    if ce:
        for o in ce.get("ops") or []:
            if isinstance(o, dict) and isinstance(o.get("id"), int) and isinstance(o.get("text"), str):
                texts[o["id"]] = o["text"]
    focus = choose_focus(data)
    involved = sorted((by_id[i] for i in roles if i in by_id), key=lambda o: (o.start, o.id))
    letters = {o.id: _letter(n) for n, o in enumerate(involved)}
    sel = select_ops(data.ops, focus, BAR_CAP, set(roles))
    processes = data.processes
    markers = _markers(data)
    drawn: dict[int, Op] = {}

    # -- overview timeline
    lane_h = max(4.0, min(16.0, 640.0 / max(len(processes), 1)))
    close_lo, close_hi, close_ops = _close_up(data, focus, sel, roles, bool(ce or cyc))
    show_close = bool(ce) or bool(cyc) or bool(markers) or sel.sampled
    divergence = _divergence(data)
    ov_spec = timeline.TimelineSpec(
        lo=0.0, hi=data.end_ms, ops=[] if sel.sampled else list(data.ops),
        density=list(data.ops) if sel.sampled else [], roles=roles, texts=texts, id_prefix="ov-",
        lane_h=lane_h, markers=markers, bracket=(close_lo, close_hi) if show_close else None,
        title="timeline of the whole run", divergence=divergence)
    overview = timeline.render(data, ov_spec, processes)
    drawn.update((o.id, o) for o in ov_spec.ops)

    # -- close-up around the focus
    close_html = ""
    if show_close:
        dim_key = ce.get("key") if ce and isinstance(ce.get("key"), str) else None
        roomy = len(processes) <= 30 and bool(roles)
        cl_spec = timeline.TimelineSpec(
            lo=close_lo, hi=close_hi, ops=close_ops, roles=roles, texts=texts, id_prefix="",
            lane_h=34.0 if roomy else max(lane_h, 18.0 if len(processes) <= 30 else lane_h), label_ops=True, label_space=15.0 if roomy else 0.0,
            letters=letters if roomy else {}, dim_key=dim_key, markers=markers, title="close-up timeline")
        close_html = timeline.render(data, cl_spec, processes)
        drawn.update((o.id, o) for o in close_ops)

    # -- trace detail for the message diagram and the click panel
    n_trace = sum(data.kind_counts.values())
    msg_lo = focus.lo - messages.HALF_WINDOW_MS - MSG_MARGIN_MS
    msg_hi = focus.hi + messages.HALF_WINDOW_MS + 50
    if n_trace <= SMALL_TRACE:
        ranges = [(0.0, data.end_ms + 1)]
    else:
        ranges = [(msg_lo, msg_hi), (close_lo - 50, close_hi + 50)]
    detail = load_detail(data.folder, ranges, data.trace, DETAIL_LOAD_CAP, focus.center)
    clients = client_names(data)
    blocker = by_id.get(ce.get("blocker", -1)) if ce else None
    span = (blocker.start, blocker.end if blocker.end is not None else blocker.start) if blocker else None
    msg_svg, msg_note = messages.render(data, detail, focus.center, focus.reason, close_ops or sel.drawn,
                                        roles, texts, clients, span, protocol_first=not ce and bool(markers))
    # -- the page
    sections: list[str] = []
    if data.diff:
        sections.append(_section("diff", "What the change did", text.counterfactual(data)))
    if data.why:
        sections.append(_section("why", "Which fault mattered", text.why_survey(data)))
    leaders = leader_based(data)
    roles_of = node_roles(data)
    if leaders:
        node_words = ("Node lanes show who led each term (coloured, labelled T<i>term</i>), candidates "
                      "(yellow), crashes and pauses.")
    elif roles_of:
        node_words = ("Node lanes are labelled with each node's role ("
                      + esc(", ".join(f"{n} {r}" for n, r in sorted(roles_of.items(), key=lambda x: natural_key(x[0]))))
                      + ") and show its crashes and pauses; these nodes elect no leader.")
    else:
        node_words = "Node lanes show crashes and pauses; these nodes elect no leader."
    sections.append(_section("timeline", "Timeline", (
        f'<p class="note">{esc(sel.note())}. Client lanes show operations from invocation to completion '
        "(green ok, orange failed, hatched unknown outcome: it may take effect at any time after it "
        f"started, so a dotted tail runs to the end). {node_words} Red bands are fault windows. "
        "Hover for details; click an operation for its messages.</p>"
        + _legend(bool(ce), leaders, bool(cyc)) + _beside(f'<div class="figure">{overview}</div>',
                                                           story.render_html(story.story(data))))))
    if ce:
        sections.append(_section("counterexample", "Counterexample", _ce_section(
            ce, by_id, roles, texts, letters, close_html, close_lo, close_hi)))
    elif cyc:
        sections.append(_section("cycle", "Isolation cycle", cycle.section(
            cyc, by_id, letters, close_html, close_lo, close_hi)))
    elif show_close:
        why = ("around " + focus.reason) if not sel.sampled else f"around {focus.reason} (the sampled window)"
        sections.append(_section("closeup", "Close-up", (
            f'<p class="note">{fmt_ms(round(close_lo))} to {fmt_ms(round(close_hi))}, {esc(why)}.</p>'
            f'<div class="figure">{close_html}</div>')))
    if msg_svg:
        body = (f'<p class="note">{msg_note}</p><div class="zoom-box" id="msg-box"><div class="zoom-tools">'
                '<button type="button" data-zoom="in">zoom in</button><button type="button" data-zoom="out">'
                'zoom out</button><button type="button" data-zoom="reset">reset</button><span>drag to pan; '
                'Ctrl/⌘ + scroll or pinch to zoom; hover an arrow for the message</span></div>'
                f'<div class="figure">{msg_svg}</div></div>')
    else:
        body = f'<p class="note">{esc(msg_note)}</p>'
    sections.append(_section("messages", "Messages", body))
    chart_parts = []
    for title, (svg, note) in (("Latency over time", charts.latency(data)),
                               ("Throughput over time", charts.throughput(data)),
                               ("Availability per fault window", charts.availability(data))):
        chart_parts.append(f"<h3>{esc(title)}</h3><p class='note'>{esc(note)}</p>"
                           + (f'<div class="figure">{svg}</div>' if svg else ""))
    sections.append(_section("charts", "Charts", "".join(chart_parts)))
    sections.append(_section("invariants", "Invariants and checkers", text.invariants(data)))
    bite = "no operation ran, or no election happened," if leaders else "no operation ran and no message moved"
    sections.append(_section("coverage", "Did the faults matter?", (
        f"<p class='note'>A pass is only evidence if the faults bit: a fault window in which {bite} "
        "tested nothing.</p>" + text.coverage(data))))

    strip_ids = list(roles) + list((ce.get("prefix") or [])[-30:]) if ce else []
    for i in strip_ids:
        if isinstance(i, int) and i in by_id:
            drawn.setdefault(i, by_id[i])
    embed = detail if len(detail) <= EMBED_TRACE_CAP else _nearest(detail, focus.center, EMBED_TRACE_CAP)
    elapsed = time.perf_counter() - t0
    return _page(data, sel, sections, drawn, roles, texts, embed, ranges, clients, elapsed)


def _close_up(data: RunData, focus: Focus, sel: Selection, roles: dict[int, str],
              has_ce: bool) -> tuple[float, float, list[Op]]:
    """The close-up's time range and the operations drawn in it (at most ``BAR_CAP``)."""
    if has_ce:
        span = focus.hi - focus.lo
        m = max(40.0, 0.35 * span)
        lo, hi = focus.lo - m, focus.hi + m
    elif sel.sampled:
        lo, hi = sel.lo, sel.hi + 1
    else:
        lo, hi = focus.center - 250, focus.center + 250
    lo, hi = max(lo, 0.0), min(hi, data.end_ms)
    if hi <= lo:
        hi = lo + 1
    pool = sel.drawn if sel.sampled else data.ops
    ops = [o for o in pool if o.start <= hi and (o.end if o.end is not None else data.end_ms) >= lo]
    if len(ops) > BAR_CAP:
        ops.sort(key=lambda o: (o.id not in roles, abs(o.start - focus.center)))
        ops = ops[:BAR_CAP]
    return lo, hi, ops


def _divergence(data: RunData) -> tuple[float, str] | None:
    """Where a counterfactual's second run parted from the first (for the timeline)."""
    dv = (data.diff or {}).get("divergence")
    if not isinstance(dv, dict) or not isinstance(dv.get("t"), int | float):
        return None
    return float(dv["t"]), f"first divergence at {dv['t']} ms: this run: {dv.get('second_text')}; " \
                          f"first run: {dv.get('first_text')}"


def _markers(data: RunData) -> list[tuple[float, str]]:
    out = []
    for c in data.checkers:
        for v in (c.get("violations") or [])[:10]:
            if isinstance(v, dict) and isinstance(v.get("t"), int | float):
                out.append((float(v["t"]), f"{v.get('invariant', c.get('checker'))}: {v.get('text', '')}"))
    return out


def _nearest(recs: list[dict[str, Any]], center: float, cap: int) -> list[dict[str, Any]]:
    keep = sorted(recs, key=lambda r: abs(float(r.get("t", 0)) - center))[:cap]
    return sorted(keep, key=lambda r: float(r.get("t", 0)))


def _beside(figure: str, listing: str) -> str:
    """The timeline with the run's story beside it (below it on a narrow screen)."""
    if not listing:
        return figure
    return f'<div class="with-story">{figure}{listing}</div>'


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>'


def _legend(highlights: bool, leaders: bool = True, cycle_ops: bool = False) -> str:
    """The timeline's colour key; leader and candidate chips only for systems that elect."""
    items = [("var(--ok)", "ok"), ("var(--fail)", "failed"), ("#b9bccb", "unknown outcome (hatched)"),
             ("rgba(229,62,62,.25)", "fault window")]
    if leaders:
        items += [("#2b6cb0", "leader (colour per term)"), ("#ecc94b", "candidate")]
    hl = [("var(--blocker)", "blocked operation"), ("var(--concurrent)", "concurrent with it"),
          ("var(--preceding)", "finished before it")]
    chips = "".join(f'<span><i style="background:{c}"></i>{esc(t)}</span>' for c, t in items)
    if highlights:
        chips += "".join(f'<span><i style="background:#fff;border:2px solid {c}"></i>{esc(t)}</span>'
                         for c, t in hl)
    if cycle_ops:
        chips += '<span><i style="background:#fff;border:2px solid var(--blocker)"></i>in the isolation cycle</span>'

    return f'<div class="legend">{chips}</div>'


def _letter(n: int) -> str:
    """A, B, ... Z, AA, AB ...: short names linking close-up bars to table rows."""
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _ce_section(ce: dict[str, Any], by_id: dict[int, Op], roles: dict[int, str], texts: dict[int, str],
                letters: dict[int, str], close_html: str, lo: float, hi: float) -> str:
    parts = [text.counterexample_text(ce, by_id, roles, texts, letters)]
    parts.append(f'<h3>Close-up: {fmt_ms(round(lo))} to {fmt_ms(round(hi))}</h3>'
                 '<p class="note">The blocked operation is outlined in red, operations concurrent with it in '
                 "purple, the last ones that finished before it began in blue. Click any bar.</p>"
                 f'<div class="figure">{close_html}</div>')
    strip = text.prefix_strip(ce, by_id, texts)
    if strip:
        parts.append("<h3>The longest linearization</h3>" + strip)
    return "".join(parts)


def _json_script(sid: str, obj: Any) -> str:
    blob = json.dumps(obj, separators=(",", ":"), default=str, ensure_ascii=False)
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{sid}">{blob}</script>'


def _clip(v: Any) -> Any:
    """Keep embedded values small: long values become a truncated string."""
    s = json.dumps(v, default=str)
    return v if len(s) <= 200 else short(v, 200)


def _ops_json(drawn: dict[int, Op], roles: dict[int, str], texts: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, o in drawn.items():
        out[str(i)] = {"p": o.process, "f": o.f, "k": o.key, "v": _clip(o.value), "o": _clip(o.output),
                       "s": o.status, "a": round(o.start, 3), "b": None if o.end is None else round(o.end, 3),
                       "d": describe_op(o, texts), "r": roles.get(i)}
    return out


def _trace_row(r: dict[str, Any]) -> list[Any]:
    kind = str(r.get("kind", "?"))
    if kind in ("send", "deliver", "drop", "dup"):
        who = f"{r.get('src')}→{r.get('dst')}"
        what = messages.msg_type(r)
        extra = ", ".join(f"{k}={short(r[k], 30)}" for k in sorted(r)
                          if k not in ("t", "kind", "src", "dst", "mid", "msg", "type"))
    else:
        who = str(r.get("node") or r.get("client") or "")
        what = ""
        extra = ", ".join(f"{k}={short(r[k], 40)}" for k in sorted(r)
                          if k not in ("t", "kind", "node") and k not in ("terms",))
    return [round(float(r.get("t", 0)), 3), kind, who, (what + " " + extra).strip()[:200]]


def _page(data: RunData, sel: Selection, sections: list[str], drawn: dict[int, Op], roles: dict[int, str],
          texts: dict[int, str], embed: list[dict[str, Any]], ranges: list[tuple[float, float]],
          clients: dict[str, str], elapsed: float) -> str:
    name = str(data.scenario.get("name", data.folder.name))
    verdict = str(data.results.get("verdict", "unknown")).upper()
    nav = "".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t in (
        ("top", "Summary"), ("diff", "What the change did"), ("why", "Which fault mattered"), ("timeline", "Timeline"),
        ("counterexample", "Counterexample"), ("cycle", "Isolation cycle"),
        ("closeup", "Close-up"), ("messages", "Messages"), ("charts", "Charts"),
        ("invariants", "Invariants"), ("coverage", "Did the faults matter?"))
        if sid == "top" or any(s.startswith(f'<section id="{sid}"') for s in sections))
    trace_json = {"ranges": [[round(a, 3), round(b, 3)] for a, b in ranges] if embed else [],
                  "range": [round(min(a for a, _ in ranges), 3), round(max(b for _, b in ranges), 3)]
                  if embed and ranges else None,
                  "recs": [_trace_row(r) for r in embed]}
    # rundir renders inside its hidden ".tmp-NAME" folder, then renames it to NAME
    shown = data.folder.resolve()
    if shown.name.startswith(".tmp-"):
        shown = shown.with_name(shown.name[len(".tmp-"):])
    files = ", ".join(f"<code>{f}</code>" for f in ("scenario.json", "history.jsonl", stored(data.folder / "trace.jsonl").name,
                                                     "results.json", "metrics.json"))
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(verdict)} · {esc(name)} · splitbrain report</title>",
        f"<style>{assets.CSS}</style></head><body>",
        hatch_defs(),
        "<main>",
        text.header(data, sel.note()),
        f"<nav>{nav}</nav>",
        "".join(sections),
        f"<footer>Generated by splitbrain from {files} in <code>{esc(shown)}</code> "
        f"in {elapsed:.2f} s. Re-render with <code>splitbrain report {esc(shown)}</code>.</footer>",
        "</main>",
        '<aside id="op-details" hidden aria-live="polite"></aside>',
        _json_script("ops-data", _ops_json(drawn, roles, texts)),
        _json_script("trace-data", trace_json),
        _json_script("clients-data", clients),
        f"<script>{assets.JS}</script>",
        "</body></html>\n",
    ])
