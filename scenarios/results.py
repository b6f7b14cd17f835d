"""Results folders: every run is a folder that can be re-read, re-checked and replayed.

Layout (``store/<scenario>/<UTC timestamp>-s<seed>/``; ``store/latest`` points at the newest)::

    scenario.json   the effective scenario (seed, flaws, faults...): everything to rerun
    plugins/        copies of the plugin files the run loaded (scenario.json names them)
    history.jsonl   client operations, native history format (docs/history-format.md)
    trace.jsonl.gz  messages, timers, role changes, faults: one JSON record per line,
                    gzipped (every reader takes it, or a plain trace.jsonl, as it is)
    results.json    every checker's verdict, evidence and explanation
    metrics.json    run statistics (counts, leader changes, speed) and fault coverage
    prediction.json the learner's prediction and its grade (``run --predict``), if any
    diff.json       for the second run of ``splitbrain diff``: the change, the first run, the
                    first divergence and what the change did to the verdict
    why.json        added later by ``splitbrain why``: which fault mattered, which change fixes it
    report.html     a self-contained report (when the report module is present)

A run is written to a hidden temporary folder and renamed into place when complete, so an
interrupted run never leaves a half-written folder behind.  Every file is formatted by
:mod:`analysis.records`, the one writer the golden hashes and ``replay`` compare against.

This is library code: errors are :class:`RunFolderError` (one line naming the folder);
the command line turns them into "exit 3".
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.records import (
    RecordsError,
    dumps_document,
    history_records,
    read_jsonl,
    stored,
    write_jsonl,
)

if TYPE_CHECKING:
    from scenarios.runner import RunOutcome
    from scenarios.spec import Scenario

__all__ = [
    "REQUIRED",
    "RunFolderError",
    "SavedRun",
    "check_store",
    "load_run",
    "recheck_run",
    "resolve_run",
    "store_root",
    "write_run",
]

REQUIRED = ("scenario.json", "history.jsonl", "trace.jsonl", "results.json")
"""The files of a results folder (``trace.jsonl`` may be stored gzipped: :data:`TRACE_GZ`)."""
TRACE_GZ = "trace.jsonl.gz"
"""Where a results folder keeps its trace: gzipped, a tenth of the bytes, read transparently
by every reader (:func:`analysis.records.read_jsonl`; gunzip it to read it by hand)."""


class RunFolderError(ValueError):
    """A results folder that is missing, incomplete or corrupt (names the folder or file)."""


def store_root() -> Path:
    """Where results folders go: ``$SPLITBRAIN_STORE``, else ``./store``."""
    return Path(os.environ.get("SPLITBRAIN_STORE", "store"))


def check_store(root: Path | None = None) -> Path:
    """The results store, made if missing and checked writable *before* a run spends its
    time: one :class:`RunFolderError` line naming the folder otherwise."""
    root = root or store_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as e:
        raise RunFolderError(f"{root}: cannot write results folders there ({e.strerror or e})") from None
    return root


def write_run(outcome: RunOutcome, *, root: Path | None = None, render: bool = True,
              extra: Mapping[str, Any] | None = None) -> Path:
    """Write a results folder for a finished run and point ``latest`` at it.

    ``extra`` maps more file names (``prediction.json``, ``diff.json``) to documents written
    beside the others before the report is rendered, so the report can show them."""
    try:
        return _write_run(outcome, root or store_root(), render, extra)
    except OSError as e:
        where = e.filename or root or store_root()
        raise RunFolderError(f"{where}: cannot write the results folder ({e.strerror or e})") from None


def _write_run(outcome: RunOutcome, root: Path, render: bool, extra: Mapping[str, Any] | None) -> Path:
    sc = outcome.scenario
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    parent = root / sc.name
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / f"{stamp}-s{sc.seed}"
    tmp = parent / f".tmp-{stamp}-s{sc.seed}"
    tmp.mkdir()
    try:
        (tmp / "scenario.json").write_text(_scenario_json(sc, tmp))
        write_jsonl(tmp / "history.jsonl", history_records(outcome.events))
        write_jsonl(tmp / TRACE_GZ, outcome.trace)
        results = {"verdict": outcome.verdict, "checkers": outcome.results}
        (tmp / "results.json").write_text(dumps_document(results))
        metrics = {"stats": outcome.stats, "coverage": outcome.coverage}
        (tmp / "metrics.json").write_text(dumps_document(metrics))
        for name, doc in (extra or {}).items():
            if "/" in name or not name.endswith(".json") or name in REQUIRED or name == "metrics.json":
                raise ValueError(f"write_run: {name!r} is not an extra results file name")
            (tmp / name).write_text(dumps_document(doc))
        if render:
            _maybe_render(tmp)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(root, final)
    return final


def _scenario_json(sc: Scenario, folder: Path) -> str:
    """The scenario as the folder keeps it: its plugin files copied into ``plugins/`` and
    named relative to the folder, so the folder re-checks and replays wherever it goes."""
    d = sc.to_dict()
    if sc.plugins:
        from scenarios.plugins import save_plugins

        d["plugins"] = save_plugins(sc.plugins, folder)
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def _maybe_render(folder: Path) -> None:
    try:
        from analysis.report.html import render_folder
    except ImportError:
        return
    render_folder(folder)


def point_latest(root: Path, target: Path) -> None:
    """Make ``root/latest`` point at ``target`` atomically (a symlink swapped in by rename),
    or write ``root/LATEST`` holding its path where the filesystem has no symlinks."""
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
                raise RunFolderError(f"no runs yet: {store_root()}/latest does not exist (run a scenario first)")
    else:
        p = Path(path)
    if not p.exists():
        raise RunFolderError(f"{p}: no such run folder")
    if not p.is_dir():
        raise RunFolderError(f"{p}: not a run folder (expected a directory with {', '.join(REQUIRED)})")
    missing = [f for f in REQUIRED if not stored(p / f).is_file()]
    if missing:
        raise RunFolderError(f"{p}: incomplete run folder, missing {', '.join(missing)}")
    return p


@dataclass(frozen=True)
class SavedRun:
    """A results folder read back: what a re-check, a replay or a report needs."""

    dir: Path
    scenario: Scenario
    results: dict[str, Any]
    metrics: dict[str, Any]
    trace: list[dict[str, Any]]
    history_path: Path

    @property
    def engine(self) -> str:
        """The engine that produced the run (``sim`` for folders older than the field)."""
        return str(self.metrics.get("stats", {}).get("engine", "sim"))


def load_run(path: str | Path | None) -> SavedRun:
    p = resolve_run(path)
    from scenarios.spec import drop_legacy, from_dict

    try:
        sc_raw = drop_legacy(json.loads((p / "scenario.json").read_text()))
        results = json.loads((p / "results.json").read_text())
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{p}: corrupt JSON ({e.msg})") from None
    metrics: dict[str, Any] = {}
    if (p / "metrics.json").is_file():
        try:
            metrics = json.loads((p / "metrics.json").read_text())
        except json.JSONDecodeError:
            metrics = {}
    try:
        trace = read_jsonl(p / "trace.jsonl")
    except RecordsError as e:
        raise RunFolderError(str(e)) from None
    return SavedRun(
        dir=p,
        scenario=from_dict(sc_raw, source=str(p / "scenario.json"), base=p.resolve()),
        results=results,
        metrics=metrics,
        trace=trace,
        history_path=p / "history.jsonl",
    )


def recheck_run(path: str | Path | None, *, timeout_s: float | None = None) -> tuple[SavedRun, list[dict[str, Any]]]:
    """Run a saved run's checkers again on its history and trace (``splitbrain check DIR``)."""
    from analysis.formats import read_history
    from scenarios.runner import check_run, time_limit_result

    run = load_run(path)
    sc = run.scenario
    history = read_history(run.history_path, "jsonl")
    results = check_run(sc, list(history.events), run.trace, timeout_s=timeout_s or sc.time_limit_s)
    cut = time_limit_result(sc, run.metrics.get("stats", {}))
    if cut is not None:  # the history still ends where the limit stopped the run
        results.append(cut)
    return run, results
