"""A campaign's page (``index.html`` of a sweep folder): one self-contained HTML file.

What a reader of a 1,000-seed campaign wants first is the answer (how often did it fail,
how sure is that, were there false alarms), then the distinct failures (signatures, each
with one run to open), then everything else: the slowest seeds, which Ray node ran how
many, and every seed as one small square (green valid, red invalid, amber unknown) that
links to its run's report when the run was kept.  No script, no network: it opens from
disk and reads the same in a CI artifact.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from analysis.report.assets import CSS

__all__ = ["render_campaign"]

_GRID_LIMIT = 20_000
_TABLE_LIMIT = 500

_EXTRA_CSS = """
.grid{display:flex;flex-wrap:wrap;gap:2px;max-width:1200px}
.grid a,.grid span{display:block;width:10px;height:10px;border-radius:2px}
.grid .valid{background:var(--ok)}.grid .invalid{background:var(--blocker)}.grid .unknown{background:#b7791f}
table.c{border-collapse:collapse;font-size:13px;margin:6px 0}
table.c th,table.c td{border-bottom:1px solid var(--line);padding:3px 10px;text-align:left;vertical-align:top}
table.c td.n{text-align:right;font-variant-numeric:tabular-nums}
.big{font-size:22px;font-weight:700}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _link(run: dict[str, Any], text: str) -> str:
    d = run.get("dir") or run.get("example_dir")
    return f'<a href="{_e(d)}/report.html">{_e(text)}</a>' if d else _e(text)


def render_campaign(plan: dict[str, Any], summary: dict[str, Any], runs: Sequence[dict[str, Any]]) -> str:
    name = summary.get("scenario") or plan.get("scenario", "campaign")
    det = summary["detection"]
    lo, hi = det["ci95"]
    counts = summary["verdicts"]
    expect = summary["expect"]
    flaws = ", ".join(summary.get("flaws") or []) or "none (correct design)"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>sweep {_e(name)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body><main>",
        f"<header><h1>sweep {_e(name)}</h1>",
        f'<p class="summary">{summary["done"]} of {summary["planned"]} seeds run'
        f'{" (interrupted)" if summary.get("interrupted") else ""}; flaws: {_e(flaws)}; extra faults: '
        f'{_e(summary.get("extra_faults") or "none")}; the design should be <b>{_e(expect)}</b>.</p>',
        '<div class="badges">',
    ]
    for v in ("valid", "invalid", "unknown"):
        parts.append(f'<span class="badge {v}"><span class="badge-name">{v}</span><b>{counts.get(v, 0)}</b></span>')
    parts.append("</div></header>")

    if expect == "invalid":
        parts.append("<h2>Detection</h2>")
        parts.append(f'<p><span class="big">{_pct(det["rate"])}</span> of seeds caught the flaw '
                     f'({det["count"]} of {det["runs"]}); 95% interval {_pct(lo)} to {_pct(hi)} (Wilson).</p>')
        if summary["misses"]:
            parts.append(f'<p>Missed at {summary["misses"]} seed(s): '
                         f'{_e(", ".join(map(str, summary["missed_seeds"][:40])))}</p>')
    else:
        parts.append("<h2>False alarms</h2>")
        parts.append(f'<p><span class="big">{summary["false_alarms"]}</span> false alarm(s) in {det["runs"]} runs '
                     f'of a design that should pass; 95% interval for the rate: {_pct(lo)} to {_pct(hi)} (Wilson).</p>')
    if summary.get("unknown_seeds"):
        parts.append(f'<p>Unknown at {counts.get("unknown", 0)} seed(s) (a checker ran out of budget, or the run '
                     f'failed): {_e(", ".join(map(str, summary["unknown_seeds"][:40])))}</p>')
    for err in summary.get("errors", [])[:5]:
        parts.append(f'<p class="note">seed {err["seed"]}: {_e(err["error"])}</p>')

    parts.append("<h2>Signatures</h2>")
    sigs = summary.get("signatures") or []
    if not sigs:
        parts.append("<p>No failing seed.</p>")
    else:
        parts.append('<p class="note">checker: anomaly @ the kinds of fault active when it happened.</p>')
        parts.append('<table class="c"><tr><th>signature</th><th>seeds</th><th>example</th></tr>')
        for g in sigs:
            parts.append(f'<tr><td><code>{_e(g["text"])}</code></td><td class="n">{g["count"]}</td>'
                         f'<td>{_link(g, "seed " + str(g["example_seed"]))}</td></tr>')
        parts.append("</table>")

    parts.append("<h2>Every seed</h2>")
    shown = list(runs)[:_GRID_LIMIT]
    parts.append('<div class="grid">')
    for r in shown:
        v = _e(r["verdict"])
        title = _e(f'seed {r["seed"]}: {r["verdict"]}' + (f' ({r["signature"]["text"]})' if r.get("signature") else ""))
        if r.get("dir"):
            parts.append(f'<a class="{v}" title="{title}" href="{_e(r["dir"])}/report.html"></a>')
        else:
            parts.append(f'<span class="{v}" title="{title}"></span>')
    parts.append("</div>")
    if len(runs) > len(shown):
        parts.append(f'<p class="note">the first {len(shown)} of {len(runs)} seeds are drawn.</p>')

    failing = [r for r in runs if r["verdict"] != "valid"]
    if failing:
        parts.append("<h2>Failing seeds</h2>")
        parts.append('<table class="c"><tr><th>seed</th><th>verdict</th><th>signature</th><th>wall s</th>'
                     '<th>node</th></tr>')
        for r in failing[:_TABLE_LIMIT]:
            sig = r["signature"]["text"] if r.get("signature") else (r.get("error") or "")
            parts.append(f'<tr><td>{_link(r, str(r["seed"]))}</td><td>{_e(r["verdict"])}</td><td>{_e(sig)}</td>'
                         f'<td class="n">{r.get("wall_s", 0):.2f}</td><td>{_e(r.get("node") or "")}</td></tr>')
        parts.append("</table>")
        if len(failing) > _TABLE_LIMIT:
            parts.append(f'<p class="note">{len(failing) - _TABLE_LIMIT} more in runs.jsonl.</p>')

    parts.append("<h2>Slowest seeds</h2>")
    parts.append('<table class="c"><tr><th>seed</th><th>wall s</th><th>simulated s</th><th>verdict</th>'
                 '<th>node</th></tr>')
    for r in summary.get("slowest", []):
        parts.append(f'<tr><td>{r["seed"]}</td><td class="n">{(r.get("wall_s") or 0):.2f}</td>'
                     f'<td class="n">{(r.get("sim_ms") or 0) / 1000:.1f}</td><td>{_e(r["verdict"])}</td>'
                     f'<td>{_e(r.get("node") or "")}</td></tr>')
    parts.append("</table>")

    t = summary.get("timing", {})
    parts.append("<h2>Where and how fast</h2>")
    parts.append('<table class="c"><tr><th>Ray node</th><th>seeds run</th></tr>')
    for node, n in (summary.get("nodes") or {}).items():
        parts.append(f'<tr><td>{_e(node)}</td><td class="n">{n}</td></tr>')
    parts.append("</table>")
    if t:
        parts.append(f'<p>{t.get("workers", "?")} workers; wall {t.get("wall_s", 0):.1f} s; '
                     f'{t.get("runs_per_min") or 0:.1f} runs/min; {t.get("cpu_s", 0):.1f} CPU s in runs; '
                     f'{t.get("simulated_s", 0):.0f} simulated s.</p>')
    rerun = summary.get("rerun")
    if rerun:
        parts.append(f'<p class="replay">rerun any seed: <code>{_e(rerun)}</code></p>')
    parts.append("</main></body></html>\n")
    return "".join(parts)
