"""A small run's report lists its history top to bottom beside the timeline."""

from __future__ import annotations

from pathlib import Path

from analysis.report.html import render_folder
from analysis.report.loading import load_run
from analysis.report.story import STORY_CAP, render_text, story
from scenarios.results import write_run
from scenarios.runner import run_scenario
from scenarios.spec import load
from tests.report.test_report_html import Page

# The shrunk split-brain read: a write acknowledged by the new leader, then a read answered
# by the isolated old one (what `splitbrain explore raft-split-brain-reads` finds).
SPLIT_BRAIN = '''name = "split-brain-in-two"
summary = "two operations show the stale read"
extends = "raft-split-brain-reads"
seed = 1
duration_ms = 6300
clients = 2
faults = [ { at = 6000, duration = 2500, fault = { fault = "partition", kind = "isolate-leader" } } ]

[[workload.script]]
client = 1
at = 5990
f = "put"
key = "k1"
value = 1

[[workload.script]]
client = 1
at = 6000
f = "get"
key = "k1"
'''


def _folder(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(body)
    return write_run(run_scenario(load(str(path))), root=tmp_path / "store", render=False)


def test_a_shrunk_run_reads_top_to_bottom(tmp_path: Path) -> None:
    folder = _folder(tmp_path, SPLIT_BRAIN)
    lines = story(load_run(folder))
    kinds = [ln.kind for ln in lines]
    assert kinds.count("op") == 2 and "fault" in kinds and "leader" in kinds
    assert [ln.t for ln in lines] == sorted(ln.t for ln in lines)
    ops = [ln for ln in lines if ln.kind == "op"]
    assert ops[0].text == "write k1 1" and ops[0].status == "ok"
    assert ops[1].role == "blocker" and "read k1" in ops[1].text
    # the new leader is elected after the partition starts and before the stale read
    fault = next(i for i, ln in enumerate(lines) if ln.kind == "fault")
    leader2 = next(i for i, ln in enumerate(lines) if ln.kind == "leader" and "term 2" in ln.text)
    assert fault < leader2 < lines.index(ops[1])
    text = render_text(lines)
    assert len(text) == len(lines) and "✗ read k1" in text[lines.index(ops[1])]


def test_the_report_shows_the_story_beside_the_timeline(tmp_path: Path) -> None:
    folder = _folder(tmp_path, SPLIT_BRAIN)
    page = Page()
    page.feed(render_folder(folder).read_text())
    assert "story" in page.ids
    beside = [a for tag, a in page.elements if "with-story" in a.get("class", "").split()]
    assert len(beside) == 1
    items = [a for tag, a in page.elements if tag == "li" and "story-op" in a.get("class", "")]
    assert len(items) == 2 and all(a.get("data-op") in ("0", "1") for a in items)


def test_a_big_run_has_no_story(tmp_path: Path) -> None:
    folder = write_run(run_scenario(load("raft-split-brain-reads")), root=tmp_path / "store", render=False)
    data = load_run(folder)
    assert len(data.ops) > STORY_CAP and story(data) == []
    page = Page()
    page.feed(render_folder(folder).read_text())
    assert "story" not in page.ids
