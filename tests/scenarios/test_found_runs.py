"""Runs that ``splitbrain explore --no-flaws`` found failing on a correct twin, kept as
scenario files under ``found/``: each was a real bug of the design or the engine (the
file's description says which), and each must now pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.runner import run_scenario
from scenarios.spec import load

FOUND = sorted((Path(__file__).parent / "found").glob("*.toml"))


@pytest.mark.parametrize("path", FOUND, ids=[p.stem for p in FOUND])
def test_a_run_explore_found_on_a_correct_twin_now_passes(path: Path) -> None:
    sc = load(str(path))
    assert sc.expect == "valid" and not sc.flaws
    out = run_scenario(sc, trace_messages=False)
    assert out.verdict == "valid", [r["explanation"][:2] for r in out.results]
    assert not any(r.get("unsettled") for r in out.results), "the run must be judged, not merely unsettled"
