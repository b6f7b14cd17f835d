"""``splitbrain why``: each fault removed and each flaw flipped, one at a time, and what the
table says -- checked against runs whose cause is known from their lessons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from splitbrain.cli import main


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _run(name: str, code: int, tmp_path: Path) -> Path:
    assert main(["run", name, "-q"]) == code
    return (tmp_path / "store" / "latest").resolve()


def _why(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["why", *args, "--json", "--jobs", "1"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_a_flaw_that_breaks_a_quiet_network_is_the_bug_not_the_faults(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-follower-reads", 1, tmp_path)
    s = _why(capsys, str(run))
    assert s["run"] == str(run) and s["failing"] is True and s["mattered"] == []
    assert [f["verdict"] for f in s["faults"]] == ["invalid"] * 3
    assert s["every_fault"]["verdict"] == "invalid"
    assert s["fixes"] == ["--flip-flaw read_from_any_node"]
    assert "even without any fault it fails: the faults are not what breaks it; the design is" in s["conclusions"]
    # Fault 1 starts at 5000 ms: the runs are the same event for event until then.
    assert s["faults"][1]["divergence_ms"] == 5000


def test_the_fault_that_mattered_is_the_lessons_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-ack-before-commit", 1, tmp_path)  # its question's answer: fault:0
    s = _why(capsys, str(run))
    assert s["mattered"] == [0]
    assert s["fixes"] == ["--without-fault 0", "--flip-flaw ack_before_commit"]
    assert s["faults"][1]["verdict"] == "invalid" and s["faults"][1]["anomaly_tags"] == ["lost-write"]
    assert "the run passes without fault 0: that fault mattered" in s["conclusions"]
    capsys.readouterr()
    assert main(["why", str(run), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "why: raft-ack-before-commit seed" in out and "--without-fault 0" in out
    assert f"splitbrain diff {run} FLAGS" in out


def test_a_passing_run_asks_which_flaws_its_faults_would_catch(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-follower-reads-correct", 0, tmp_path)
    s = _why(capsys, str(run))
    assert s["failing"] is False and s["faults"] == [] and s["every_fault"] is None and s["fixes"] == []
    caught = s["caught"]
    assert isinstance(caught, list) and "read_from_any_node" in caught
    flipped = {f["flag"]: f for f in s["flaws"]}
    assert flipped["--flip-flaw read_from_any_node"]["anomaly_tags"] == ["stale-read"]
    untouched = [f for f in s["flaws"] if f["divergence_ms"] is None]
    assert all(f["verdict"] == "valid" for f in untouched)
    if untouched:
        assert any(line.startswith("never came into play") for line in s["conclusions"])


def test_more_seeds_count_how_often_each_change_fails_and_jobs_agree(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-follower-reads", 1, tmp_path)
    one = _why(capsys, str(run), "--seeds", "2")
    assert one["seeds"] == [3, 4] and one["base"]["verdicts"] == ["invalid", "invalid"]
    fix = one["flaws"][0]
    assert fix["verdicts"] == ["valid", "valid"] and fix["invalid_seeds"] == 0
    capsys.readouterr()
    assert main(["why", str(run), "--json", "--seeds", "2", "--jobs", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == one


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "0"], "--seeds must be at least 1, got 0"),
    (["--jobs", "0"], "--jobs must be at least 1, got 0"),
])
def test_bad_options_exit_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                          message: str) -> None:
    run = _run("raft-follower-reads", 1, tmp_path)
    capsys.readouterr()
    assert main(["why", str(run), *args]) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_why_refuses_a_ray_run_and_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-follower-reads", 1, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["stats"]["engine"] = "ray"
    (run / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(["why", str(run)]) == 3
    err = capsys.readouterr().err
    assert "why compares simulator runs" in err and "then: splitbrain why store/latest" in err
    assert err.count("\n") == 1
    assert main(["why", str(tmp_path / "nope")]) == 3
    assert "no such run folder" in capsys.readouterr().err


def test_the_survey_is_saved_beside_the_run_and_shown_in_its_report(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-ack-before-commit", 1, tmp_path)
    assert 'id="why"' not in (run / "report.html").read_text()
    assert main(["why", str(run), "--jobs", "1", "--no-save"]) == 0
    assert not (run / "why.json").exists()
    capsys.readouterr()
    assert main(["why", str(run), "--jobs", "1"]) == 0
    assert "section 'Which fault mattered'" in capsys.readouterr().out
    saved = json.loads((run / "why.json").read_text())
    assert saved["mattered"] == [0] and saved["run"] == str(run)
    report = (run / "report.html").read_text()
    assert '<section id="why">' in report and 'href="#why"' in report
    assert f"splitbrain diff {run} --without-fault 0" in report
    assert "the run passes without fault 0: that fault mattered" in report


def test_a_run_that_no_longer_reproduces_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run("raft-follower-reads", 1, tmp_path)
    results = json.loads((run / "results.json").read_text())
    results["verdict"] = "valid"  # as if an older version of the code had passed it
    (run / "results.json").write_text(json.dumps(results))
    s = _why(capsys, str(run), "--no-save")
    assert s["conclusions"][0] == ("the saved run was VALID but reruns INVALID with this code: "
                                   "the survey is about the rerun")
