"""Results folders: every run is a folder that can be re-read, re-checked and replayed.

Layout (``store/<scenario>/<UTC timestamp>-s<seed>/``; ``store/latest`` points at the newest)::

    scenario.json   the effective scenario (seed, flaws, faults...): everything to rerun
    history.jsonl   client operations, native history format (docs/history-format.md)
    trace.jsonl     messages, timers, role changes, faults: one JSON record per line
    results.json    every checker's verdict, evidence and explanation
    metrics.json    run statistics (counts, leader changes, speed) and fault coverage
    report.html     a self-contained report (when the report module is present)

A run is written to a hidden temporary folder and renamed into place when complete, so an
interrupted run never leaves a half-written folder behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from splitbrain.errors import UsageError

REQUIRED = ("scenario.json", "history.jsonl", "trace.jsonl", "results.json")


def store_root() -> Path:
    return Path(os.environ.get("SPLITBRAIN_STORE", "store"))


def dumps_record(rec: dict[str, Any]) -> str:
    """Byte-stable JSON for one record (sorted keys, compact separators)."""
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), default=json_default)


def json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=repr)
    if isinstance(o, tuple):
        return list(o)
    return repr(o)


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(dumps_record(r))
            f.write("\n")


def history_records(events: Iterable[Any]) -> list[dict[str, Any]]:
    from analysis.explain import _jsonable

    out = []
    for e in events:
        r: dict[str, Any] = {"process": e.process, "type": e.type, "f": e.f, "value": _jsonable(e.value)}
        if e.key is not None:
            r["key"] = e.key
        if e.time is not None:
            r["time"] = e.time
        out.append(r)
    return out


def write_run(outcome: Any, *, root: Path | None = None, render: bool = True) -> Path:
    """Write a results folder for a finished run and point ``latest`` at it."""
    root = root or store_root()
    sc = outcome.scenario
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    parent = root / sc.name
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / f"{stamp}-s{sc.seed}"
    tmp = parent / f".tmp-{stamp}-s{sc.seed}"
    tmp.mkdir()
    try:
        (tmp / "scenario.json").write_text(sc.to_json() + "\n")
        write_records(tmp / "history.jsonl", history_records(outcome.events))
        write_records(tmp / "trace.jsonl", outcome.trace)
        results = {"verdict": outcome.verdict, "checkers": outcome.results}
        (tmp / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=json_default) + "\n")
        metrics = {"stats": outcome.stats, "coverage": outcome.coverage}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=json_default) + "\n")
        if render:
            _maybe_render(tmp)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_latest(root, final)
    return final


def _maybe_render(folder: Path) -> None:
    try:
        from analysis.report.html import render_folder
    except ImportError:
        return
    render_folder(folder)


def _point_latest(root: Path, target: Path) -> None:
    link = root / "latest"
    tmp = root / ".latest.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target.resolve())
        os.replace(tmp, link)
    except OSError:  # filesystems without symlinks: write a pointer file instead
        (root / "LATEST").write_text(str(target.resolve()) + "\n")


def resolve_run(path: str | Path | None) -> Path:
    """A run folder from a path, or the latest run when none is given."""
    if path is None:
        p = store_root() / "latest"
        if not p.exists():
            pointer = store_root() / "LATEST"
            if pointer.is_file():
                p = Path(pointer.read_text().strip())
            else:
                raise UsageError(f"no runs yet: {store_root()}/latest does not exist (run a scenario first)")
    else:
        p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such run folder")
    if not p.is_dir():
        raise UsageError(f"{p}: not a run folder (expected a directory with {', '.join(REQUIRED)})")
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    if missing:
        raise UsageError(f"{p}: incomplete run folder, missing {', '.join(missing)}")
    return p


def read_records(path: Path) -> list[dict[str, Any]]:
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise UsageError(f"{path}:{n}: expected a JSON object")
            out.append(rec)
    return out


def load_run(path: str | Path | None) -> dict[str, Any]:
    p = resolve_run(path)
    from scenarios.spec import from_dict

    try:
        sc_raw = json.loads((p / "scenario.json").read_text())
        results = json.loads((p / "results.json").read_text())
    except json.JSONDecodeError as e:
        raise UsageError(f"{p}: corrupt JSON ({e.msg})") from None
    metrics: dict[str, Any] = {}
    if (p / "metrics.json").is_file():
        try:
            metrics = json.loads((p / "metrics.json").read_text())
        except json.JSONDecodeError:
            metrics = {}
    return {
        "dir": p,
        "scenario": from_dict(sc_raw, source=str(p / "scenario.json")),
        "results": results,
        "metrics": metrics,
        "trace": read_records(p / "trace.jsonl"),
        "history_path": p / "history.jsonl",
    }


def recheck(path: Path, *, as_json: bool = False, timeout_s: float | None = None) -> int:
    """``splitbrain check RUN_DIR``: re-run the checkers on a saved run."""
    from analysis.formats import read_history
    from scenarios.runner import check_run
    from splitbrain.errors import worst_exit

    run = load_run(path)
    sc = run["scenario"]
    history = read_history(run["history_path"], "jsonl")
    results = check_run(sc, list(history.events), run["trace"], timeout_s=timeout_s or sc.time_limit_s)
    if as_json:
        print(json.dumps({"dir": str(run["dir"]), "checkers": results}, indent=2, sort_keys=True, default=json_default))
    else:
        from splitbrain.terminal import print_results

        print_results(results)
    return worst_exit([r["verdict"] for r in results])
