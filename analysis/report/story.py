"""A small run told top to bottom: every operation, fault, crash and leader change in time order.

A shrunk counterexample from ``splitbrain explore`` has a handful of operations; a timeline
shows where they overlap, but a learner reads a *list* first: "client 0 wrote 1 to k0; the
leader was cut off; client 1 wrote 2 through the new leader; client 0 read k0 from the old
leader and got 1".  :func:`story` builds that list from a loaded run, and the report puts it
beside the timeline (``explore`` prints it too) for any run of at most :data:`STORY_CAP`
operations; a bigger run is a timeline's job.

One line per operation (at its invocation, saying how and when it completed) keeps the
list as short as the run; protocol events are limited to what explains a small run:
leader changes, faults starting and ending (crashes and pauses are faults, so they are
here), and where a checker pinned a violation to a moment, that violation.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.report.rundata import Op, RunData
from analysis.report.svg import esc
from analysis.report.views import counterexample, describe_op, involved_ids, leader_based

__all__ = ["STORY_CAP", "StoryLine", "render_html", "render_text", "story"]

STORY_CAP = 30
"""Runs with at most this many operations get the list."""

_ORDER = {"fault-end": 0, "leader": 1, "fault": 2, "op": 3, "violation": 4}
_ROLE_WORDS = {"blocker": "cannot be placed in any order", "concurrent": "concurrent with it",
               "preceding": "finished before it"}


@dataclass(frozen=True)
class StoryLine:
    """One line of the story.  ``kind`` is ``op``, ``fault``, ``fault-end``, ``leader`` or
    ``violation``; ``status`` an operation's (ok / fail / info); ``role`` its
    part in a counterexample (blocker, concurrent, preceding), if any."""

    t: float
    kind: str
    who: str
    text: str
    status: str = ""
    role: str = ""
    end: float | None = None
    op: int | None = None


def _ms(t: float) -> str:
    return f"{t:.0f} ms" if abs(t - round(t)) < 0.05 else f"{t:.1f} ms"


def _op_line(o: Op, roles: dict[int, str], texts: dict[int, str]) -> StoryLine:
    outcome = {"ok": "ok", "fail": "failed", "info": "unknown outcome"}.get(o.status, o.status)
    if o.end is None:
        outcome = "never completed"
    return StoryLine(o.start, "op", f"client {o.process}", describe_op(o, texts), outcome,
                     roles.get(o.id, ""), o.end, o.id)


def story(data: RunData, cap: int = STORY_CAP) -> list[StoryLine]:
    """The run as a time-ordered list, or ``[]`` when it has more than ``cap`` operations."""
    if len(data.ops) > cap or not data.ops and not data.windows:
        return []
    ce = counterexample(data)
    roles = involved_ids(ce)
    texts: dict[int, str] = {}
    for o in (ce or {}).get("ops") or []:
        if isinstance(o, dict) and isinstance(o.get("id"), int) and isinstance(o.get("text"), str):
            texts[o["id"]] = o["text"]
    lines = [_op_line(o, roles, texts) for o in data.ops]
    for w in data.windows:
        lines.append(StoryLine(float(w["start"]), "fault", "fault", str(w["description"]), end=float(w["end"])))
        if float(w["end"]) < data.end_ms:
            lines.append(StoryLine(float(w["end"]), "fault-end", "fault", f"healed: {w['description']}"))
    if leader_based(data):
        for r in data.kinds("role"):
            if r.get("role") == "leader":
                lines.append(StoryLine(float(r.get("t", 0)), "leader", str(r.get("node", "?")),
                                       f"became leader of term {r.get('term', '?')}"))
    for c in data.checkers:
        for v in (c.get("violations") or [])[:10]:
            if isinstance(v, dict) and isinstance(v.get("t"), int | float):
                what = v.get("text") or v.get("invariant") or "violation"
                lines.append(StoryLine(float(v["t"]), "violation", str(c.get("checker", "checker")), str(what)))
    lines.sort(key=lambda ln: (ln.t, _ORDER.get(ln.kind, 9), ln.op if ln.op is not None else -1))
    return lines


def _when(ln: StoryLine) -> str:
    if ln.kind == "op" and ln.end is not None:
        return f"{_ms(ln.t)} → {_ms(ln.end)}"
    if ln.kind == "fault" and ln.end is not None:
        return f"{_ms(ln.t)} → {_ms(ln.end)}"
    return _ms(ln.t)


def _note(ln: StoryLine) -> str:
    parts = []
    if ln.kind == "op" and ln.status:
        parts.append(ln.status)
    if ln.role:
        parts.append(_ROLE_WORDS.get(ln.role, ln.role))
    return "; ".join(parts)


def render_text(lines: list[StoryLine]) -> list[str]:
    """The story as plain lines (for a terminal), columns aligned."""
    if not lines:
        return []
    when = [_when(ln) for ln in lines]
    who = [ln.who for ln in lines]
    w1, w2 = max(map(len, when)), max(map(len, who))
    out = []
    for ln, a, b in zip(lines, when, who, strict=True):
        note = _note(ln)
        mark = "✗ " if ln.kind == "violation" or ln.role == "blocker" else ""
        out.append(f"{a:>{w1}}  {b:<{w2}}  {mark}{ln.text}" + (f"  ({note})" if note else ""))
    return out


def render_html(lines: list[StoryLine]) -> str:
    """The story as an ordered list; operations link to their bars (``data-op``)."""
    if not lines:
        return ""
    items = []
    for ln in lines:
        cls = f"story-{ln.kind}" + (f" st-{ln.status.split()[0]}" if ln.kind == "op" and ln.status else "")
        if ln.role:
            cls += f" hl-{ln.role}"
        data_op = f' data-op="{ln.op}"' if ln.op is not None else ""
        note = _note(ln)
        items.append(f'<li class="{esc(cls)}"{data_op}><span class="when">{esc(_when(ln))}</span>'
                     f'<span class="who">{esc(ln.who)}</span><span class="what">{esc(ln.text)}'
                     + (f' <span class="note">({esc(note)})</span>' if note else "") + "</span></li>")
    return (f'<div class="story" id="story"><h3>What happened, in order</h3><ol>{"".join(items)}</ol>'
            f'<p class="note">{sum(1 for ln in lines if ln.kind == "op")} operations; one line each, at '
            "its invocation, with when it completed.</p></div>")
