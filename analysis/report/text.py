"""The words of the report: header, plain-language explanation, evidence tables.

A learner reads the header first, so it says in sentences what the checkers found, who
led which term and which faults were active -- before any picture.  Every string from a
run (histories hold arbitrary client values) passes through :func:`esc`.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from analysis.report.data import (
    Op,
    RunData,
    describe_op,
    leader_based,
    leaders_by_term,
    window_stats,
)
from analysis.report.svg import esc, fmt_ms

VERDICT_WORD = {"valid": "VALID", "invalid": "INVALID", "unknown": "UNKNOWN"}
ROLE_WORD = {"blocker": "cannot be placed", "concurrent": "concurrent with it",
             "preceding": "finished before it began"}
MAX_JSON_CHARS = 20_000


def badge(verdict: Any, label: str = "") -> str:
    v = str(verdict).lower()
    cls = v if v in VERDICT_WORD else "unknown"
    word = VERDICT_WORD.get(v, str(verdict).upper())
    lab = f'<span class="badge-name">{esc(label)}</span>' if label else ""
    return f'<span class="badge {cls}" data-verdict="{esc(v)}">{lab}<b>{esc(word)}</b></span>'


def replay_command(sc: dict[str, Any], folder: Path | None = None) -> str:
    """The command that reruns this exact run (same as ``splitbrain run`` prints): the scenario
    file's path when the run came from a file (``source``), else the catalog name.  The
    plugins the run loaded come from the run ``folder``'s copies (``plugins/``): a plugin
    given on the command line is in no scenario file."""
    what = sc.get("source") or sc.get("name", "SCENARIO")
    parts = ["splitbrain", "run", str(what), "--seed", str(sc.get("seed", 1))]
    for plugin in sc.get("plugins") or ():
        text = str(plugin)
        is_file = text.endswith(".py") or "/" in text
        parts += ["--plugin", str(_final(folder) / text) if is_file and folder is not None else text]
    flaws = sc.get("flaws") or []
    if flaws:
        for f in flaws:
            parts += ["--flaw", str(f)]
    else:
        parts.append("--no-flaws")
    return " ".join(shlex.quote(p) for p in parts)


def _final(folder: Path) -> Path:
    """Where a run folder ends up: a new run is rendered in its hidden temporary folder
    ``.tmp-NAME``, which is then renamed to ``NAME`` (``scenarios/results.py``)."""
    folder = folder.resolve()
    if folder.name.startswith(".tmp-"):
        return folder.with_name(folder.name[len(".tmp-"):])
    return folder


def _ms(v: float) -> str:
    return f"{v:,.0f} ms"


def leaders_sentence(data: RunData, limit: int = 8) -> str:
    terms = leaders_by_term(data)
    if not terms:
        if data.scenario.get("system", "raft-kv") == "raft-kv" and leader_based(data):
            return "No node became leader in this run."
        return ""
    shown = [f"{esc(n)} led term {term} (from {_ms(t)})" for term, n, t in terms[:limit]]
    more = f", and {len(terms) - limit} more terms" if len(terms) > limit else ""
    last = terms[-1]
    tail = f" The last leader was {esc(last[1])} in term {last[0]}." if len(terms) > limit else ""
    return "Who led: " + "; ".join(shown) + more + "." + tail


def faults_sentence(data: RunData, limit: int = 6) -> str:
    if not data.windows:
        return "No faults were injected."
    ws = data.windows
    shown = [f"{esc(w['description'])} ({_ms(w['start'])}–{_ms(w['end'])})" for w in ws[:limit]]
    more = f", and {len(ws) - limit} more" if len(ws) > limit else ""
    return f"Faults injected ({len(ws)}): " + "; ".join(shown) + more + "."


def header(data: RunData, shown_note: str) -> str:
    sc = data.scenario
    name = sc.get("name", data.folder.name)
    flaws = sc.get("flaws") or []
    engines = sc.get("engines") or ["sim"]
    engine = sc.get("engine") or (engines[0] if isinstance(engines, list) and engines else "sim")
    meta = [
        ("seed", sc.get("seed", "?")),
        ("engine", engine),
        ("system", sc.get("system", "?")),
        ("nodes", sc.get("nodes", len(data.nodes))),
        ("clients", sc.get("clients", len(data.processes))),
        ("flaws", ", ".join(map(str, flaws)) if flaws else "none (the correct design)"),
        ("duration", fmt_ms(float(sc.get("duration_ms", data.end_ms)))),
        ("operations", f"{len(data.ops):,}"),
    ]
    chips = "".join(f'<span class="meta"><span>{esc(k)}</span> {esc(v)}</span>' for k, v in meta)
    overall = str(data.results.get("verdict", "unknown"))
    badges = badge(overall, "verdict") + "".join(
        badge(c.get("verdict", "unknown"), str(c.get("checker", "checker"))) for c in data.checkers)
    summary = sc.get("summary", "")
    out = [f'<header id="top"><h1>{esc(name)}</h1>']
    if summary:
        out.append(f'<p class="summary">{esc(summary)}</p>')
    out.append(f'<div class="metas">{chips}</div><div class="badges" id="verdicts">{badges}</div>')
    out.append(f'<div class="explain" id="explanation">{explanation(data)}</div>')
    if sc.get("teaches"):
        out.append(f'<p class="teaches"><b>What it teaches:</b> {esc(sc["teaches"])}</p>')
    out.append(prediction(data))
    if data.diff:
        out.append(f'<p class="diffbox">This run is a counterfactual: {esc(data.diff.get("change", {}).get("text", ""))}. '
                   '<a href="#diff">What changed</a>.</p>')
    cmd = replay_command(sc, data.folder)
    out.append(f'<div class="replay"><span>Replay this run:</span> <code id="replay-cmd">{esc(cmd)}</code>'
               f'<button type="button" class="copy" data-copy="replay-cmd">copy</button></div>')
    twin = sc.get("twin")
    if twin:
        out.append(f'<p class="muted">Its twin with the flaw switched off: <code>splitbrain run {esc(twin)}</code></p>')
    notes = [shown_note] + data.notes
    out.append(f'<p class="size-note" id="size-note">{"; ".join(esc(n) for n in notes if n)}.</p>')
    out.append("</header>")
    return "".join(out)


def prediction(data: RunData) -> str:
    """The learner's question and graded prediction (``prediction.json``), or, for a run made
    without one, the scenario's question with its answer folded away."""
    p = data.prediction
    q = data.scenario.get("question") if isinstance(data.scenario.get("question"), dict) else None
    if p:
        grade = str(p.get("grade", "ungraded"))
        ask = (p.get("question") or {}).get("ask") if isinstance(p.get("question"), dict) else None
        parts = ['<div class="prediction" id="prediction">']
        if ask:
            parts.append(f"<p><b>Question:</b> {esc(ask)}</p>")
        parts.append(f'<p><b>Your prediction:</b> <code>{esc(p.get("predicted"))}</code> '
                     f'<span class="grade {esc(grade)}">{esc(grade)}</span> &mdash; the run: {esc(p.get("found", ""))}</p>')
        if p.get("answer"):
            parts.append(f'<p><b>Answer:</b> <code>{esc(p["answer"])}</code>'
                         + (f" &mdash; {esc(p['why'])}" if p.get("why") else "") + "</p>")
        if p.get("note"):
            parts.append(f'<p class="muted">{esc(p["note"])}</p>')
        parts.append("</div>")
        return "".join(parts)
    if q and q.get("ask"):
        ask = " ".join(str(q["ask"]).split())
        why = " ".join(str(q.get("why", "")).split())
        return (f'<div class="prediction" id="prediction"><p><b>Question:</b> {esc(ask)}</p>'
                f'<details><summary>Answer</summary><p><code>{esc(q.get("answer"))}</code> &mdash; {esc(why)}</p>'
                "</details></div>")
    return ""


def counterfactual(data: RunData) -> str:
    """The diff section of a counterfactual's second run: the change, a link to the first
    run's report, where the runs parted, and what it did to each checker."""
    d = data.diff or {}
    ch = d.get("change") or {}
    link = d.get("first_report")
    parts = ['<div class="diffbox">',
             f"<p>This run is <b>the first run with one change</b>: {esc(ch.get('text', ''))} "
             f"(<code>splitbrain diff {esc(d.get('first_run', 'RUN_DIR'))} {esc(ch.get('flag', ''))}</code>). "
             + (f'<a id="first-run-link" href="{esc(link)}">Open the first run\'s report</a>.' if link else "")
             + "</p>"]
    for key, title in (("divergence", "First divergence"), ("protocol_divergence", "First protocol divergence")):
        dv = d.get(key)
        if key == "protocol_divergence" and (not dv or dv == d.get("divergence")):
            continue
        if not dv:
            parts.append(f"<p><b>{title}:</b> none; the two runs are identical event for event.</p>")
            continue
        parts.append(f"<p><b>{title}</b> at {fmt_ms(float(dv.get('t', 0)))} (trace record {esc(dv.get('index'))}), "
                     "marked on the timeline:</p><table>"
                     f"<tr><th>first run</th><td>{esc(dv.get('first_text'))}</td></tr>"
                     f"<tr><th>this run</th><td>{esc(dv.get('second_text'))}</td></tr></table>")
    v = d.get("verdict") or {}
    parts.append(f"<p><b>Verdict:</b> {badge(v.get('first', 'unknown'), 'first run')} &rarr; "
                 f"{badge(v.get('second', 'unknown'), 'this run')}</p>")
    tags = d.get("anomaly_tags") or {}
    if tags.get("first") or tags.get("second"):
        parts.append(f"<p><b>Anomalies:</b> {esc(', '.join(tags.get('first') or []) or 'none')} &rarr; "
                     f"{esc(', '.join(tags.get('second') or []) or 'none')}</p>")
    rows = []
    for row in d.get("checkers") or []:
        va, vb = (row.get("verdict") or ["", ""])[:2]
        before, after = (row.get("headline") or ["", ""])[:2]
        change = "unchanged" if va == vb else f"{esc(str(va).upper())} &rarr; {esc(str(vb).upper())}"
        detail = "" if va == vb else f"<br><i>before:</i> {esc(before)}<br><i>now:</i> {esc(after)}"
        rows.append(f"<tr><th>{esc(row.get('checker'))}</th><td>{change}{detail}</td></tr>")
    if rows:
        parts.append("<table>" + "".join(rows) + "</table>")
    parts.append("</div>")
    return "".join(parts)


def why_survey(data: RunData) -> str:
    """``splitbrain why``'s table: each change alone, its verdict, where it parted from this
    run, and the ``diff`` that shows it; then the conclusions in words."""
    w = data.why or {}
    seeds = [s for s in w.get("seeds") or [] if isinstance(s, int)]
    many = len(seeds) > 1
    rows = [t for key in ("faults", "every_fault", "flaws")
            for t in ((w.get(key) or []) if key != "every_fault" else [w.get(key)]) if isinstance(t, dict)]
    head = ("<tr><th>change</th><th>verdict</th>" + ("<th>invalid at</th>" if many else "")
            + "<th>anomalies</th><th>parts from this run at</th><th>see it</th></tr>")
    body = []
    for t in rows:
        div = t.get("divergence_ms")
        flag = t.get("flag")
        see = (f"<code>splitbrain diff {esc(w.get('run', 'RUN_DIR'))} {esc(flag)}</code>" if flag
               else "several changes at once")
        body.append(f"<tr><td>{esc(t.get('change'))}</td><td>{badge(t.get('verdict', 'unknown'))}</td>"
                    + (f"<td>{esc(t.get('invalid_seeds'))}/{len(seeds)}</td>" if many else "")
                    + f"<td>{esc(', '.join(t.get('anomaly_tags') or []) or '-')}</td>"
                    f"<td>{'identical' if div is None else fmt_ms(float(div))}</td><td>{see}</td></tr>")
    ask = ("Each change alone, rerun in the simulator from this run's seed"
           + (f" (and counted over seeds {seeds[0]}..{seeds[-1]})" if many else "") + "."
           if w.get("failing") else "The run passes: would its faults catch each flaw, switched on alone?")
    conclusions = "".join(f"<li>{esc(c)}</li>" for c in w.get("conclusions") or [])
    return (f'<div class="diffbox" id="why-survey"><p>{esc(ask)}</p><table>{head}{"".join(body)}</table>'
            f"<ul>{conclusions}</ul></div>")


def explanation(data: RunData) -> str:
    """The plain-language paragraph: the failure first (grouped and counted, per checker), then
    separately what passed, then who led and which faults ran."""
    overall = str(data.results.get("verdict", "unknown"))
    failing = [c for c in data.checkers if c.get("verdict") == "invalid"]
    undecided = [c for c in data.checkers if c.get("verdict") == "unknown"]
    passing = [c for c in data.checkers if c.get("verdict") == "valid"]
    paragraphs: list[str] = []
    if overall == "invalid":
        counted = ", ".join(f"{esc(c.get('checker'))} ({_count(c)})" for c in failing)
        paragraphs.append(f"<b>Something broke.</b> {len(failing)} of {len(data.checkers)} checkers found "
                          f"violations: {counted or 'a checker'}.")
    elif overall == "valid":
        paragraphs.append("<b>Nothing broke.</b> Every checker accepted this run.")
    else:
        paragraphs.append("<b>Undecided.</b> A checker ran out of budget before reaching a verdict.")
    for c in failing + undecided:
        ex = _sentences(c)
        if c.get("checker") == "linearizability":  # said once, below, for the whole run
            ex = [s for s in ex if not s.startswith("Leaders around then")]
        body = " ".join(esc(s) for s in ex[:10])
        paragraphs.append(f'<p class="failing"><b>{esc(c.get("checker"))}:</b> {body}</p>')
    if passing and overall != "valid":
        held = "; ".join(f"<b>{esc(c.get('checker'))}</b>: {esc((_sentences(c) or ['passed'])[0])}"
                         for c in passing)
        paragraphs.append(f'<p class="passing">Passed: {held}</p>')
    elif passing:
        paragraphs.extend(f'<p class="passing"><b>{esc(c.get("checker"))}:</b> {esc((_sentences(c) or ["passed"])[0])}</p>'
                          for c in passing)
    lin = data.checker("linearizability")
    ce = lin.get("counterexample") if lin else None
    if isinstance(ce, dict) and isinstance(ce.get("context"), dict):
        ls = ce["context"].get("leaders") or []
        if ls:
            paragraphs.append('<p class="context">Around the counterexample the leaders were ' + ", ".join(
                f"{esc(x.get('node'))} (term {esc(x.get('term'))}, from {_ms(float(x.get('t', 0)))})"
                for x in ls if isinstance(x, dict)) + ".</p>")
    head = paragraphs[0]
    rest = "".join(p if p.startswith("<p") else f"<p>{p}</p>" for p in paragraphs[1:])
    extra = [s for s in (leaders_sentence(data), faults_sentence(data)) if s]
    return f"<p>{head}</p>" + rest + "".join(f'<p class="context">{s}</p>' for s in extra)


def _sentences(c: dict[str, Any]) -> list[str]:
    ex = c.get("explanation") or []
    return [str(ex)] if isinstance(ex, str) else [str(s) for s in ex]


def _count(c: dict[str, Any]) -> str:
    """``"12: 10 ends-consistently, 2 no-double-charge"``, or what a checker without counts has."""
    counts = c.get("violation_counts")
    if isinstance(counts, dict) and counts:
        total = sum(int(v) for v in counts.values())
        return f"{total}: " + ", ".join(f"{int(v)} {esc(k)}" for k, v in counts.items())
    viol = c.get("violations")
    if isinstance(viol, list) and viol:
        kinds: dict[str, int] = {}
        for v in viol:
            if isinstance(v, dict):
                kinds[str(v.get("invariant", "violation"))] = kinds.get(str(v.get("invariant", "violation")), 0) + 1
        return f"{len(viol)}: " + ", ".join(f"{n} {esc(k)}" for k, n in kinds.items())
    if c.get("checker") == "linearizability":
        parts = c.get("partitions")
        if isinstance(parts, dict) and parts.get("invalid"):
            return f"{parts['invalid']} key(s) not linearizable"
    return "1"


def op_row(o: Op, role: str, texts: dict[int, str], letter: str = "") -> str:
    end = _ms(o.end) if o.end is not None else "never"
    return (f'<tr class="op-row hl-{esc(role)}" data-op="{o.id}"><td class="letter-cell">{esc(letter)}</td>'
            f'<td><span class="role-tag {esc(role)}">'
            f'{esc(ROLE_WORD.get(role, role))}</span></td><td>op {o.id}</td><td>{esc(o.process)}</td>'
            f"<td>{esc(describe_op(o, texts))}</td><td>{esc(o.status)}</td><td>{_ms(o.start)}</td>"
            f"<td>{end}</td></tr>")


def counterexample_text(ce: dict[str, Any], ops: dict[int, Op], roles: dict[int, str],
                        texts: dict[int, str], letters: dict[int, str] | None = None) -> str:
    letters = letters or {}
    order = {"preceding": 0, "blocker": 1, "concurrent": 2}
    rows = sorted((i for i in roles if i in ops), key=lambda i: (ops[i].start, order[roles[i]]))
    parts = []
    states = ce.get("illegal_states") or ce.get("possible_states") or []
    key = ce.get("key")
    if key is not None:
        parts.append(f"<p>Key <code>{esc(key)}</code>. Only operations on this key matter to this verdict "
                     "(the checker splits a key-value history by key); others are dimmed in the close-up.</p>")
    if states:
        parts.append(f"<p>States the blocked operation could have seen: "
                     f"{', '.join(f'<code>{esc(s)}</code>' for s in states[:12])}"
                     f"{' …' if len(states) > 12 else ''}.</p>")
    parts.append('<table class="evidence ce-ops"><thead><tr><th></th><th>role</th><th>op</th><th>process</th>'
                 "<th>operation</th><th>status</th><th>invoked</th><th>completed</th></tr></thead><tbody>")
    parts.extend(op_row(ops[i], roles[i], texts, letters.get(i, "")) for i in rows)
    parts.append("</tbody></table>")
    return "".join(parts)


def prefix_strip(ce: dict[str, Any], ops: dict[int, Op], texts: dict[int, str], limit: int = 30) -> str:
    """The longest order the checker found, as a strip of boxes ending in the blocked op."""
    prefix = [i for i in ce.get("prefix") or [] if isinstance(i, int)]
    blocker = ce.get("blocker")
    if not prefix and blocker is None:
        return ""
    shown = prefix[-limit:]
    skipped = len(prefix) - len(shown)
    cells = []
    if skipped:
        cells.append(f'<div class="cell skipped">… {skipped:,} earlier</div>')
    for n, i in enumerate(shown, start=skipped + 1):
        o = ops.get(i)
        txt = describe_op(o, texts) if o else f"op {i}"
        proc = f"p{o.process}" if o else ""
        cells.append(f'<div class="cell {esc(o.status) if o else ""}" data-op="{i}" title="op {i}">'
                     f'<span class="n">#{n}</span>{esc(txt)}<span class="p">{esc(proc)}</span></div>')
    if isinstance(blocker, int):
        o = ops.get(blocker)
        txt = describe_op(o, texts) if o else f"op {blocker}"
        cells.append('<div class="arrow-x">✗</div>')
        cells.append(f'<div class="cell blocker hl-blocker" data-op="{blocker}" id="strip-blocker">'
                     f'<span class="n">next?</span>{esc(txt)}<span class="p">'
                     f'{esc("p" + str(o.process)) if o else ""}</span></div>')
    state = ce.get("state_after_prefix")
    sentence = (f"The longest order the checker could build places {len(prefix):,} operations"
                + (f" and leaves the state at <code>{esc(state)}</code>" if state is not None else "")
                + "; the operation in red cannot come next in any order. "
                + (f"Showing the last {len(shown)}." if skipped else ""))
    return f'<p>{sentence}</p><div class="strip" id="prefix-strip">{"".join(cells)}</div>'


def invariants(data: RunData) -> str:
    """Every checker's verdict and evidence; unknown checkers are shown generically."""
    if not data.checkers:
        return "<p>No checker results were recorded for this run.</p>"
    out = []
    for c in data.checkers:
        name = str(c.get("checker", "checker"))
        out.append(f'<div class="checker-card" id="checker-{esc(name)}"><h3>{esc(name)} '
                   f'{badge(c.get("verdict", "unknown"))}</h3>')
        ex = c.get("explanation") or []
        if isinstance(ex, str):
            ex = [ex]
        if ex:
            out.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in ex[:12]) + "</ul>")
        viol = [v for v in c.get("violations") or [] if isinstance(v, dict)]
        if viol:
            out.append('<table class="evidence violations"><thead><tr><th>invariant</th><th>time</th>'
                       "<th>nodes</th><th>what happened</th><th>faults active</th></tr></thead><tbody>")
            for v in viol:
                nodes = v.get("nodes") or []
                fa = v.get("faults_active") or []
                t = v.get("t")
                out.append(f'<tr class="violation"><td><b>{esc(v.get("invariant", "?"))}</b></td>'
                           f'<td>{esc(_ms(float(t))) if isinstance(t, int | float) else "?"}</td>'
                           f'<td>{esc(", ".join(map(str, nodes)))}</td><td>{esc(v.get("text", ""))}</td>'
                           f'<td>{esc("; ".join(map(str, fa)) or "none")}</td></tr>')
            out.append("</tbody></table>")
        facts = _facts(c)
        if facts:
            out.append('<table class="facts"><tbody>' + "".join(
                f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts) + "</tbody></table>")
        rest = {k: v for k, v in c.items() if k not in ("checker", "verdict", "explanation", "violations")
                and not (name == "linearizability" and k == "counterexample")}
        if rest and name not in ("linearizability",):
            blob = json.dumps(rest, indent=2, sort_keys=True, default=str)
            if len(blob) > MAX_JSON_CHARS:
                blob = blob[:MAX_JSON_CHARS] + f"\n… ({len(blob) - MAX_JSON_CHARS:,} more characters in results.json)"
            out.append(f"<details><summary>evidence (JSON)</summary><pre>{esc(blob)}</pre></details>")
        out.append("</div>")
    return "".join(out)


def _facts(c: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if c.get("checker") == "linearizability":
        for k in ("model", "operations", "states", "elapsed_s", "reason", "hint"):
            if c.get(k) not in (None, ""):
                out.append((k, c[k]))
        parts = c.get("partitions")
        if isinstance(parts, dict):
            out.append(("partitions", ", ".join(f"{v} {k}" for k, v in parts.items())))
    stats = c.get("stats")
    if isinstance(stats, dict):
        out.extend((str(k).replace("_", " "), v) for k, v in stats.items() if not isinstance(v, dict | list))
    return out


def coverage(data: RunData) -> str:
    """Did the faults matter?  The runner's coverage sentences, and per-window counts."""
    cov = data.metrics.get("coverage") if isinstance(data.metrics, dict) else None
    out = []
    if isinstance(cov, list) and cov:
        out.append("<ul class='coverage'>" + "".join(
            f"<li class='{'quiet' if 'tested nothing' in str(s) or 'no election' in str(s) else ''}'>"
            f"{esc(s)}</li>" for s in cov) + "</ul>")
    stats = window_stats(data)
    leaders = leader_based(data)
    if stats:
        elect_head = "<th>elections</th><th>new leaders</th>" if leaders else ""
        out.append('<table class="evidence windows" id="window-table"><thead><tr><th>fault</th><th>window</th>'
                   f"<th>ops invoked</th><th>ok</th><th>failed</th><th>unknown</th>{elect_head}"
                   "<th>effect</th></tr></thead><tbody>")
        for s in stats:
            quiet = s["ops"] == 0
            bite = "tested nothing" if quiet else (
                "clients felt it" if s["fail"] + s["info"] > 0 or s["elections"] else "no visible effect")
            elect = (f'<td>{s["elections"]}</td><td>{esc(" → ".join(s["new_leaders"][:8]) or "none")}</td>'
                     if leaders else "")
            out.append(f'<tr class="{"quiet" if quiet else ""}"><td>{esc(s["description"])}</td>'
                       f'<td>{_ms(s["start"])}–{_ms(s["end"])}</td><td>{s["ops"]:,}</td><td>{s["ok"]:,}</td>'
                       f'<td>{s["fail"]:,}</td><td>{s["info"]:,}</td>{elect}<td>{bite}</td></tr>')
        out.append("</tbody></table>")
    elif not out:
        out.append("<p>No faults were injected in this run, so a pass says little about fault tolerance.</p>")
    stats_m = data.metrics.get("stats") if isinstance(data.metrics, dict) else None
    if isinstance(stats_m, dict) and stats_m:
        keys = [k for k in ("operations", "ok", "fail", "info", "elections", "leader_changes",
                            "faults_applied", "simulated_ms", "wall_s", "speedup", "trace_records")
                if k in stats_m and (leaders or k not in ("elections", "leader_changes"))]
        out.append('<table class="facts run-stats"><tbody>' + "".join(
            f"<tr><th>{esc(k.replace('_', ' '))}</th><td>{esc(stats_m[k])}</td></tr>" for k in keys)
            + "</tbody></table>")
    return "".join(out)
