"""Results folders keep their trace gzipped; every reader takes either form."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from analysis.records import RecordsError, open_text, read_jsonl, stored, to_jsonl, write_jsonl
from scenarios.results import load_run, recheck_run, write_run
from scenarios.runner import run_scenario
from scenarios.spec import load

RECORDS = [{"t": i, "kind": "role", "node": f"n{i % 3 + 1}", "note": "é"} for i in range(500)]


def test_gzipped_jsonl_is_reproducible_and_reads_back_as_written(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "trace.jsonl.gz", tmp_path / "b" / "trace.jsonl.gz"
    for p in (a, b):
        p.parent.mkdir()
        write_jsonl(p, RECORDS)
    assert a.read_bytes() == b.read_bytes()  # no timestamp, no file name in the header
    assert gzip.decompress(a.read_bytes()).decode() == to_jsonl(RECORDS)
    assert read_jsonl(a.parent / "trace.jsonl") == RECORDS  # the plain name finds the .gz
    plain = tmp_path / "plain.jsonl"
    write_jsonl(plain, RECORDS)
    assert read_jsonl(plain) == RECORDS and stored(plain) == plain
    with open_text(a) as fh:
        assert fh.read() == plain.read_text()


def test_a_truncated_gzip_trace_is_a_records_error(tmp_path: Path) -> None:
    p = tmp_path / "trace.jsonl.gz"
    write_jsonl(p, RECORDS)
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(RecordsError, match="trace.jsonl.gz: cannot read"):
        read_jsonl(p)


def test_a_results_folder_stores_the_trace_gzipped_and_every_reader_takes_it(tmp_path: Path) -> None:
    out = run_scenario(load("raft-split-brain-reads"))
    folder = write_run(out, root=tmp_path)
    gz = folder / "trace.jsonl.gz"
    assert gz.is_file() and not (folder / "trace.jsonl").exists()
    text = gzip.decompress(gz.read_bytes())
    assert hashlib.sha256(text).digest() == hashlib.sha256(to_jsonl(out.trace).encode()).digest()
    assert gz.stat().st_size * 4 < len(text)
    assert load_run(folder).trace == read_jsonl(folder / "trace.jsonl")
    _, results = recheck_run(folder)
    assert [r["verdict"] for r in results] == [r["verdict"] for r in out.results]
    assert (folder / "report.html").is_file() and "trace.jsonl.gz" in (folder / "report.html").read_text()
