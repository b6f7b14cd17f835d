"""`splitbrain check`: verdict exit codes, JSON output, and one clear line for bad input."""

from __future__ import annotations

import json
import os
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


# ----------------------------------------------------------------------------- issue 20


def _cli(*argv: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "splitbrain", *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout, input=stdin,
    )


def _one_line_exit_3(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0], lines[0]
    assert proc.stdout == ""


def _jsonl(*rows: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _op(p: int, f: str, inv: object, out: object, **extra: object) -> list[dict[str, object]]:
    return [{"process": p, "type": "invoke", "f": f, "value": inv, **extra},
            {"process": p, "type": "ok", "f": f, "value": out, **extra}]


REFUSED = {
    "kv-append-int": ("kv", _op(0, "append", 5, 5, key="k"), "must be a string, got 5"),
    "kv-put-list": ("kv", _op(0, "put", [1, 2], [1, 2], key="k"), "must be a string, got [1, 2]"),
    "txn-as-string": ("multi-register", _op(0, "txn", "read x", "read x"), "needs a txn as a list"),
    "txn-bad-micro-op": ("multi-register", _op(0, "txn", [["read", "x"]], [["read", "x"]]), "[f, register, value]"),
    "queue-enqueue-nil": ("queue", _op(0, "enqueue", None, None), "cannot enqueue nil"),
    "cas-not-a-pair": ("cas-register", _op(0, "cas", 3, 3), "cas needs [expected, new]"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_values_a_model_cannot_use_are_one_line_exit_3(case: str, tmp_path: Path) -> None:
    model, rows, needle = REFUSED[case]
    p = tmp_path / "h.jsonl"
    p.write_text(_jsonl(*rows))
    _one_line_exit_3(_cli("check", str(p), "--model", model), needle)


MEANINGFUL = {  # structured values have a documented meaning: compared structurally, by type
    "multi-register-write-list": ("multi-register", [*_op(0, "txn", [["write", "x", [1, 2]]], [["write", "x", [1, 2]]]),
                                                     *_op(1, "txn", [["read", "x", None]], [["read", "x", [1, 2]]])], 0),
    "queue-lists": ("queue", [*_op(0, "enqueue", [1], [1]), *_op(1, "dequeue", None, [1])], 0),
    "queue-dicts": ("queue", [*_op(0, "enqueue", {"a": 1}, {"a": 1}), *_op(1, "dequeue", None, {"a": 1})], 0),
    "queue-dict-mismatch": ("queue", [*_op(0, "enqueue", {"a": 1}, {"a": 1}), *_op(1, "dequeue", None, {"a": True})], 1),
}


@pytest.mark.parametrize("case", sorted(MEANINGFUL))
def test_structured_values_have_a_meaning(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, rows, code = MEANINGFUL[case]
    p = tmp_path / "h.jsonl"
    p.write_text(_jsonl(*rows))
    assert run(capsys, "check", str(p), "--model", model)[0] == code


def test_the_issue_history_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(_jsonl(*_op(0, "write", True, True), *_op(1, "read", None, 1)))
    for model in ("register", "cas-register", "etcd", "kv-register"):
        code, out, _ = run(capsys, "check", str(p), "--model", model)
        assert code == 1, model
        assert "INVALID" in out


def test_kv_log_with_an_integer_key_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "c01-ok.txt"
    p.write_text('{:process 0, :type :invoke, :f :put, :key 1, :value "a"}\n'
                 '{:process 0, :type :ok, :f :put, :key 1, :value "a"}\n')
    _one_line_exit_3(_cli("check", str(p), "--model", "kv", "--format", "porcupine-kv"), ":key must be a string")


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [("--timeout", "nan", "finite"), ("--timeout", "inf", "finite"), ("--timeout", "0", "> 0"),
     ("--max-states", "0", "at least 1"), ("--max-states", "-5", "at least 1"),
     ("--max-memory", "lots", "not a size"), ("--max-input-size", "-1", "not a size")],
)
def test_budgets_are_validated(flag: str, value: str, needle: str) -> None:
    _one_line_exit_3(_cli("check", str(EXAMPLE), "--model", "kv-register", flag, value), needle)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_unless_asked(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    _one_line_exit_3(_cli("check", device, "--model", "kv-register"), "not a regular file")
    # asked for, a device is still read only up to the input limit
    _one_line_exit_3(
        _cli("check", device, "--model", "kv-register", "--allow-special", "--max-input-size", "64K"),
        "larger than the input limit",
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_without_a_writer_is_refused_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _one_line_exit_3(_cli("check", str(fifo), "--model", "kv-register", timeout=30), "FIFO")


def test_input_size_is_capped(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(EXAMPLE.read_text() * 50)
    _one_line_exit_3(_cli("check", str(p), "--model", "kv-register", "--max-input-size", "1K"), "larger than")


def test_stdin_is_read_with_a_dash() -> None:
    proc = _cli("check", "-", "--model", "kv-register", "--json", stdin=EXAMPLE.read_text())
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["file"] == "<stdin>"


def test_internal_error_is_exit_4_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import analysis.linearizability

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(analysis.linearizability, "check", boom)
    code, out, err = run(capsys, "check", str(EXAMPLE), "--model", "kv-register")
    assert code == 4
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "internal error" in lines[0] and "not a verdict" in lines[0]


def test_memory_error_while_reading_is_unknown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import analysis.formats

    def oom(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(analysis.formats, "read_history", oom)
    code, out, err = run(capsys, "check", str(EXAMPLE), "--model", "kv-register", "--json")
    assert code == 2
    assert json.loads(out)["verdict"] == "unknown"
    assert "MemoryError" in err


def test_decided_by_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLE), "--model", "kv-register", "--json")
    assert code == 1
    assert set(json.loads(out)["decided_by"]) <= {"pre-check", "witness", "search"}


# ----------------------------------------------------------------------------- start-up

HEAVY = ("ray", "torch", "grpc", "sentence_transformers", "numpy", "rich.table", "scenarios", "cluster", "faults")

PROBE = """
import json, sys
from splitbrain.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = {heavy!r}
print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["check", str(EXAMPLE), "--model", "kv-register"], ["check", "/nonexistent.jsonl", "--model", "etcd"],
     ["check", "--help"]],
    ids=["version", "check", "check-bad-input", "check-help"],
)
def test_cli_imports_only_what_the_command_needs(argv: list[str]) -> None:
    """An import check, not a timing: --version and check never load the engines."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert loaded == [], f"{argv} imported {loaded}"
