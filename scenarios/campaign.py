"""A campaign folder: what a sweep of many seeds ran, found and kept.

Layout (``store/sweeps/<scenario>-<UTC timestamp>/``; ``store/sweeps/latest`` points at
the newest)::

    campaign.json   the plan: scenario, seeds, flaws, extra faults, workers, Ray nodes, start
    scenario.json   the effective scenario every seed ran (extra faults included): any seed
                    reruns with ``splitbrain run <folder>/scenario.json --seed S``
    runs.jsonl      one record per finished seed, appended as each finishes (a sweep that
                    is killed still leaves what it had finished)
    summary.json    detection rate with its 95% interval, false alarms, signatures, slowest
    index.html      the same, self-contained, linking to each saved run's report
    runs/s<seed>/   a normal results folder for each failing seed kept (``splitbrain
                    replay``, ``check`` and ``report`` work on it)

Library code: errors are :class:`~scenarios.results.RunFolderError` (one line naming the
folder); the command line turns them into "exit 3".
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.records import dumps_document
from scenarios.results import RunFolderError, point_latest, store_root, write_run

if TYPE_CHECKING:
    from scenarios.runner import RunOutcome
    from scenarios.spec import Scenario

__all__ = ["CampaignFolder", "SavedCampaign", "load_campaign", "pack_run", "sweeps_root"]

RUNS_DIR = "runs"


def sweeps_root(store: Path | None = None) -> Path:
    return (store or store_root()) / "sweeps"


def pack_run(outcome: RunOutcome) -> bytes:
    """A finished run as a normal results folder, packed (tar.gz) so it can travel back
    from the Ray node that ran it to the driver that keeps the campaign."""
    tmp = tempfile.mkdtemp(prefix="sb-seed-")
    try:
        folder = write_run(outcome, root=Path(tmp))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tf:
            for f in sorted(folder.iterdir()):
                tf.add(f, arcname=f.name)
        return buf.getvalue()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class CampaignFolder:
    """One campaign's folder, written as the campaign goes (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._runs = (path / "runs.jsonl").open("a", encoding="utf-8")

    @classmethod
    def create(cls, scenario: Scenario, plan: dict[str, Any], *, store: Path | None = None) -> CampaignFolder:
        root = sweeps_root(store)
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        try:
            root.mkdir(parents=True, exist_ok=True)
            path = root / f"{scenario.name}-{stamp}"
            path.mkdir()
            (path / "scenario.json").write_text(scenario.to_json() + "\n")
            (path / "campaign.json").write_text(dumps_document(plan))
        except OSError as e:
            raise RunFolderError(f"{root}: cannot write a campaign folder there ({e.strerror or e})") from None
        return cls(path)

    def add(self, record: dict[str, Any], packed: bytes | None = None) -> dict[str, Any]:
        """Keep one finished seed: unpack its results folder (if it brought one) under
        ``runs/s<seed>`` and append its record (with ``dir`` set) to ``runs.jsonl``."""
        if packed is not None:
            record = {**record, "dir": self._unpack(int(record["seed"]), packed)}
        self._runs.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
        self._runs.flush()
        return record

    def set_dir(self, seed: int, packed: bytes) -> str:
        """Keep a results folder for a seed already recorded (saved after the sweep)."""
        return self._unpack(seed, packed)

    def _unpack(self, seed: int, packed: bytes) -> str:
        rel = f"{RUNS_DIR}/s{seed}"
        dest = self.path / rel
        tmp = self.path / RUNS_DIR / f".tmp-s{seed}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tf:
            tf.extractall(tmp, filter="data")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return rel

    def finish(self, runs: list[dict[str, Any]], summary: dict[str, Any], plan: dict[str, Any]) -> None:
        """Write the records again in seed order (with the folders saved after the sweep),
        the summary and the HTML page, and point ``latest`` at this campaign."""
        from analysis.report.campaign import render_campaign

        self._runs.close()
        tmp = self.path / ".runs.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            for r in runs:
                f.write(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n")
        os.replace(tmp, self.path / "runs.jsonl")
        (self.path / "campaign.json").write_text(dumps_document(plan))
        (self.path / "summary.json").write_text(dumps_document(summary))
        (self.path / "index.html").write_text(render_campaign(plan, summary, runs), encoding="utf-8")
        point_latest(self.path.parent, self.path)

    def close(self) -> None:
        if not self._runs.closed:
            self._runs.close()


@dataclass(frozen=True)
class SavedCampaign:
    """A campaign folder read back."""

    path: Path
    plan: dict[str, Any]
    runs: list[dict[str, Any]]
    summary: dict[str, Any] | None


def load_campaign(path: str | Path) -> SavedCampaign:
    p = Path(path)
    if not (p / "campaign.json").is_file():
        raise RunFolderError(f"{p}: not a campaign folder (no campaign.json)")
    try:
        plan = json.loads((p / "campaign.json").read_text())
        runs = list(_read_runs(p / "runs.jsonl"))
        summary = json.loads((p / "summary.json").read_text()) if (p / "summary.json").is_file() else None
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{p}: corrupt JSON ({e.msg})") from None
    return SavedCampaign(p, plan, runs, summary)


def _read_runs(path: Path) -> Iterable[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a killed sweep
                    continue
