"""``splitbrain sweep`` and ``explore --workers`` on a local Ray (marked ``ray``).

The in-process tests share one local Ray for the module (the commands share a connection
the process already holds); one test runs the command as a user does, starting and
stopping its own private Ray.  The same commands on an existing multi-node cluster are
tested in ``tests/runtime/test_ray_spread.py``, against two raylets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbrain.cli import main
from tests.cli.test_run_cli import cli

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]


def test_sweep_flawed_design_keeps_replayable_failing_seeds(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "raft-split-brain-reads", "--seeds", "1..4", "--workers", "2", "--json",
                 "--store", str(tmp_path)])
    data = json.loads(capsys.readouterr().out)
    runs, summary = data["runs"], data["summary"]
    assert [r["seed"] for r in runs] == [1, 2, 3, 4]
    assert {r["verdict"] for r in runs} <= {"valid", "invalid", "unknown"}
    invalid = [r for r in runs if r["verdict"] == "invalid"]
    assert invalid, "the flawed design was never caught in 4 seeds"
    assert code == 1 and summary["verdict"] == "invalid"
    for r in invalid:
        assert r["checkers"] and r["signature"] and r["node"]
    folder = Path(summary["folder"])
    for name in ("campaign.json", "scenario.json", "runs.jsonl", "summary.json", "index.html"):
        assert (folder / name).is_file(), name
    assert len((folder / "runs.jsonl").read_text().splitlines()) == 4
    page = (folder / "index.html").read_text()
    first = invalid[0]
    run_dir = folder / "runs" / f"s{first['seed']}"
    assert f"runs/s{first['seed']}" in page
    # a failing seed is a normal results folder: replay reproduces it byte for byte
    assert main(["replay", str(run_dir)]) == 0
    assert "identical" in capsys.readouterr().out


def test_sweep_correct_twin_with_random_faults_has_no_false_alarm(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "raft-split-brain-reads", "--no-flaws", "--extra-faults", "random", "--seeds", "3",
                 "--json", "--store", str(tmp_path)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["summary"]
    assert [r["verdict"] for r in data["runs"]] == ["valid"] * 3
    assert data["summary"]["false_alarms"] == 0
    assert not (Path(data["summary"]["folder"]) / "runs").exists() or not any(
        (Path(data["summary"]["folder"]) / "runs").iterdir())


def test_explore_workers_finds_shrinks_and_saves_the_minimal_run(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explore", "quorum-partial-r1w1", "--workers", "2", "--budget", "60s", "--store", str(tmp_path),
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["found"]
    # every shard either reported or was stopped once another had found the failure
    assert data["workers"] == 2
    assert sorted([r["shard"] for r in data["shards"]] + data["cancelled"]) == [0, 1]
    finder = next(r for r in data["shards"] if r["shard"] == data["found_by_shard"])
    assert finder["found"] and finder["runs"] >= 1
    saved = Path(data["scenario_file"])
    assert saved.is_file()
    # the minimal run replays as a scenario file, with the same verdict
    assert main(["run", str(saved), "--no-save", "-q"]) == 1


def test_sweep_as_a_command_starts_and_stops_its_own_ray(tmp_path: Path) -> None:
    proc = cli("sweep", "raft-leader-partition", "--seeds", "2", "--workers", "2", "--json",
               "--store", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["verdict"] for r in data["runs"]] == ["valid", "valid"]
    assert data["summary"]["verdict"] == "valid"


def test_sweep_ctrl_c_stops_cleanly_and_keeps_what_finished(tmp_path: Path) -> None:
    """Ctrl-C mid-sweep: exit 130, the finished seeds kept and summarized, and nothing of
    the sweep's private Ray left running -- its tasks in flight are dropped, not cancelled,
    and end with the Ray session (see cluster.runtime.pool)."""
    import signal

    from tests.cli.test_ray_signals import Run, gone

    run = Run(tmp_path, ("sweep", "raft-leader-partition", "--seeds", "5000", "--workers", "1", "-q"),
              SPLITBRAIN_STORE=str(tmp_path))
    try:
        lines: list[str] = []

        def three_seeds_done(_procs: dict[int, int | None]) -> bool:
            nonlocal lines
            logs = list(tmp_path.glob("sweeps/*/runs.jsonl"))
            lines = logs[0].read_text().splitlines() if logs else []
            return len(lines) >= 3

        run.wait_until(three_seeds_done, timeout=240)
        code, err = run.stop(signal.SIGINT)
        assert code == 130, err[-3000:]
        assert "interrupted" in err
        assert not gone(run), "processes of the sweep's Ray left behind"
        assert run.dir is not None and not run.dir.exists(), "temp dir left behind"
    finally:
        run.close()
    folder = next(tmp_path.glob("sweeps/*"))
    summary = json.loads((folder / "summary.json").read_text())
    kept = (folder / "runs.jsonl").read_text().splitlines()
    assert summary["interrupted"] and summary["done"] == len(kept) >= 3
    assert summary["planned"] == 5000 and summary["verdict"] == "valid"
    assert (folder / "index.html").is_file()
