"""``splitbrain check --model list-append|rw-register``: verdict exit codes, JSON, and
one readable line (exit 3, no traceback) for every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.cli import main

ROOT = Path(__file__).resolve().parents[2]

WRITE_SKEW_EDN = """\
; two transactions, each misses the other's append: write skew (G2-item)
[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]]}
 {:process 1, :type :invoke, :f :txn, :value [[:append :y 1] [:r :x nil]]}
 {:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y []]]}
 {:process 1, :type :ok, :f :txn, :value [[:append :y 1] [:r :x []]]}]
"""

SERIAL_JSONL = (
    '{"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}\n'
    '{"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}\n'
    '{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["append","x",2]]}\n'
    '{"process":1,"type":"ok","f":"txn","value":[["r","x",[1]],["append","x",2]]}\n'
    '{"process":0,"type":"invoke","f":"txn","value":[["r","x",null]]}\n'
    '{"process":0,"type":"ok","f":"txn","value":[["r","x",[1,2]]]}\n'
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_write_skew_exits_1_and_tells_the_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "h.edn", WRITE_SKEW_EDN)
    code, out, _ = run(capsys, "check", f, "--model", "list-append")
    assert code == 1
    assert "INVALID" in out and "G2-item" in out
    assert "This history is not repeatable-read" in out
    assert "T1 read y in its initial, empty state" in out


def test_consistency_model_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "h.edn", WRITE_SKEW_EDN)
    code, out, _ = run(capsys, "check", f, "--model", "list-append",
                       "--consistency-model", "snapshot-isolation", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["verdict"] == "valid"
    assert data["consistency_model"] == "snapshot-isolation"
    assert data["anomaly_types"] == ["G2-item"]
    assert data["not"] == ["repeatable-read"]
    assert data["file"] == f


def test_native_jsonl_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "h.jsonl", SERIAL_JSONL)
    code, out, _ = run(capsys, "check", f, "--model", "list-append", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["checker"] == "isolation"
    assert data["verdict"] == "valid"
    assert data["counts"] == {"ok": 3, "fail": 0, "info": 0}


def test_rw_register_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(
        tmp_path,
        "h.jsonl",
        '{"process":0,"type":"invoke","f":"txn","value":[["w","x",1],["w","y",1]]}\n'
        '{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}\n'
        '{"process":0,"type":"ok","f":"txn","value":[["w","x",1],["w","y",1]]}\n'
        '{"process":1,"type":"ok","f":"txn","value":[["r","x",null],["r","y",1]]}\n',
    )
    code, out, _ = run(capsys, "check", f, "--model", "rw-register")
    assert code == 1
    assert "G-single" in out


BAD = [
    ("unclosed.edn", "[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n",
     "unexpected end of file at line 2 (the [ opened at line 1 is never closed)"),
    ("short-mop.edn",
     "{:process 0, :type :invoke, :f :txn, :value [[:append :x]]}\n"
     "{:process 0, :type :ok, :f :txn, :value [[:append :x]]}\n",
     ":1: micro-op 1 must be [f, key, value], got ['append', 'x']"),
    ("unknown-mop.edn",
     "{:process 0, :type :invoke, :f :txn, :value [[:cas :x 1]]}\n",
     "unknown micro-op 'cas' for --model list-append"),
    ("not-txn.edn",
     "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 1}\n",
     ":1: operation 'read' is not a transaction"),
    ("read-not-list.edn",
     "{:process 0, :type :invoke, :f :txn, :value [[:r :x nil]]}\n"
     "{:process 0, :type :ok, :f :txn, :value [[:r :x 5]]}\n",
     ":2: micro-op 1: a list-append read must be a list"),
    ("dup-append.edn",
     "{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n"
     "{:process 1, :type :ok, :f :txn, :value [[:append :x 1]]}\n",
     ":2: 1 is appended to x more than once (also by op 0, line 1)"),
    ("bad-type.edn", "{:process 0, :type :done, :f :txn, :value []}\n",
     ":1: :type must be one of :invoke, :ok, :fail, :info"),
    ("mismatch.edn",
     "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n"
     "{:process 0, :type :ok, :f :txn, :value [[:append :y 1]]}\n",
     ":2: the completion's micro-ops do not match the invocation's (line 1)"),
    ("overlap.edn",
     "{:type :invoke, :value [[:append :x 1]]}\n{:type :invoke, :value [[:append :x 2]]}\n",
     ":2: operations without a :process overlap"),
    ("bad.jsonl", '{"process":0,"type":"invoke","f":"txn","value":[["append","x"]]}\n',
     ":1: micro-op 1 must be [f, key, value]"),
    ("porcupine.log", "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n",
     "a porcupine-etcd file holds no transactions"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    f = write(tmp_path, name, text)
    code, out, err = run(capsys, "check", f, "--model", "list-append")
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("splitbrain: error: ")
    assert message in err


def test_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "h.jsonl", SERIAL_JSONL)
    code, _, err = run(capsys, "check", f, "--model", "list-append", "--consistency-model", "snapshot")
    assert code == 3 and "unknown consistency model 'snapshot'" in err
    code, _, err = run(capsys, "check", f, "--model", "list-append", "--init", "0")
    assert code == 3 and "--init does not apply" in err
    code, _, err = run(capsys, "check", f, "--model", "cas-register", "--consistency-model", "serializable")
    assert code == 3 and "--consistency-model applies to --model list-append" in err
    code, _, err = run(capsys, "check", str(tmp_path / "missing.edn"), "--model", "rw-register")
    assert code == 3 and "no such file" in err


def test_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.edn", "[{:process 0 :type :invoke :f :txn :value [[:append :x 1]]}\n")
    p = subprocess.run(
        [sys.executable, "-m", "splitbrain", "check", f, "--model", "list-append"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert p.returncode == 3
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]
