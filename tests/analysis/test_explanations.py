"""Explanations name the real cause: each on a recorded run (a catalog scenario at its seed,
which replays byte for byte) or on hand-made fault windows."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from analysis.faultwindows import fault_clause
from scenarios.runner import RunOutcome, run_scenario
from scenarios.spec import load


@cache
def run(name: str) -> RunOutcome:
    return run_scenario(load(name))


def checker(name: str, which: str) -> dict[str, Any]:
    return next(r for r in run(name).results if r["checker"] == which)


def text(name: str, which: str) -> str:
    return " ".join(checker(name, which)["explanation"])


# --- Raft leader completeness: the cause comes from the flaw and the trace -------------------


def test_figure8_blames_the_old_term_commit_not_the_vote_check() -> None:
    words = text("raft-figure8", "raft-safety")
    assert "Figure 8" in words and "counted as committed" in words
    assert "The check worked" in words
    assert "should have refused" not in words
    assert "exists to prevent exactly this" not in words


def test_no_fsync_blames_the_voters_lost_writes() -> None:
    words = text("raft-no-fsync", "raft-safety")
    assert "unsynced writes" in words and "fsync" in words
    assert "should have refused" not in words


def test_stale_candidate_blames_the_skipped_up_to_date_check() -> None:
    words = text("raft-stale-candidate", "raft-safety")
    assert "should have refused it and did not" in words
    assert "skip_up_to_date_check" in words


# --- faults that had just ended ----------------------------------------------------------------


def test_a_saga_that_ended_after_a_crash_names_the_crash_and_the_gap() -> None:
    words = text("outbox-relay-crash", "saga")
    assert "No fault was active then, but this had ended shortly before: crashed n2" in words
    assert " ms before" in words


def _window(fid: int, fault: str, description: str, targets: list[str], start: int, end: int) -> dict[str, Any]:
    return {"id": fid, "fault": fault, "description": description, "targets": targets, "start": start, "end": end}


def test_a_healed_clock_skew_says_the_clock_stepped_back() -> None:
    windows = [_window(1, "clock-skew", "skewed the clock of n4: 10000 ms ahead", ["n4"], 1000, 3000)]
    words = fault_clause(windows, 3200)
    assert words.startswith("No fault was active then, but this had ended shortly before:")
    assert "ended at 3000 ms, 200 ms before; healing it stepped n4's clock back" in words


def test_recent_faults_on_the_involved_nodes_come_first_and_quiet_runs_say_so() -> None:
    windows = [_window(1, "pause", "paused n3", ["n3"], 100, 900), _window(2, "pause", "paused n5", ["n5"], 100, 950)]
    words = fault_clause(windows, 960, nodes=["n3"])
    assert words.index("paused n3") < words.index("paused n5")
    assert fault_clause(windows, 9000) == (
        "No fault was active then, nor in the 3 s before (the last one, paused n5, ended at 950 ms).")
    assert fault_clause([], 10) == "No fault was active then, nor before."


# --- grouped, counted failures ----------------------------------------------------------------


def test_many_violations_are_grouped_and_counted() -> None:
    result = checker("duplicate-charge-on-retry", "saga")
    counts = result["violation_counts"]
    assert sum(counts.values()) == result["violation_count"] > 1
    first = result["explanation"][0]
    assert first.startswith(f"{result['violation_count']} violation(s) found: ")
    assert all(f"{n} {inv}" in first for inv, n in counts.items())
    examples = [s for s in result["explanation"] if s.startswith("At ")]
    assert len(examples) == len(counts)  # one full example per property, not one per violation


# --- deliveries ---------------------------------------------------------------------------------


def test_a_relay_republish_is_labelled_as_one() -> None:
    words = text("outbox-relay-crash", "idempotency")
    assert "(first delivery, row" in words
    assert "relay republish #1, published again at" in words
    assert "this delivery was the relay republish #1" in text("outbox-relay-crash", "delivery")


# --- linearizability counterexamples ----------------------------------------------------------


def test_a_lease_read_says_so_and_how_old_the_lease_was() -> None:
    words = text("raft-lease-skew", "linearizability")
    assert "It was a lease read" in words
    assert "ms old (real time)" in words
    # Which lease read the checker names depends on its search order; whichever it is, the
    # sentence says what the node's clock was doing while it measured the lease.
    assert re.search(r"Its clock was running at [0-9.]+x real speed", words), words


def test_a_lost_acknowledged_write_names_the_leader_that_acked_and_crashed() -> None:
    words = text("raft-ack-before-commit", "linearizability")
    assert "was acknowledged by" in words and "no node ever applied it" in words
    assert "cut off from the other servers" in words
    assert "ms after acknowledging" in words


@pytest.mark.parametrize(("name", "phrase"), [
    ("raft-split-brain-reads", "without confirming it was still leader"),
    ("raft-follower-reads", "although it was not the leader"),
])
def test_unsafe_read_paths_are_named(name: str, phrase: str) -> None:
    assert phrase in text(name, "linearizability")
