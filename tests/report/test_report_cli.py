"""`splitbrain report`: prints the path it wrote; a missing or partial folder is one line, exit 3."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from splitbrain.cli import main
from tests.report.synthetic import make_run


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_renders_a_given_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(tmp_path / "r", ops=60, kind="invalid")
    code, out, err = run(capsys, "report", str(folder))
    assert code == 0, err
    assert out.strip() == str(folder / "report.html")
    assert (folder / "report.html").stat().st_size > 1000


def test_renders_latest_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    folder = make_run(store / "synthetic-valid" / "20250101T000000Z-s1", ops=40)
    os.symlink(folder.resolve(), store / "latest")
    monkeypatch.setenv("SPLITBRAIN_STORE", str(store))
    code, out, _ = run(capsys, "report")
    assert code == 0
    assert Path(out.strip()).resolve() == (folder / "report.html").resolve()


def test_partial_folder_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(tmp_path / "r", ops=20)
    (folder / "trace.jsonl").unlink()
    code, out, err = run(capsys, "report", str(folder))
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert "incomplete run folder, missing trace.jsonl" in err
    assert not (folder / "report.html").exists()


def test_missing_folder_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", str(tmp_path / "nope"))
    assert code == 3
    assert err.count("\n") == 1 and "no such run folder" in err


def test_no_runs_yet_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_STORE", str(tmp_path / "empty"))
    code, _, err = run(capsys, "report")
    assert code == 3
    assert err.count("\n") == 1 and "no runs yet" in err


def test_corrupt_results_still_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(tmp_path / "r", ops=20)
    (folder / "results.json").write_text("{not json")
    code, out, err = run(capsys, "report", str(folder))
    assert code == 0, err
    assert "results.json could not be read" in (folder / "report.html").read_text()
