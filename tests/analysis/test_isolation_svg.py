"""The smallest cycle drawn as a standalone SVG: well-formed, one box per transaction
linked to its operation, one labelled arrow per step, every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from analysis.isolation import check
from analysis.isolation.svg import KIND_COLOUR, first_cycle, render_cycle_svg
from tests.analysis.isolation_helpers import history

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return root


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(NS + "g") if (g.get("class") or "").split()[0] == cls]


def texts(el: ET.Element) -> list[str]:
    return [t.text or "" for t in el.iter(NS + "text")]


def test_g_single_cycle_drawing() -> None:
    r = check(history("ax1 ay1", "ax2 ry", "rx12"), consistency_model="serializable")
    cyc = r["anomalies"]["G-single"][0]
    root = parse(render_cycle_svg(cyc))
    boxes = groups(root, "txn")
    assert [b.get("data-op-id") for b in boxes] == [str(t["id"]) for t in cyc["txns"]]
    assert [b.get("id") for b in boxes] == [f"txn-{t['id']}" for t in cyc["txns"]]
    assert texts(boxes[0])[0].startswith("T1 \u00b7 op 1")
    steps = groups(root, "step")
    assert [texts(s)[0] for s in steps] == ["rw y", "ww x"]
    # each arrow is coloured by its kind and its hover title is the step's sentence
    paths = [s.find(NS + "path") for s in steps]
    assert [p.get("stroke") for p in paths if p is not None] == [KIND_COLOUR["rw"], KIND_COLOUR["ww"]]
    assert steps[0].findtext(NS + "title") == cyc["steps"][0]["text"]
    assert "G-single" in (root.findtext(NS + "text") or "")


def test_realtime_and_process_steps_and_escaping() -> None:
    cycle = {
        "type": "G2-item-realtime",
        "txns": [
            {"name": f"T{i + 1}", "id": i, "process": i, "status": "ok", "text": f"read <k{i}> & more"}
            for i in range(4)
        ],
        "steps": [
            {"type": t, "from": f"T{i + 1}", "to": f"T{(i + 1) % 4 + 1}", "key": "a<b", "text": "x < y"}
            for i, t in enumerate(["rw", "rw", "process", "realtime"])
        ],
    }
    svg = render_cycle_svg(cycle)
    root = parse(svg)  # raises if any text were left unescaped
    assert "read &lt;k0&gt; &amp; more" in svg
    labels = [texts(s)[0] for s in groups(root, "step")]
    assert labels == ["rw a<b", "rw a<b", "process", "realtime"]
    assert len(groups(root, "txn")) == 4
    width = float(root.get("width") or 0)
    for rect in root.iter(NS + "rect"):
        assert 0 <= float(rect.get("x") or 0) and float(rect.get("x") or 0) + float(rect.get("width") or 0) <= width


def test_two_transaction_cycle_has_two_distinct_arrows() -> None:
    r = check(history("ax1 ry", "ay1 rx"))
    root = parse(render_cycle_svg(r["anomalies"]["G2-item"][0]))
    ds = [p.get("d") for g in groups(root, "step") for p in g.iter(NS + "path")]
    assert len(ds) == 2 and ds[0] != ds[1]


def test_empty_cycle_is_an_error() -> None:
    with pytest.raises(ValueError):
        render_cycle_svg({"type": "G0", "txns": [], "steps": []})


def test_first_cycle_is_the_one_the_explanation_tells() -> None:
    r = check(history("ax1 ay1", "ax2 ry", "rx12"), consistency_model="serializable")
    cyc = first_cycle(r)
    assert cyc is not None and cyc["type"] == "G-single"
    assert cyc["story"][0] == r["explanation"][2]
    # Non-cycle anomalies only: nothing to draw.
    assert first_cycle(check(history(("ax1", "fail"), "rx1"))) is None
