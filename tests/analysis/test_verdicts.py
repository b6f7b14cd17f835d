"""Folding checker verdicts into a run's verdict."""

from __future__ import annotations

import pytest

from analysis.verdicts import overall, worst


def test_invalid_beats_unknown_beats_valid() -> None:
    assert worst([]) == "valid"
    assert worst(["valid", "valid"]) == "valid"
    assert worst(["valid", "unknown"]) == "unknown"
    assert worst(["unknown", "invalid", "valid"]) == "invalid"
    assert overall([{"verdict": "valid"}, {"verdict": "unknown"}]) == "unknown"


def test_a_verdict_that_is_not_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a verdict: 'error'"):
        worst(["valid", "error"])
