"""Bad input caught at load time, and output into a pipe the reader closed early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.spec import ScenarioError, from_dict

ROOT = Path(__file__).resolve().parents[2]


def _scenario(**kw: object) -> dict[str, object]:
    return {"name": "x", "summary": "s", "system": "raft-kv", "nodes": 3, **kw}


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"at": 100, "duration": 500, "fault": {"fault": "crash", "node": "n9"}}, "faults[0].fault.node"),
        ({"at": 100, "duration": 500, "fault": {"fault": "partition", "kind": "isolate", "target": "n4"}},
         "faults[0].fault.target"),
        ({"at": 100, "duration": 500, "fault": {"fault": "partition", "kind": "groups",
                                                "groups": [["n1"], ["n2", "n7"]]}}, "faults[0].fault.groups"),
        ({"at": 100, "duration": 500, "fault": {"fault": "link", "src": "n1", "dst": "n5"}}, "faults[0].fault.dst"),
        ({"on": {"kind": "vote", "where": {"node": "n6"}}, "duration": 5,
          "fault": {"fault": "crash", "node": "leader"}}, "faults[0].on.where.node"),
    ],
)
def test_a_fault_naming_a_node_the_cluster_lacks_is_a_load_error(fault: dict[str, object], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        from_dict(_scenario(faults=[fault]), source="t.toml")
    assert str(err.value).startswith(f"t.toml: {field}: unknown node")
    assert "3 nodes (n1, n2, n3)" in str(err.value)


def test_selectors_and_existing_nodes_load() -> None:
    sc = from_dict(_scenario(faults=[
        {"at": 100, "duration": 500, "fault": {"fault": "crash", "node": "n3"}},
        {"at": 100, "duration": 500, "fault": {"fault": "pause", "node": "leader"}},
        {"at": 100, "duration": 500, "fault": {"fault": "link", "src": "*", "dst": "random"}},
    ]))
    assert len(sc.faults) == 3


def test_unknown_node_from_the_command_line_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "n9.toml"
    path.write_text('name = "n9"\nsummary = "s"\nnodes = 3\n'
                    'faults = [{ at = 100, duration = 500, fault = { fault = "crash", node = "n9" } }]\n')
    env = {**os.environ, "SPLITBRAIN_STORE": str(tmp_path / "store")}
    proc = subprocess.run([sys.executable, "-m", "splitbrain", "run", str(path)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown node 'n9'" in lines[0], proc.stderr


@pytest.mark.parametrize("argv", [["list", "--json"], ["list"], ["show", "raft-figure8"]])
def test_output_into_a_closed_pipe_is_not_an_error(argv: list[str]) -> None:
    """``splitbrain list --json | head -0``: the reader is gone before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run([sys.executable, "-m", "splitbrain", *argv], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    os.close(write_end)
    assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


def test_show_spells_out_every_fault_field(capsys: pytest.CaptureFixture[str]) -> None:
    """A link fault that names only delay shows loss 0.0: no default is left unsaid."""
    from splitbrain.cli import main

    assert main(["show", "raft-follower-reads-correct"]) == 0
    out = capsys.readouterr().out
    assert "faults (every field, defaults included):" in out
    assert "'fault': 'link', 'src': '*', 'dst': '*', 'loss': 0.0, 'delay_ms': 30.0, 'jitter_ms': 30.0" in out


def test_show_marks_a_flaw_that_cannot_bite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from splitbrain.cli import main

    path = tmp_path / "inert.toml"
    path.write_text('name = "inert"\nextends = "raft-leader-partition"\nsummary = "s"\n'
                    'flaws = ["lease_ignores_clock_skew"]\n')
    assert main(["show", str(path)]) == 0
    assert "has no effect here: it changes how long a leader lease lasts" in capsys.readouterr().out


def test_explore_refuses_no_flaws_with_a_flaw(capsys: pytest.CaptureFixture[str]) -> None:
    from splitbrain.cli import main

    assert main(["explore", "raft-leader-partition", "--no-flaws", "--flaw", "ack_before_commit",
                 "--budget", "1s"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-flaws" in err[0] and "--flaw ack_before_commit" in err[0]


def test_explore_warns_once_about_a_flaw_that_cannot_bite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from splitbrain.cli import main

    main(["explore", "raft-leader-partition", "--flaw", "lease_ignores_clock_skew", "--budget", "1s",
          "--store", str(tmp_path), "--json"])
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert warnings == ["splitbrain: warning: flaw lease_ignores_clock_skew has no effect in raft-leader-partition: "
                        "it changes how long a leader lease lasts, and read_mode = 'read_index' uses no lease "
                        '(set config read_mode = "lease")']
