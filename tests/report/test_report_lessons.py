"""Report wording on recorded runs: the failure first and counted, passing checks apart,
role-aware lanes without Raft furniture for sagas and the pipeline, and a replay command
that names the scenario file a run came from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.report.html import render_folder
from scenarios.results import write_run
from scenarios.runner import run_scenario
from scenarios.spec import load


def _report(name: str, root: Path) -> str:
    folder = write_run(run_scenario(load(name)), root=root, render=False)
    return render_folder(folder).read_text(encoding="utf-8")


def _words(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    end = page.index("</div>", start)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start:end]))


def test_saga_report_leads_with_counted_failures_and_role_lanes(tmp_path: Path) -> None:
    page = _report("consumer-crash-before-ack", tmp_path)
    words = _words(page, "explanation")
    assert re.search(r"Something broke\. \d of 3 checkers found violations: delivery \(\d+: ", words), words
    assert "Passed:" in words  # the checkers that held, in their own paragraph
    assert words.index("Something broke") < words.index("Passed:")
    for lane in ("n1 broker", "n2 orchestrator", "n3 flight", "n4 hotel", "n5 payment"):
        assert f">{lane}</text>" in page
    assert "leader (colour per term)" not in page
    assert "<th>elections</th>" not in page and "no election happened" not in page
    assert "these nodes elect no leader" in page


def test_pipeline_lanes_name_the_pipeline_roles(tmp_path: Path) -> None:
    page = _report("pipeline-worker-crash-mid-batch", tmp_path)
    for lane in ("n1 broker", "n2 docstore", "n3 worker", "n4 worker", "n5 vector store"):
        assert f">{lane}</text>" in page
    assert "leader (colour per term)" not in page


def test_raft_report_keeps_its_terms(tmp_path: Path) -> None:
    page = _report("raft-split-brain-reads", tmp_path)
    assert "leader (colour per term)" in page and "<th>elections</th>" in page
    assert ">n1</text>" in page


@pytest.mark.parametrize("from_file", [True, False])
def test_replay_command_names_the_file_a_run_came_from(tmp_path: Path, from_file: bool) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nextends = "raft-leader-partition"\nsummary = "s"\nduration_ms = 2000\n')
    sc = load(str(path) if from_file else "raft-leader-partition").with_overrides(duration_ms=2000)
    folder = write_run(run_scenario(sc), root=tmp_path / "store", render=False)
    page = render_folder(folder).read_text(encoding="utf-8")
    cmd = re.search(r'<code id="replay-cmd">([^<]*)</code>', page)
    assert cmd is not None
    want = f"splitbrain run {path}" if from_file else "splitbrain run raft-leader-partition"
    assert cmd.group(1).startswith(want + " --seed ")
