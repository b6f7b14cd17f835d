"""`splitbrain check FILE --model kafka`: verdict exit codes, JSON, and one line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbrain.cli import main

EDN = Path(__file__).resolve().parents[1] / "analysis" / "data" / "jepsen-kafka-lost-write.edn"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_jepsen_edn_lost_write_exits_1_with_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EDN), "--model", "kafka")
    assert code == 1
    assert "kafka" in out and "INVALID" in out
    assert "lost write" in out and "offset 3" in out


def test_json_output_and_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EDN), "--model", "log-consumer", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["checker"] == "kafka" and data["verdict"] == "invalid"
    assert data["anomalies"]["lost-write"]["count"] == 1
    assert data["file"] == str(EDN)


def test_valid_jsonl_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "log.jsonl"
    p.write_text(
        '{"process":0,"type":"invoke","f":"send","value":["x",1]}\n'
        '{"process":0,"type":"ok","f":"send","value":["x",[0,1]]}\n'
        '{"process":1,"type":"invoke","f":"poll"}\n'
        '{"process":1,"type":"ok","f":"poll","value":{"x":[[0,1]]}}\n'
    )
    code, out, _ = run(capsys, "check", str(p), "--model", "kafka")
    assert code == 0
    assert "VALID" in out


@pytest.mark.parametrize("body,argv,needle", [
    ('{"process":0,"type":"invoke","f":"send","value":["x",1]}\n'
     '{"process":0,"type":"ok","f":"send","value":["x",[0,1,2]]}\n', (), "log.jsonl:2: send:"),
    ('INFO  jepsen.util - 0 :invoke :read nil\n', (), "reads jsonl or edn"),
    ('{"process":0,"type":"invoke","f":"poll"}\n', ("--init", "0"), "--init does not apply"),
])
def test_bad_input_is_one_line_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, argv: tuple[str, ...], needle: str
) -> None:
    p = tmp_path / "log.jsonl"
    p.write_text(body)
    code, out, err = run(capsys, "check", str(p), "--model", "kafka", *argv)
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("splitbrain: error: ")
    assert needle in err
