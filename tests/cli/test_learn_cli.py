"""The learner loop from the command line: show asks, --predict grades, diff settles a
counterfactual, learn drives a whole lesson from standard input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.spec import catalog, load
from splitbrain.cli import main

ROOT = Path(__file__).resolve().parents[2]
LESSON = "raft-follower-reads"  # fast (about 0.3 s simulated run), three timed faults


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own results store and XDG data dir (the progress file)."""
    monkeypatch.setenv("SPLITBRAIN_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _progress(tmp_path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((tmp_path / "xdg" / "splitbrain" / "progress.json").read_text())
    return data


# --- show ---------------------------------------------------------------------------------------


def test_show_asks_and_show_answer_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", LESSON]) == 0
    out = capsys.readouterr().out
    assert "question (anomaly" in out and "invalid:stale-read: a read returned" in out
    assert "expected verdict" not in out and "answer: invalid" not in out and "teaches" not in out
    assert f"splitbrain run {LESSON} --predict CHOICE" in out
    assert main(["show", LESSON, "--answer"]) == 0
    out = capsys.readouterr().out
    assert "answer: invalid:stale-read" in out and "expected verdict: invalid" in out
    assert "why: A follower applies the log" in out and "--flip-flaw read_from_any_node" in out


def test_show_answer_on_a_correct_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "raft-leader-partition", "--answer"]) == 0
    assert "expected verdict: valid" in capsys.readouterr().out


# --- run --predict ---------------------------------------------------------------------------------


def test_predict_right_is_graded_saved_and_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", LESSON, "-q", "--predict", "invalid:stale-read"])
    out = capsys.readouterr().out
    assert code == 1  # the exit code is still the run's verdict
    assert "prediction: right" in out and "why: A follower applies the log" in out
    run_dir = (tmp_path / "store" / "latest").resolve()
    doc = json.loads((run_dir / "prediction.json").read_text())
    assert doc["grade"] == "right" and doc["predicted"] == "invalid:stale-read" and doc["recorded"] is True
    assert doc["anomaly_tags"] == ["stale-read"] and doc["answer"] == "invalid:stale-read"
    report = (run_dir / "report.html").read_text()
    assert 'id="prediction"' in report and "Your prediction" in report and ">right<" in report
    lessons = _progress(tmp_path)["lessons"]
    assert isinstance(lessons, dict) and lessons[LESSON]["first"]["grade"] == "right"


def test_predict_wrong_and_the_first_prediction_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", LESSON, "-q", "--no-save", "--predict", "valid"]) == 1
    out = capsys.readouterr().out
    assert "prediction: wrong" in out and "you predicted valid; the run: INVALID" in out
    assert main(["run", LESSON, "-q", "--no-save", "--predict", "invalid:stale-read"]) == 1
    out = capsys.readouterr().out
    assert "prediction: right" in out and "the first counts; this lesson stays wrong" in out
    entry = _progress(tmp_path)["lessons"][LESSON]  # type: ignore[index]
    assert entry["first"]["grade"] == "wrong" and len(entry["attempts"]) == 2


def test_predict_a_wrong_anomaly_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", LESSON, "--no-save", "--json", "--predict", "invalid:two-leaders"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["prediction"]["grade"] == "wrong" and data["prediction"]["anomaly_tags"] == ["stale-read"]


def test_predict_a_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "raft-ack-before-commit", "-q", "--no-save", "--predict", "fault:0"]) == 1
    out = capsys.readouterr().out
    assert "prediction: right" in out and "without fault 0 the run is VALID" in out


def test_a_run_that_changes_the_lesson_is_graded_but_not_recorded(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", LESSON, "-q", "--no-save", "--no-flaws", "--predict", "valid"]) == 0
    out = capsys.readouterr().out
    assert "prediction: right" in out and "graded but not recorded" in out
    assert not (tmp_path / "xdg" / "splitbrain" / "progress.json").exists()


@pytest.mark.parametrize(("answer", "message"), [
    ("invlaid", "--predict: expected valid, invalid, invalid:ANOMALY or fault:K, got 'invlaid'"),
    ("invalid:stale-reads", "--predict: unknown anomaly 'stale-reads'"),
    ("fault:9", "--predict: unknown fault index 9; this scenario has 3 fault(s)"),
])
def test_bad_predictions_exit_3_with_one_line(answer: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", LESSON, "-q", "--predict", answer]) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_corrupt_progress_file_is_a_warning_not_a_lost_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "xdg" / "splitbrain" / "progress.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    assert main(["run", LESSON, "-q", "--no-save", "--predict", "invalid"]) == 1
    captured = capsys.readouterr()
    assert "prediction: right" in captured.out and "not valid JSON" in captured.err
    assert bad.read_text() == "{not json"  # never silently reset
    assert main(["learn", "--list"]) == 3


# --- diff ---------------------------------------------------------------------------------------


@pytest.fixture
def follower_run(tmp_path: Path) -> Path:
    assert main(["run", LESSON, "-q"]) == 1
    return (tmp_path / "store" / "latest").resolve()


@pytest.mark.parametrize(("flags", "verdict_line", "code"), [
    (["--flip-flaw", "read_from_any_node"], "verdict: INVALID -> VALID", 0),
    (["--without-fault", "2"], "verdict: INVALID (unchanged)", 1),
    (["--move-fault", "0", "--at", "2500"], "verdict: INVALID (unchanged)", 1),
    (["--set", "client.sticky_home=false"], "verdict: INVALID (unchanged)", 1),
    (["--seed", "4"], "verdict: INVALID", 1),
])
def test_diff_each_kind_of_change(follower_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  flags: list[str], verdict_line: str, code: int) -> None:
    capsys.readouterr()
    assert main(["diff", str(follower_run), *flags]) == code
    out = capsys.readouterr().out
    assert "first divergence at" in out and "first run:" in out and "second run:" in out
    assert verdict_line in out
    second = (tmp_path / "store" / "latest").resolve()
    assert second != follower_run
    d = json.loads((second / "diff.json").read_text())
    assert d["change"]["flag"].startswith(flags[0]) and d["reproduced"] is True
    assert d["first_run"] == str(follower_run)
    report = (second / "report.html").read_text()
    assert 'id="first-run-link"' in report and 'id="divergence-marker"' in report
    link = report.split('id="first-run-link" href="', 1)[1].split('"', 1)[0]
    assert (second / link).resolve() == follower_run / "report.html"


def test_diff_names_what_changed_in_the_explanation(follower_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["diff", str(follower_run), "--flip-flaw", "read_from_any_node"]) == 0
    out = capsys.readouterr().out
    assert "anomalies: stale-read -> none" in out
    assert "linearizability: INVALID -> VALID" in out and "before: Not linearizable" in out
    assert "raft-safety: VALID (unchanged)" in out
    assert "answers a read of k0 from its own state although it is not the leader" in out


def test_diff_defaults_to_the_latest_run_and_json(follower_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["diff", "--set", "config.read_mode=lease", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_run"] == str(follower_run) and data["verdict"]["first"] == "invalid"
    assert data["change"]["text"] == "config.read_mode = lease (was unset)"


@pytest.mark.parametrize(("flags", "message"), [
    (["--without-fault", "7"], "fault 7: unknown fault index; this run has 3 faults"),
    (["--set", "foo.bar=1"], "unknown key 'foo.bar' in --set"),
    (["--set", "config.read_mod=lease"], "unknown key 'read_mod' in config"),
    (["--flip-flaw", "sloppy_quorum"], "unknown flaw 'sloppy_quorum'"),
    (["--move-fault", "1"], "--move-fault K needs --at MS"),
    (["--seed", "3", "--at", "5"], "--at goes with --move-fault K"),
    (["--seed", "3"], "already used seed 3"),
])
def test_diff_bad_input_exits_3_with_one_line(follower_run: Path, capsys: pytest.CaptureFixture[str],
                                              flags: list[str], message: str) -> None:
    capsys.readouterr()
    assert main(["diff", str(follower_run), *flags]) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("splitbrain: error:")


def test_diff_needs_exactly_one_change(follower_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["diff", str(follower_run), "--seed", "4", "--flip-flaw", "read_from_any_node"])
    assert e.value.code == 3 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["diff", str(follower_run)])
    assert e.value.code == 3


def test_diff_refuses_a_ray_run_with_the_command_to_rerun_it(follower_run: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    metrics = json.loads((follower_run / "metrics.json").read_text())
    metrics["stats"]["engine"] = "ray"
    (follower_run / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(["diff", str(follower_run), "--seed", "4"]) == 3
    err = capsys.readouterr().err
    assert "used the ray engine" in err and f"splitbrain run {LESSON} --seed 3 --flaw read_from_any_node" in err
    assert err.count("\n") == 1


def test_diff_on_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(tmp_path / "nope"), "--seed", "2"]) == 3
    assert "no such run folder" in capsys.readouterr().err


# --- learn ------------------------------------------------------------------------------------------


def _learn(tmp_path: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SPLITBRAIN_STORE=str(tmp_path / "store"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    return subprocess.run([sys.executable, "-m", "splitbrain", "learn", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)


def test_learn_a_whole_lesson_from_stdin(tmp_path: Path) -> None:
    # topic 13, lesson 1 (rpc-deadline-shorter-than-failover): predict "1" (valid), then the
    # follow-up "invalid", then stop.
    p = _learn(tmp_path, "13\n1\ninvalid\nn\n")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "13-rpc · lesson 1 of 6" in out and "question:" in out and "1. valid" in out
    assert "prediction: right" in out and "why: Many writes end unknown" in out
    assert "this lesson teaches: an expired deadline is an unknown outcome" in out
    assert "follow-up:" in out and "settling it: splitbrain diff" in out and "verdict: VALID -> INVALID" in out
    assert "follow-up: right" in out and "lesson score: 2/2" in out and "session score: 2/2" in out
    entry = _progress(tmp_path)["lessons"]["rpc-deadline-shorter-than-failover"]  # type: ignore[index]
    assert entry["first"]["grade"] == "right" and entry["follow_up"]["grade"] == "right"
    listing = _learn(tmp_path, "", "--list")
    line = next(ln for ln in listing.stdout.splitlines() if "rpc-deadline-shorter-than-failover" in ln)
    assert line.split()[:2] == ["13-rpc", "right"] and "teaches:" in line
    status = _learn(tmp_path, "", "--status")
    assert "13-rpc" in status.stdout and "2/12" in status.stdout


def test_learn_rejects_a_bad_answer_and_asks_again(tmp_path: Path) -> None:
    p = _learn(tmp_path, "maybe\n2\nvalid\nn\n", "--lesson", "raft-ack-before-commit")
    assert p.returncode == 0, p.stderr
    assert "expected valid, invalid, invalid:ANOMALY or fault:K, got 'maybe'" in p.stdout
    assert "you predicted fault:1" in p.stdout and "prediction: wrong" in p.stdout
    assert "follow-up: right" in p.stdout and "lesson score: 1/2" in p.stdout


def test_learn_one_theme_of_a_topic(tmp_path: Path) -> None:
    # The topic prompt takes a theme too; end of input right after the lesson's header.
    p = _learn(tmp_path, "10/clocks\n")
    assert p.returncode == 0, p.stderr
    assert re.search(r"10/clocks \((\d+)/\1 new\)", p.stdout), "the theme and its count, all new"
    header = next(ln for ln in p.stdout.splitlines() if "· level " in ln)
    assert header.rstrip("─ ").endswith("· clocks"), header
    first = p.stdout.splitlines()[p.stdout.splitlines().index(header) + 1].split()[0]
    assert load(first).question.get("theme") == "clocks" and "(end of input)" in p.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--topic", "10/kafka"], "--topic 10/kafka: unknown theme 'kafka' for 10-distributed-systems"),
    (["--topic", "12"], "--topic 12: unknown topic"),
    (["--topic", "13/retries", "--lesson", "raft-figure8"], "--lesson raft-figure8 is in 10-distributed-systems/consensus"),
])
def test_learn_bad_topic_exits_3_with_one_line(args: list[str], capsys: pytest.CaptureFixture[str],
                                               message: str) -> None:
    assert main(["learn", *args]) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_learn_status_per_theme(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", "--status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kafka = [n for n, sc in catalog().items() if (sc.question or {}).get("theme") == "kafka"]
    assert data["themes"]["11-event-driven"]["kafka"]["lessons"] == len(kafka) >= 2
    assert sum(r["lessons"] for r in data["themes"]["10-distributed-systems"].values()) == \
        data["topics"]["10-distributed-systems"]["lessons"]
    assert main(["learn", "--status"]) == 0
    assert "10/clocks" in capsys.readouterr().out


def test_learn_stops_cleanly_at_end_of_input(tmp_path: Path) -> None:
    p = _learn(tmp_path, "10\n")
    assert p.returncode == 0 and "(end of input)" in p.stdout and "Traceback" not in p.stderr


def test_learn_list_is_one_lesson_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 40
    topics = {ln.split()[0] for ln in lines}
    assert topics == {"08-idempotency", "10-distributed-systems", "11-event-driven", "13-rpc", "14-rag-ingestion"}
    assert all(ln.split()[1] == "new" for ln in lines)
    assert main(["learn", "--list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"topic", "theme", "state", "lesson", "teaches"} <= set(rows[0])


@pytest.mark.parametrize(("args", "message"), [
    (["--topic", "12"], "--topic 12: unknown topic"),
    (["--lesson", "no-such-lesson"], "--lesson no-such-lesson: no lesson of that name"),
    (["--list", "--status"], "pick one"),
])
def test_learn_bad_input(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["learn", *args]) == 3
    assert message in capsys.readouterr().err
