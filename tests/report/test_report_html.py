"""The HTML report: built from synthetic results folders (no simulator), checked by structure.

Each test reads the page with :mod:`html.parser` and asserts on the ids and classes the
report promises (``op-<id>`` with ``hl-blocker``, ``badge invalid``, ``fault-band``...), so
a refactor of the drawing code keeps these guarantees or fails loudly.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from analysis.report.html import BAR_CAP, render_folder
from tests.report.synthetic import NASTY, make_run


class Page(HTMLParser):
    """Every element's tag, id and classes, plus the page's text and script bodies."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.ids: dict[str, dict[str, str]] = {}
        self.dup_ids: list[str] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if "id" in a:
            if a["id"] in self.ids:
                self.dup_ids.append(a["id"])
            self.ids[a["id"]] = a
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def with_class(self, cls: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if cls in a.get("class", "").split()]

    def classes(self, id_: str) -> list[str]:
        return self.ids[id_].get("class", "").split()


def parse(path: Path) -> tuple[str, Page]:
    html = path.read_text(encoding="utf-8")
    p = Page()
    p.feed(html)
    return html, p


@pytest.fixture
def valid_run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "valid", ops=300, kind="valid")


@pytest.fixture
def invalid_run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "invalid", ops=400, kind="invalid")


@pytest.fixture
def raft_run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "raft", ops=300, kind="raft")


def test_valid_run_renders_a_self_contained_page(valid_run: Path) -> None:
    out = render_folder(valid_run)
    assert out == valid_run / "report.html"
    html, page = parse(out)
    assert html.startswith("<!DOCTYPE html>")
    assert not page.dup_ids, page.dup_ids
    # nothing is fetched: no external scripts, stylesheets, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    badges = page.with_class("badge")
    assert {b["data-verdict"] for b in badges} == {"valid"}
    assert "showing all 300 operations" in html
    assert len(page.with_class("fault-band")) >= 3
    for section in ("timeline", "messages", "charts", "invariants", "coverage"):
        assert section in page.ids
    assert "counterexample" not in page.ids
    assert "splitbrain run synthetic-valid --seed 1 --no-flaws" in html
    # the embedded data is valid JSON
    for sid in ("ops-data", "trace-data", "clients-data"):
        assert sid in page.ids
    ops = json.loads(_script(html, "ops-data"))
    assert len(ops) == 300


def _script(html: str, sid: str) -> str:
    m = re.search(rf'<script type="application/json" id="{sid}">(.*?)</script>', html, re.S)
    assert m is not None
    return m.group(1)


def test_invalid_run_highlights_the_counterexample(invalid_run: Path) -> None:
    results = json.loads((invalid_run / "results.json").read_text())
    ce = results["checkers"][0]["counterexample"]
    html, page = parse(render_folder(invalid_run))
    blocker = ce["blocker"]
    assert "hl-blocker" in page.classes(f"op-{blocker}")
    assert "hl-blocker" in page.classes(f"ov-op-{blocker}")
    for i in ce["concurrent"]:
        assert "hl-concurrent" in page.classes(f"op-{i}")
    for i in ce["preceding"]:
        assert "hl-preceding" in page.classes(f"op-{i}")
    lin_badges = [b for b in page.with_class("badge") if b.get("data-verdict") == "invalid"]
    assert len(lin_badges) >= 2  # overall verdict + linearizability
    assert re.search(r'<span class="badge-name">linearizability</span><b>INVALID</b>', html)
    assert len(page.with_class("fault-band")) >= 3
    assert "counterexample" in page.ids and "prefix-strip" in page.ids
    assert page.ids["strip-blocker"]["data-op"] == str(blocker)
    assert "msg-diagram" in page.ids
    assert page.with_class("drop") or page.with_class("msg")
    assert "--flaw read_from_any_node" in html


def test_every_string_from_the_run_is_escaped(invalid_run: Path) -> None:
    html, page = parse(render_folder(invalid_run))
    assert NASTY in (invalid_run / "history.jsonl").read_text().replace("\\u003c", "<").replace('\\"', '"')
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html or "\\u003cscript\\u003ealert" in html
    # only our own three JSON blocks and one script
    assert html.count("<script") == 4


def test_raft_violation_is_shown_with_evidence(raft_run: Path) -> None:
    html, page = parse(render_folder(raft_run))
    assert re.search(r'<span class="badge-name">raft-safety</span><b>INVALID</b>', html)
    rows = page.with_class("violation")
    assert len(rows) == 1
    assert "election-safety" in html and "two leaders in term 2" in html
    assert page.with_class("marker")  # the violation is marked on the timeline
    assert "closeup" in page.ids  # no counterexample, so a close-up around the violation
    assert page.with_class("leader")


def test_unknown_checkers_are_rendered_generically(valid_run: Path) -> None:
    res = json.loads((valid_run / "results.json").read_text())
    res["checkers"].append({"checker": "idempotency", "verdict": "invalid",
                            "explanation": ["message m7 was applied twice <b>"],
                            "duplicates": [{"message": "m7", "applied": 2}]})
    res["verdict"] = "invalid"
    (valid_run / "results.json").write_text(json.dumps(res))
    html, page = parse(render_folder(valid_run))
    assert "checker-idempotency" in page.ids
    assert "message m7 was applied twice &lt;b&gt;" in html
    assert "&quot;duplicates&quot;" in html or '"duplicates"' in html


def test_tolerates_missing_and_odd_inputs(valid_run: Path) -> None:
    (valid_run / "metrics.json").unlink()
    with (valid_run / "trace.jsonl").open("a") as f:
        f.write('{"kind": "mystery", "t": 5}\n{"kind": "role", "node": "n9"}\nnot json\n[1, 2]\n')
    lines = (valid_run / "history.jsonl").read_text().splitlines()
    (valid_run / "history.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # leave one op open
    html, page = parse(render_folder(valid_run))
    assert "showing all 300 operations" in html
    assert "trace lines were not JSON objects" in html


def test_history_without_times_still_renders(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", ops=50, kind="valid", wire=False)
    recs = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    for r in recs:
        r.pop("time", None)
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    html, _ = parse(render_folder(run))
    assert "event positions are used as milliseconds" in html


def test_large_run_is_sampled_and_says_so(tmp_path: Path) -> None:
    run = make_run(tmp_path / "big", ops=100_000, kind="invalid", clients=20, wire=False)
    out = render_folder(run)
    size = out.stat().st_size
    assert size < 5_000_000, size
    html, page = parse(out)
    assert f"showing {BAR_CAP:,} of 100,000 operations" in html
    bars = [a for a in page.with_class("op") if a.get("id", "").startswith("op-")]
    assert 0 < len(bars) <= BAR_CAP
    ce = json.loads((run / "results.json").read_text())["checkers"][0]["counterexample"]
    assert "hl-blocker" in page.classes(f"op-{ce['blocker']}")
    assert page.with_class("density")
