"""Counterfactual runs: the same simulator run twice, once with exactly one change.

``splitbrain diff RUN_DIR --flip-flaw read_from_any_node`` answers "which change mattered?"
without a learner editing TOML and comparing two reports by eye.  Both runs come from the
simulator at the same seed, so everything up to the first effect of the change is
identical, event for event; the first record where the two traces differ is where the
change first touched the protocol (:func:`first_divergence`), and the checker results say
what it did to the verdict (:func:`compare`).

The first run is rerun too (not read back from its folder): the comparison must be between
two runs of this code.  When the rerun reproduces the saved history and trace byte for
byte, the saved folder *is* the first run; otherwise the rerun is saved beside it and the
summary says the code changed since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.anomalies import tags_of
from analysis.records import dumps_record, history_records
from scenarios.changes import Change, apply_change
from scenarios.results import SavedRun
from scenarios.runner import RunOutcome, run_scenario
from scenarios.spec import Scenario, ScenarioError

__all__ = [
    "WIRE_KINDS",
    "Comparison",
    "DiffRun",
    "Divergence",
    "compare",
    "describe_record",
    "first_divergence",
    "refuse_non_sim",
    "run_diff",
]

WIRE_KINDS = frozenset({"send", "deliver", "drop", "dup", "store", "link"})
"""Records about the wire and the disk; the rest are protocol and client events."""


@dataclass(frozen=True)
class Divergence:
    """Where two traces first differ: the record index, the simulated time, both records
    (``None`` when one trace ended) and the last record they shared."""

    index: int
    t: int
    first: dict[str, Any] | None
    second: dict[str, Any] | None
    shared: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "t": self.t,
            "first": self.first,
            "second": self.second,
            "first_text": describe_record(self.first) if self.first else "(the run had ended)",
            "second_text": describe_record(self.second) if self.second else "(the run had ended)",
            "shared_text": describe_record(self.shared) if self.shared else None,
        }


def first_divergence(a: list[dict[str, Any]], b: list[dict[str, Any]], *,
                     protocol_only: bool = False) -> Divergence | None:
    """The first record at which traces ``a`` and ``b`` differ (``None``: identical).

    ``protocol_only`` skips wire records first (sends, deliveries, drops, disk writes), so
    the answer is the first *protocol* event that differs: a vote, a role, an apply, a read,
    a client's outcome, a fault.
    """
    if protocol_only:
        a = [r for r in a if r.get("kind") not in WIRE_KINDS]
        b = [r for r in b if r.get("kind") not in WIRE_KINDS]
    shared: dict[str, Any] | None = None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return Divergence(i, min(_t(x), _t(y)), x, y, shared)
        shared = x
    if len(a) == len(b):
        return None
    i = min(len(a), len(b))
    rest = a[i] if len(a) > i else b[i]
    return Divergence(i, _t(rest), a[i] if len(a) > i else None, b[i] if len(b) > i else None, shared)


def _t(r: dict[str, Any]) -> int:
    return int(r.get("t", 0) or 0)


# --- records in protocol terms ----------------------------------------------------------------

_READ_MODES = {
    "read_index": "after a ReadIndex round",
    "lease": "from its lease, without a round trip",
    "leader_local": "from its own state, without confirming it still leads",
    "any_node": "from its own state although it is not the leader",
}


_SENTENCES: dict[str, str] = {
    "role": "{node} becomes {role} of term {term}",
    "vote": "{node} votes for {candidate} in term {term}",
    "commit": "{node} commits up to index {index} (term {term})",
    "ack": "{node} tells client {client_id} its {op} (seq {seq}) is done",
    "truncate": "{node} truncates its log from index {index} ({removed} entries removed)",
    "crash": "{node} crashes",
    "restart": "{node} restarts",
    "restarted": "{node} serves again",
    "pause": "{node} freezes",
    "resume": "{node} wakes up",
    "clock": "{node}'s clock now runs at {rate}x (offset {offset_ms} ms)",
    "link": "the link {src} -> {dst}: {op}",
}
"""Record kinds told by one fixed sentence over the record's fields (a missing field reads
``None``, as the record's reader would see it)."""

_FAULT_VERBS = {"fault-start": "starts", "fault-end": "ends", "fault-skipped": "finds nothing to hit"}


class _Fields(dict[str, Any]):
    """A record's fields for :meth:`str.format_map`: a field it lacks is ``None``."""

    def __missing__(self, key: str) -> None:
        return None


def describe_record(r: dict[str, Any]) -> str:
    """One trace record as a sentence about the protocol (``n3 votes for n1 in term 2``)."""
    k = str(r.get("kind", "?"))
    n = r.get("node")
    sentence = _SENTENCES.get(k)
    if sentence is not None:
        return sentence.format_map(_Fields(r))
    if k in ("send", "deliver", "drop", "dup"):
        what = _message(r)
        src, dst = r.get("src"), r.get("dst")
        if k == "send":
            return f"{src} sends {what} to {dst}"
        if k == "deliver":
            return f"{what} from {src} arrives at {dst}"
        if k == "dup":
            return f"the network duplicates {what} from {src} to {dst}"
        return f"{what} from {src} to {dst} is dropped ({r.get('reason', 'lost')})"
    if k == "election":
        return f"{n} starts {'a pre-vote' if r.get('prevote') else 'an election'} for term {r.get('term')}"
    if k == "apply":
        cmd = r.get("command")
        if isinstance(cmd, dict):
            body = f"{cmd.get('op')} {cmd.get('key')}" + (f" = {cmd.get('value')}" if cmd.get("value") is not None else "")
            body += f" (client {cmd.get('client_id')} seq {cmd.get('seq')})"
        else:
            body = "a no-op"
        return f"{n} applies entry {r.get('index')} of term {r.get('term')}: {body}"
    if k == "read":
        mode = r.get("mode")
        how = "" if mode is None else " " + _READ_MODES.get(str(mode), f"({mode} read)")
        value = f" with {r['value']}" if "value" in r and mode is None else ""
        return f"{n} answers a read of {r.get('key')}{value}{how}"
    if k == "client-invoke":
        v = r.get("value")
        return f"client {r.get('client')} invokes {r.get('f')} {r.get('key')}" + (f" {v}" if v is not None else "")
    if k == "client-complete":
        v = r.get("value")
        out = f"{r.get('type')}" + (f", value {v}" if v is not None and r.get("type") == "ok" else "")
        by = f" from {r['node']}" if r.get("node") else ""
        return f"client {r.get('client')}'s {r.get('f')} {r.get('key')} ends {out}{by} after {r.get('attempts')} attempt(s)"
    if k in _FAULT_VERBS:
        return f"fault {_FAULT_VERBS[k]}: {r.get('description', r.get('fault'))}"
    if k == "store":
        return f"{n} writes {r.get('ops')} record(s) to disk{' and syncs' if r.get('sync') else ' (not synced)'}"
    skip = {"kind", "t", "node"}
    facts = ", ".join(f"{key} {r[key]}" for key in sorted(r) if key not in skip and _small(r[key]))[:160]
    return f"{n + ': ' if n else ''}{k}" + (f" ({facts})" if facts else "")


def _message(r: dict[str, Any]) -> str:
    msg = str(r.get("msg", "message"))
    extra = []
    if r.get("term") is not None:
        extra.append(f"term {r['term']}")
    if r.get("op") is not None:
        extra.append(str(r["op"]))
    if r.get("seq") is not None:
        extra.append(f"seq {r['seq']}")
    if r.get("status") is not None:
        extra.append(str(r["status"]))
    return msg + (f" ({', '.join(extra)})" if extra else "")


def _small(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) and len(str(v)) <= 40


# --- comparing two runs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """What one change did: the verdicts, the anomaly words, and per checker what its
    explanation says now that it did not before."""

    verdict: tuple[str, str]
    anomalies: tuple[list[str], list[str]]
    checkers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": {"first": self.verdict[0], "second": self.verdict[1]},
                "anomaly_tags": {"first": self.anomalies[0], "second": self.anomalies[1]},
                "checkers": self.checkers}


def compare(first: RunOutcome, second: RunOutcome) -> Comparison:
    """The verdict change and, per checker, the sentences that went away and appeared."""
    rows = []
    before = {str(r["checker"]): r for r in first.results}
    after = {str(r["checker"]): r for r in second.results}
    for name in [*before, *(n for n in after if n not in before)]:
        a, b = before.get(name), after.get(name)
        va = a["verdict"] if a else "absent"
        vb = b["verdict"] if b else "absent"
        ea = list(a.get("explanation", [])) if a else []
        eb = list(b.get("explanation", [])) if b else []
        rows.append({
            "checker": name,
            "verdict": [va, vb],
            "anomaly_tags": [list(a.get("anomaly_tags", [])) if a else [], list(b.get("anomaly_tags", [])) if b else []],
            "gone": [s for s in ea if s not in eb][:3],
            "new": [s for s in eb if s not in ea][:3],
            "headline": [ea[0] if ea else "", eb[0] if eb else ""],
        })
    return Comparison((first.verdict, second.verdict), (tags_of(first.results), tags_of(second.results)), rows)


# --- the whole diff -----------------------------------------------------------------------------


@dataclass
class DiffRun:
    """Both runs, where the first came from, and what differs."""

    base: Scenario
    changed: Scenario
    change: Change
    first: RunOutcome
    second: RunOutcome
    reproduced: bool
    """The rerun of the first run matched its saved folder byte for byte."""
    divergence: Divergence | None
    protocol_divergence: Divergence | None
    comparison: Comparison

    def summary(self, first_dir: Path, second_parent: Path | None) -> dict[str, Any]:
        """What ``diff.json`` in the second run's folder holds; ``second_parent`` is the folder
        the second run is written into (its report links the first run's relative to it)."""
        import os

        out: dict[str, Any] = {
            "change": {"kind": self.change.kind, "flag": self.change.flag(), "text": self.change.describe(self.base)},
            "first_run": str(first_dir),
            "reproduced": self.reproduced,
            "divergence": self.divergence.to_dict() if self.divergence else None,
            "protocol_divergence": self.protocol_divergence.to_dict() if self.protocol_divergence else None,
            **self.comparison.to_dict(),
        }
        if second_parent is not None:
            rel = os.path.relpath(first_dir.resolve() / "report.html", second_parent.resolve())
            out["first_report"] = os.path.join("..", rel)
        return out

    def save(self, run: SavedRun, root: Path | None = None) -> tuple[dict[str, Any], Path]:
        """Write both runs (the saved folder stands for the first when the rerun reproduced
        it) and return the summary and the second run's folder, which holds ``diff.json``."""
        from scenarios.results import store_root, write_run

        root = root or store_root()
        first_dir = run.dir.resolve() if self.reproduced else write_run(self.first, root=root)
        summary = self.summary(first_dir, root / self.changed.name)
        second_dir = write_run(self.second, root=root, extra={"diff.json": summary})
        summary["second_run"] = str(second_dir)
        return summary, second_dir


def refuse_non_sim(run: SavedRun, command: str = "diff") -> None:
    """A counterfactual needs the simulator's determinism: a real run is refused with the
    command that reruns it in the simulator (and then ``command`` on that rerun)."""
    if run.engine == "sim":
        return
    from shlex import join

    sc = run.scenario
    cmd = ["splitbrain", "run", sc.source or sc.name, "--seed", str(sc.seed)]
    for f in sc.flaws:
        cmd += ["--flaw", f]
    if not sc.flaws:
        cmd.append("--no-flaws")
    raise ScenarioError(f"{run.dir}: this run used the {run.engine} engine (real processes, real time), which "
                        f"cannot be rerun event for event; {command} compares simulator runs. Rerun it in "
                        f"the simulator first: {join(cmd)}, then: splitbrain {command} store/latest ...")


def run_diff(run: SavedRun, change: Change) -> DiffRun:
    """Rerun ``run`` as it was and with ``change``; find where and how they differ."""
    refuse_non_sim(run)
    base = run.scenario
    changed = apply_change(base, change)
    first = run_scenario(base)
    second = run_scenario(changed)
    reproduced = _same_as_saved(run, first)
    return DiffRun(
        base=base,
        changed=changed,
        change=change,
        first=first,
        second=second,
        reproduced=reproduced,
        divergence=first_divergence(first.trace, second.trace),
        protocol_divergence=first_divergence(first.trace, second.trace, protocol_only=True),
        comparison=compare(first, second),
    )


def _same_as_saved(run: SavedRun, rerun: RunOutcome) -> bool:
    saved = run.history_path.read_bytes()
    fresh = "".join(dumps_record(r) + "\n" for r in history_records(rerun.events)).encode()
    if saved != fresh:
        return False
    return bool(run.trace == [dict(r) for r in _roundtrip(rerun.trace)])


def _roundtrip(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import json

    return [json.loads(dumps_record(r)) for r in trace]
