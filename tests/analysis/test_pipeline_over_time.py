"""The pipeline checker judges duplicates over time, not only in the final state.

The recorded trace is ``pipeline-worker-crash-mid-batch`` at seed 4 (flaw
``unstable_chunk_ids``), cut down to the records the pipeline checker reads.  A worker crashed
after its batch's upsert left, the broker redelivered the batch three times, and each retry
added a fresh set of chunks: from 882 ms to 1843 ms the store held every passage of d0 version 2
four times.  A newer version then replaced them, so the final state is clean and a final-state
check called the run valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.pipeline_check import check_trace, duplicate_episodes

TRACE = Path(__file__).with_name("data") / "pipeline-worker-crash-mid-batch-seed4.jsonl"


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TRACE.read_text().splitlines() if line.strip()]


def test_the_final_state_of_the_recorded_run_has_no_duplicates() -> None:
    final = next(r for r in _records() if r["kind"] == "pipeline-final")
    for points in final["store"].values():
        keys = [(p[1], p[2]) for p in points]
        assert len(keys) == len(set(keys))


def test_duplicates_held_for_a_second_are_found_from_the_write_events() -> None:
    result = check_trace(_records())
    assert result["verdict"] == "invalid"
    dups = [v for v in result["violations"] if v["invariant"] == "no-duplicate-chunks"]
    d0 = next(v for v in dups if v["doc"] == "d0")
    assert (d0["version"], d0["copies"], d0["chunks"], d0["t"], d0["until"]) == (2, 16, 4, 882, 1843)
    assert "from 882 ms to 1843 ms" in d0["text"] and "4 times" in d0["text"]
    assert "final state hides it" in d0["text"]


def test_copies_added_and_replaced_within_one_request_are_invisible() -> None:
    recs = [
        {"t": 10, "kind": "embed", "doc": "a", "version": 1, "chunks": 1},
        {"t": 10, "kind": "embed", "doc": "a", "version": 2, "chunks": 1},
        {"t": 20, "kind": "vs-write", "doc": "a", "version": 1, "req": "r1", "outcome": "applied",
         "added": 1, "removed": 0, "points": 1},
        {"t": 30, "kind": "vs-write", "doc": "a", "version": 1, "req": "r2", "outcome": "applied",
         "added": 1, "removed": 0, "points": 2},
        {"t": 30, "kind": "vs-write", "doc": "a", "version": 2, "req": "r2", "outcome": "applied",
         "added": 1, "removed": 2, "points": 1},
    ]
    assert duplicate_episodes(recs) == []
    recs[-1] = {**recs[-1], "t": 45, "req": "r3"}
    [episode] = duplicate_episodes(recs)
    assert (episode["doc"], episode["version"], episode["start"], episode["end"]) == ("a", 1, 30, 45)
