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
