"""Terminal output: verdicts in colour, explanations as plain sentences."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

STYLE = {"valid": "bold green", "invalid": "bold red", "unknown": "bold yellow"}
WORD = {"valid": "VALID", "invalid": "INVALID", "unknown": "UNKNOWN"}


def console() -> Console:
    import sys

    # Pipes and CI logs get a wide console: tables must not truncate scenario names.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=True, width=width)


def verdict_text(verdict: str) -> Text:
    return Text(WORD.get(verdict, verdict.upper()), style=STYLE.get(verdict, "bold"))


def print_check(result: dict[str, Any]) -> None:
    c = console()
    head = Text("linearizability ")
    head.append_text(verdict_text(result["verdict"]))
    head.append(f"  model={result['model']}  ops={result['operations']}  states={result['states']}"
                f"  time={result['elapsed_s']:.3f}s")
    if "file" in result:
        head.append(f"  file={result['file']}")
    c.print(head)
    for s in result.get("explanation", []):
        c.print(f"  - {s}")


def print_results(results: list[dict[str, Any]]) -> None:
    c = console()
    for r in results:
        head = Text(f"{r['checker']:<16}")
        head.append_text(verdict_text(r["verdict"]))
        if r["checker"] == "linearizability":
            head.append(f"  model={r['model']}  ops={r['operations']}  states={r['states']}  time={r['elapsed_s']:.2f}s")
        c.print(head)
        for s in r.get("explanation", [])[:8]:
            c.print(f"  - {s}")


def print_run_summary(outcome: Any, run_dir: Any, replay_cmd: str) -> None:
    c = console()
    sc = outcome.scenario
    st = outcome.stats
    flaws = ", ".join(sc.flaws) if sc.flaws else "none (correct design)"
    engine = st.get("engine", "sim")
    c.print(Text(f"scenario {sc.name}  seed={sc.seed}  engine={engine}  flaws={flaws}", style="bold"))
    timing = (f"simulated {st['simulated_ms'] / 1000:.1f}s in {st['wall_s']:.2f}s wall ({st.get('speedup')}x real time)"
              if engine == "sim" else f"ran {st.get('wall_s', 0):.1f}s on real processes")
    c.print(
        f"  {timing}; "
        f"operations: {st['operations']} ({st['ok']} ok, {st['fail']} fail, {st['info']} unknown); "
        f"faults applied: {st['faults_applied']}; elections: {st['elections']}; leader changes: {st['leader_changes']}"
    )
    if st.get("stopped_by_time_limit"):
        c.print(Text("  the time limit stopped the run early: the history was checked as far as it got, and "
                     "the verdict cannot be valid (see time-limit below)", style="yellow"))
    verdict = Text("verdict ")
    verdict.append_text(verdict_text(outcome.verdict))
    c.print(verdict)
    print_results(outcome.results)
    if outcome.coverage:
        c.print("did the faults matter?")
        for line in outcome.coverage[:8]:
            c.print(f"  - {line}")
        if len(outcome.coverage) > 8:
            c.print(f"  - ... and {len(outcome.coverage) - 8} more fault windows (see metrics.json)")
    if run_dir is not None:
        c.print(f"results: {run_dir}")
        report = run_dir / "report.html"
        if report.exists():
            c.print(f"report:  {report}")
    c.print(f"replay:  {replay_cmd}")


def print_isolation(result: dict[str, Any]) -> None:
    """An isolation check: verdict, what it ruled out, then the explanation."""
    c = console()
    head = Text("isolation ")
    head.append_text(verdict_text(result["verdict"]))
    g = result["graph"]
    head.append(
        f"  model={result['model']}  consistency={result['consistency_model']}"
        f"  txns={result['transactions']}  edges={g['edges']}  time={result['elapsed_s']:.3f}s"
    )
    if "file" in result:
        head.append(f"  file={result['file']}")
    c.print(head)
    if result["anomaly_counts"]:
        c.print("  anomalies: " + ", ".join(f"{t} x{n}" for t, n in result["anomaly_counts"].items()))
    for s in result.get("explanation", []):
        c.print(f"  - {s}")


GRADE_STYLE = {"right": "bold green", "wrong": "bold red", "ungraded": "bold yellow"}


def print_prediction(doc: dict[str, Any], progress_line: str) -> None:
    """The graded ``--predict``: ``prediction: right|wrong``, what the run showed, the answer
    and its why, and whether it counted for the lesson."""
    c = console()
    line = Text("prediction: ")
    line.append(doc["grade"], style=GRADE_STYLE.get(doc["grade"], "bold"))
    c.print(line)
    c.print(f"  you predicted {doc['predicted']}; the run: {doc['found']}", markup=False)
    if doc.get("answer"):
        c.print(f"  the question's answer: {doc['answer']}", markup=False)
    if doc.get("why"):
        c.print(f"  why: {doc['why']}", markup=False)
    if progress_line:
        c.print(f"  {progress_line}", markup=False)


def print_diff(base: Any, summary: dict[str, Any], second_dir: Any) -> None:
    """``splitbrain diff``: the change, the first divergence, the verdict change, and per
    checker what its explanation says now."""
    c = console()
    ch = summary["change"]
    c.print(Text(f"diff: {base.name} seed {base.seed}, {ch['text']} ({ch['flag']})", style="bold"))
    for key, what in (("divergence", "first divergence"), ("protocol_divergence", "first protocol divergence")):
        dv = summary.get(key)
        if key == "protocol_divergence" and (dv is None or dv == summary.get("divergence")):
            continue
        if dv is None:
            c.print(f"{what}: none; the two runs are identical event for event")
            continue
        c.print(f"{what} at {dv['t']} ms (trace record {dv['index']}):")
        c.print(f"  first run:  {dv['first_text']}", markup=False)
        c.print(f"  second run: {dv['second_text']}", markup=False)
        if dv.get("shared_text") and key == "divergence":
            c.print(f"  (the last event both runs shared: {dv['shared_text']})", markup=False)
    v = summary["verdict"]
    line = Text("verdict: ")
    line.append_text(verdict_text(v["first"]))
    if v["first"] == v["second"]:
        line.append(" (unchanged)")
    else:
        line.append(" -> ")
        line.append_text(verdict_text(v["second"]))
    c.print(line)
    a = summary["anomaly_tags"]
    if a["first"] or a["second"]:
        c.print(f"anomalies: {', '.join(a['first']) or 'none'} -> {', '.join(a['second']) or 'none'}")
    for row in summary["checkers"]:
        va, vb = row["verdict"]
        head = Text(f"{row['checker']}: ")
        head.append_text(verdict_text(va))
        if va == vb:
            head.append(" (unchanged)")
            c.print(head)
            continue
        head.append(" -> ")
        head.append_text(verdict_text(vb))
        c.print(head)
        before, after = row["headline"]
        if before:
            c.print(f"  before: {before}", markup=False)
        if after:
            c.print(f"  after:  {after}", markup=False)
    note = "" if summary.get("reproduced") else " (rerun: the saved folder no longer replays byte for byte)"
    c.print(f"first run:  {summary['first_run']}{note}")
    c.print(f"second run: {second_dir}")
    report = second_dir / "report.html"
    if report.exists():
        marked = "; the divergence is marked on the timeline" if summary.get("divergence") else ""
        c.print(f"report:     {report} (links the first run{marked})")


def print_why(survey: Any, run_dir: Any) -> None:
    """``splitbrain why``: the run, every candidate change as a row, and the conclusions."""
    from rich.table import Table

    c = console()
    sc = survey.scenario
    seeds = survey.seeds
    many = len(seeds) > 1
    head = Text(f"why: {sc.name} seed {sc.seed}" + (f" (and seeds {seeds[1]}..{seeds[-1]})" if many else "") + " -- ",
                style="bold")
    head.append_text(verdict_text(survey.base.verdict))
    if survey.base.anomalies:
        head.append(f" ({', '.join(survey.base.anomalies)})")
    c.print(head)
    ask = ("each change alone, from the same seed"
           + (f" (verdict: at seed {sc.seed}; invalid at: how many of seeds {seeds[0]}..{seeds[-1]})" if many else "")
           if survey.failing
           else "the run passes; would it catch each flaw, switched on alone?")
    c.print(ask)
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("change")
    t.add_column("verdict")
    if many:
        t.add_column("invalid at")
    t.add_column("anomalies")
    t.add_column("parts from the run at")
    t.add_column("diff flags")
    if many:
        t.add_row("the run as it was", verdict_text(survey.base.verdict), f"{survey.base.invalid_count()}/{len(seeds)}",
                  ", ".join(survey.base.anomalies) or "-", "", "")
    for tr in survey.trials():
        cells: list[Any] = [Text(tr.text), verdict_text(tr.verdict)]
        if many:
            cells.append(f"{tr.invalid_count()}/{len(seeds)}")
        cells += [", ".join(tr.anomalies) or "-",
                  "-" if tr.divergence_ms is None else f"{tr.divergence_ms} ms",
                  Text(tr.flag or "(not one change)")]
        t.add_row(*cells)
    c.print(t)
    for line in survey.conclusions():
        c.print(f"- {line}", markup=False)
    c.print(f"see one change event by event (both runs saved, the report marks where they part): "
            f"splitbrain diff {run_dir} FLAGS", markup=False)
