"""`splitbrain run/list/show/replay/explore`: results folders, replay, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.cli import main

ROOT = Path(__file__).resolve().parents[2]


def cli(*argv: str, cwd: Path = ROOT, env_store: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if env_store is not None:
        env["SPLITBRAIN_STORE"] = str(env_store)
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "raft-leader-partition" in out and "quorum-partial-r1w1" in out
    assert main(["show", "raft-split-brain-reads"]) == 0
    out = capsys.readouterr().out
    assert "leader_reads_without_quorum" in out and "question" in out and "teaches" not in out
    assert main(["show", "raft-split-brain-reads", "--answer"]) == 0
    assert "teaches" in capsys.readouterr().out


def test_run_writes_results_folder_and_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "raft-split-brain-reads", "--store", str(tmp_path), "-q"])
    out = capsys.readouterr().out
    assert code == 1
    assert "INVALID" in out and "replay:" in out
    latest = tmp_path / "latest"
    assert latest.is_symlink()
    run_dir = latest.resolve()
    for name in ("scenario.json", "history.jsonl", "trace.jsonl.gz", "results.json", "metrics.json"):
        assert (run_dir / name).is_file(), name
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"] == "invalid"
    scenario = json.loads((run_dir / "scenario.json").read_text())
    assert scenario["flaws"] == ["leader_reads_without_quorum"]
    # replay: same seed, same bytes
    assert main(["replay", str(run_dir)]) == 0
    assert "identical" in capsys.readouterr().out
    # re-check the folder
    assert main(["check", str(run_dir)]) == 1


def test_run_json_and_no_flaws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "raft-split-brain-reads", "--no-flaws", "--no-save", "--json", "--seed", "3"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verdict"] == "valid" and data["seed"] == 3


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "raft-leader-partiton"], "unknown scenario"),
        (["run", "raft-leader-partition", "--flaw", "vote_thrice"], "unknown flaw 'vote_thrice'"),
        (["run", "raft-leader-partition", "--time-limit", "0"], "--time-limit must be greater than 0"),
        (["run", "raft-leader-partition", "--time-limit", "-3"], "--time-limit must be greater than 0"),
        (["explore", "raft-leader-partition", "--budget", "soon"], "--budget"),
        (["show", "nope"], "unknown scenario"),
        (["replay", "/nonexistent/run"], "no such run folder"),
        (["run", "outbox-relay-crash", "--engine", "ray", "--amqp-url", "amqp://guest:guest@127.0.0.1:1/"],
         "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/"),
        (["run", "kafka-rebalance-redelivery", "--engine", "ray", "--kafka-bootstrap", "127.0.0.1:1"],
         "cannot reach a Kafka-protocol broker at 127.0.0.1:1"),
        (["run", "outbox-relay-crash", "--amqp-url", "amqp://x"], "need --engine ray"),
        (["run", "raft-leader-partition", "--engine", "ray", "--spread"], "--spread needs --engine ray and --ray-address"),
        (["sweep", "raft-leader-partiton"], "unknown scenario"),
        (["sweep", "raft-leader-partition", "--seeds", "0"], "--seeds 0: need at least 1 seed"),
        (["sweep", "raft-leader-partition", "--seeds", "9..3"], "the range is empty"),
        (["sweep", "raft-leader-partition", "--workers", "0"], "--workers 0: need at least 1 worker"),
        (["sweep", "raft-leader-partition", "--extra-faults", "chaos"], "unknown fault mix"),
        (["sweep", "raft-leader-partition", "--ray-address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
        (["explore", "raft-leader-partition", "--workers", "0"], "--workers 0: need at least 1 worker"),
        (["explore", "raft-leader-partition", "--workers", "2", "--ray-address", "127.0.0.1:1"],
         "cannot reach the Ray cluster"),
    ],
)
def test_bad_input_exit_3(argv: list[str], needle: str, tmp_path: Path) -> None:
    proc = cli(*argv, env_store=tmp_path)
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0]
    assert not any(tmp_path.iterdir()), "nothing may be written on bad input"


BAD_FILES = {
    "not-toml.toml": ("name = 'x'\nsummary = [unclosed", "not valid TOML"),
    "unknown-fault.toml": ('name = "x"\nsummary = "s"\nfaults = [{ at = 1, duration = 2, fault = { fault = "partitoin" } }]\n',
                           "unknown fault 'partitoin'"),
    "bad-field.toml": ('name = "x"\nsummary = "s"\nnodez = 3\n', "unknown field 'nodez'"),
    "bad-type.toml": ('name = "x"\nsummary = "s"\nnodes = "five"\n', "must be an integer"),
    "zero-limit.toml": ('name = "x"\nsummary = "s"\ntime_limit_s = 0\n', "time_limit_s must be greater than 0"),
    "bad-json.json": ('{"name": "x", ', "not valid JSON"),
    "bad-kind.toml": ('name = "x"\nsummary = "s"\nfaults = [{ at = 1, duration = 2, fault = { fault = "partition", kind = "halfs" } }]\n',
                      "unknown kind 'halfs'"),
    "bad-ray-table.toml": ('name = "x"\nsummary = "s"\n[ray]\nflaws = ["no_persist_vote"]\n', "ray: unknown field 'flaws'"),
}


@pytest.mark.parametrize("fname", sorted(BAD_FILES))
def test_malformed_scenario_file_exit_3(fname: str, tmp_path: Path) -> None:
    text, needle = BAD_FILES[fname]
    path = tmp_path / fname
    path.write_text(text)
    store = tmp_path / "store"
    proc = cli("run", str(path), env_store=store)
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0] and fname in lines[0], lines[0]
    assert not store.exists()


def test_explore_finds_and_shrinks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explore", "quorum-partial-r1w1", "--max-runs", "300", "--max-shrink-runs", "100", "--budget", "5m",
                 "--shrink-budget", "5m", "--store", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["found"]
    saved = Path(data["scenario_file"])
    assert saved.is_file()
    # the saved minimal run replays as a scenario file, with the same verdict
    assert main(["run", str(saved), "--no-save", "-q"]) == 1


def test_a_run_its_time_limit_cut_short_is_unknown_never_valid(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A correct design stopped after a sliver of its 15 s: the passing checks cover only
    that sliver, so the run says unknown (exit 2) and why, in the run and in a re-check."""
    code = main(["run", "raft-healthy-random", "--time-limit", "0.05", "--store", str(tmp_path), "--json", "-q"])
    data = json.loads(capsys.readouterr().out)
    assert code == 2 and data["verdict"] == "unknown"
    assert data["stats"]["stopped_by_time_limit"] is True
    cut = next(c for c in data["checkers"] if c["checker"] == "time-limit")
    assert cut["verdict"] == "unknown"
    assert "stopped the run after" in cut["explanation"][0] and "of its 15000 ms" in cut["explanation"][0]
    assert all(c["verdict"] == "valid" for c in data["checkers"] if c["checker"] != "time-limit")
    assert main(["check", data["dir"]]) == 2
    assert "time-limit" in capsys.readouterr().out
