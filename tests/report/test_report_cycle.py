"""The report of a transactional run: the smallest isolation cycle drawn and linked to the
timeline; a bank run's first wrong read marked on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.report.html import render_folder
from scenarios.results import write_run
from scenarios.runner import run_scenario
from scenarios.spec import catalog
from tests.report.test_report_html import parse


def _run(name: str, tmp_path: Path, **kw: object) -> Path:
    sc = catalog()[name].with_overrides(duration_ms=1500, faults=(), **kw)
    return write_run(run_scenario(sc), root=tmp_path, render=False)


@pytest.mark.parametrize("name", ["txn-write-skew", "txn-read-skew"])
def test_the_smallest_cycle_is_drawn_and_linked_to_the_timeline(name: str, tmp_path: Path) -> None:
    folder = _run(name, tmp_path)
    html, page = parse(render_folder(folder))
    assert "cycle" in page.ids and not page.ids.get("counterexample")
    assert '<a href="#cycle">Isolation cycle</a>' in html
    svgs = page.with_class("isolation-cycle")
    assert len(svgs) == 1
    boxes = [a["data-op-id"] for a in page.with_class("txn")]
    assert len(boxes) >= 2
    for op in boxes:
        bar = page.ids[f"op-{op}"]  # the close-up's bar of the same operation ...
        assert "hl-cycle" in bar["class"].split() and bar["data-op"] == op
        assert f'<a href="#op-{op}">op {op}</a>' in html  # ... linked from the cycle's table
    steps = page.with_class("step")
    assert len(steps) == len(boxes) and all(any(k in s["class"] for k in ("rw", "ww", "wr", "process", "realtime"))
                                            for s in steps)
    assert "[data-op-id]" in html  # a click on a box opens the operation's details
    assert "in the isolation cycle" in html and "This is G" in html


def test_a_valid_transactional_run_has_no_cycle_section(tmp_path: Path) -> None:
    html, page = parse(render_folder(_run("txn-write-skew-correct", tmp_path)))
    assert "cycle" not in page.ids and not page.with_class("isolation-cycle")
    assert "txn r k0" in html  # transactions are described by their micro-ops


def test_the_first_wrong_bank_read_is_marked(tmp_path: Path) -> None:
    html, page = parse(render_folder(_run("txn-bank-lost-update", tmp_path)))
    assert page.with_class("marker")
    assert "wrong-total" in "".join(page.text)
    assert "read balances (total" in html and "transfer a" in html
