"""Golden hashes: every catalog scenario, run in the simulator at its own seed, gives the
same bytes as when the hashes were recorded.

Refactors of the cores, the simulator, the runner or the checkers must not change what a
run produces: the same seed gives the same ``history.jsonl``, ``trace.jsonl`` and
``results.json`` (written exactly as a results folder writes them).  Wall-clock fields
(``elapsed_s``, the only ones in ``results.json``) are left out of the hash.

A change that is *meant* to change behaviour regenerates the file and says why in its
commit::

    SPLITBRAIN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/scenarios/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from analysis.records import dumps_record, history_records, json_default
from scenarios.runner import run_scenario
from scenarios.spec import catalog

GOLDEN = Path(__file__).with_name("golden_hashes.json")
UPDATE = os.environ.get("SPLITBRAIN_UPDATE_GOLDEN") == "1"
WALL_CLOCK_KEYS = frozenset({"elapsed_s"})

SIM_SCENARIOS = sorted(n for n, s in catalog().items() if "sim" in s.engines)


def _strip_wall_clock(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_wall_clock(v) for k, v in obj.items() if k not in WALL_CLOCK_KEYS}
    if isinstance(obj, list):
        return [_strip_wall_clock(v) for v in obj]
    return obj


def run_hashes(name: str) -> dict[str, str]:
    """sha256 of the three files a results folder holds for ``name`` at its catalog seed."""
    out = run_scenario(catalog()[name])
    history = "".join(dumps_record(r) + "\n" for r in history_records(out.events))
    trace_hash = hashlib.sha256()
    for rec in out.trace:
        trace_hash.update((dumps_record(rec) + "\n").encode())
    results = {"verdict": out.verdict, "checkers": out.results}
    results_text = json.dumps(_strip_wall_clock(json.loads(json.dumps(results, default=json_default))),
                              indent=2, sort_keys=True) + "\n"
    return {
        "history.jsonl": hashlib.sha256(history.encode()).hexdigest(),
        "trace.jsonl": trace_hash.hexdigest(),
        "results.json": hashlib.sha256(results_text.encode()).hexdigest(),
    }


def _recorded() -> dict[str, dict[str, str]]:
    if not GOLDEN.is_file():
        return {}
    data: dict[str, dict[str, str]] = json.loads(GOLDEN.read_text())
    return data


def test_every_sim_scenario_has_recorded_hashes() -> None:
    if UPDATE:
        pytest.skip("regenerating")
    missing = sorted(set(SIM_SCENARIOS) - set(_recorded()))
    assert not missing, f"no golden hashes for {missing}; regenerate with SPLITBRAIN_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", SIM_SCENARIOS)
def test_same_bytes_as_recorded(name: str) -> None:
    got = run_hashes(name)
    if UPDATE:
        data = _recorded()
        data[name] = got
        GOLDEN.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
        return
    want = _recorded().get(name)
    assert want is not None, f"{name}: no recorded hashes"
    diff = [f for f in want if want[f] != got.get(f)]
    assert not diff, f"{name}: {', '.join(diff)} changed (recorded {[want[f][:12] for f in diff]}, now {[got[f][:12] for f in diff]})"
