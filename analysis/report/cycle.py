"""The report's isolation section: the smallest cycle the isolation checker found, drawn.

A transactional run has no linearizability counterexample; its evidence is a dependency
cycle (:mod:`analysis.isolation`).  This module finds the cycle the checker's explanation
tells first (:func:`~analysis.isolation.svg.first_cycle`), gives its transactions a role
so the timelines outline them, and writes the section: the drawing
(:func:`~analysis.isolation.svg.render_cycle_svg`, whose boxes carry ``data-op-id``, so a
click opens the operation like a click on its bar), one row per transaction linked to the
timeline, and the story, one sentence per edge.
"""

from __future__ import annotations

from typing import Any

from analysis.isolation.svg import KIND_COLOUR, first_cycle, render_cycle_svg
from analysis.report.rundata import Op, RunData
from analysis.report.svg import esc

__all__ = ["ROLE", "cycle_roles", "isolation_cycle", "section"]

ROLE = "cycle"
"""The role of a transaction of the cycle (timeline outline, table tag)."""
_ISOLATION = ("isolation", "elle")


def isolation_cycle(data: RunData) -> dict[str, Any] | None:
    """The cycle to show: from the first isolation result that holds one, invalid first."""
    results = [c for c in data.checkers if c.get("checker") in _ISOLATION]
    results.sort(key=lambda c: c.get("verdict") != "invalid")
    for r in results:
        cyc = first_cycle(r)
        if cyc is not None:
            return cyc
    return None


def cycle_roles(cycle: dict[str, Any] | None) -> dict[int, str]:
    """Op id -> :data:`ROLE` for every transaction of ``cycle``."""
    if not cycle:
        return {}
    return {t["id"]: ROLE for t in cycle.get("txns", []) if isinstance(t.get("id"), int)}


def _step(step: dict[str, Any]) -> str:
    kind = str(step.get("type", ""))
    colour = KIND_COLOUR.get(kind, "#4a5568")
    return (f'<li><span class="edge-tag" style="background:{colour}">{esc(kind)}</span> '
            f"{esc(step.get('text', ''))}</li>")


def section(cycle: dict[str, Any], ops: dict[int, Op], letters: dict[int, str], close_html: str,
            lo: float, hi: float) -> str:
    """The section body: drawing, transactions, story and the close-up timeline."""
    kind = str(cycle.get("type", "cycle"))
    txns = [t for t in cycle.get("txns", []) if isinstance(t, dict)]
    parts = [f"<p>The smallest <b>{esc(kind)}</b> cycle the isolation checker found: {len(txns)} transactions "
             "that no serial order can explain. Boxes are transactions (click one for its details), arrows "
             "the dependencies between them: <b>ww</b> (one write replaced another's), <b>wr</b> (a read saw "
             "a write), <b>rw</b> (a read missed a write that came next, so the reader came first), "
             "<b>process</b> and <b>realtime</b> order.</p>",
             f'<div class="figure cycle-figure">{render_cycle_svg(cycle)}</div>',
             '<table class="evidence ce-ops"><thead><tr><th></th><th>name</th><th>op</th><th>process</th>'
             "<th>what it did</th><th>status</th><th>invoked</th><th>completed</th></tr></thead><tbody>"]
    for t in txns:
        op_id = t.get("id")
        o = ops.get(op_id) if isinstance(op_id, int) else None
        when = ("", "") if o is None else (f"{o.start:,.0f} ms", "never" if o.end is None else f"{o.end:,.0f} ms")
        parts.append(f'<tr class="op-row hl-{ROLE}" data-op="{esc(op_id)}"><td class="letter-cell">'
                     f"{esc(letters.get(op_id, '') if isinstance(op_id, int) else '')}</td>"
                     f"<td><b>{esc(t.get('name', ''))}</b></td><td><a href=\"#op-{esc(op_id)}\">op {esc(op_id)}</a></td>"
                     f"<td>{esc(t.get('process', ''))}</td><td>{esc(t.get('text', ''))}</td>"
                     f"<td>{esc(t.get('status', 'ok'))}</td><td>{when[0]}</td><td>{when[1]}</td></tr>")
    parts.append("</tbody></table>")
    steps = [s for s in cycle.get("steps", []) if isinstance(s, dict)]
    if steps:
        parts.append("<h3>Why it is a cycle</h3><ol class=\"cycle-story\">" + "".join(_step(s) for s in steps)
                     + "</ol>")
    story = cycle.get("story") or []
    if story:
        parts.append(f"<p>{esc(story[-1])}</p>")
    size = cycle.get("component_size")
    if isinstance(size, int) and size > len(txns):
        parts.append(f'<p class="note">These transactions lie in a strongly connected component of {size:,} '
                     "transactions; this is the smallest cycle found in it.</p>")
    parts.append(f"<h3>Close-up: {lo:,.0f} ms to {hi:,.0f} ms</h3><p class=\"note\">The cycle's transactions "
                 "are outlined in red. Click any bar.</p>"
                 f'<div class="figure">{close_html}</div>')
    return "".join(parts)
