"""`splitbrain check`: verdict exit codes, JSON output, and one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "analysis" / "examples" / "stale-read.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_invalid_example_exits_1_with_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLE), "--model", "kv-register")
    assert code == 1
    assert "INVALID" in out
    assert "read x -> 1" in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLE), "--model", "kv-register", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "invalid"
    assert data["counterexample"]["key"] == "x"
    assert data["counts"] == {"ok": 5, "fail": 0, "info": 1}


def test_valid_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(
        '{"process":0,"type":"invoke","f":"write","value":1}\n'
        '{"process":0,"type":"ok","f":"write","value":1}\n'
        '{"process":1,"type":"invoke","f":"read","value":null}\n'
        '{"process":1,"type":"ok","f":"read","value":1}\n'
    )
    code, out, _ = run(capsys, "check", str(p), "--model", "cas-register")
    assert code == 0
    assert "VALID" in out


def test_unknown_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps({"process": p, "type": "invoke", "f": "write", "value": p}) for p in range(16)]
    lines += [json.dumps({"process": 100 + q, "type": "invoke", "f": "read", "value": None}) for q in range(16)]
    lines += [json.dumps({"process": 100 + q, "type": "ok", "f": "read", "value": q}) for q in range(16)]
    for p, v in ((99, 7), (98, 3), (97, 7)):
        lines.append(json.dumps({"process": p, "type": "invoke", "f": "read", "value": None}))
        lines.append(json.dumps({"process": p, "type": "ok", "f": "read", "value": v}))
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "check", str(path), "--model", "etcd", "--max-states", "20")
    assert code == 2
    assert "UNKNOWN" in out


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "truncated-edn": (b'[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f ', "end of file"),
    "binary": (bytes(range(256)) * 4, "not a text history"),
    "wrong-format": (b"this is not a history\nat all\n", "format"),
    "validation": (
        b'{"process":0,"type":"invoke","f":"write","value":1}\n{"process":0,"type":"invoke","f":"write","value":2}\n',
        "still open",
    ),
    "orphan-completion": (b'{"process":0,"type":"ok","f":"write","value":1}\n', "no open invocation"),
    "unknown-type": (b'{"process":0,"type":"maybe","f":"write","value":1}\n', "unknown event type"),
    "time-backwards": (
        b'{"process":0,"type":"invoke","f":"write","value":1,"time":5}\n{"process":0,"type":"ok","f":"write","value":1,"time":4}\n',
        "time goes backwards",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_3(case: str, tmp_path: Path) -> None:
    data, needle = BAD_INPUTS[case]
    p = tmp_path / f"{case}.txt"
    p.write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-m", "splitbrain.cli", "check", str(p), "--model", "cas-register"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0].lower() or needle in lines[0], lines[0]
    assert proc.stdout == ""


def test_unknown_model_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", str(EXAMPLE), "--model", "nope")
    assert code == 3
    assert "unknown model 'nope'" in err


def test_missing_file_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "/nonexistent/h.jsonl", "--model", "etcd")
    assert code == 3
    assert "no such file" in err.lower()


def test_model_without_operation_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", str(EXAMPLE), "--model", "mutex")
    assert code == 3
    assert "has no operation" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert "splitbrain" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "example:" in capsys.readouterr().out
