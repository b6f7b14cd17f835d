"""LinkSettings: the one value type for what a link does to messages."""

from __future__ import annotations

import pytest

from faults.engine import HEALTHY, LinkSettings
from faults.link import LinkFault


def test_degradation_is_what_set_link_takes_and_cut_is_apart() -> None:
    s = LinkSettings(cut=True, loss=0.1, delay_ms=20, jitter_ms=5, duplicate=0.2, reorder=0.3)
    assert s.degradation() == {"loss": 0.1, "delay_ms": 20.0, "jitter_ms": 5.0, "duplicate": 0.2, "reorder": 0.3}
    assert s.degraded() and not s.healthy()
    assert s.with_cut(False) == LinkSettings(loss=0.1, delay_ms=20, jitter_ms=5, duplicate=0.2, reorder=0.3)
    assert HEALTHY.with_degradation(s) == s.with_cut(False)
    assert LinkSettings(cut=True).with_degradation(HEALTHY) == LinkSettings(cut=True)
    assert LinkSettings(cut=True).healthy() is False and LinkSettings(cut=True).degraded() is False


@pytest.mark.parametrize("kw", [{"loss": 1.5}, {"duplicate": -0.1}, {"delay_ms": -1}, {"jitter_ms": -3}])
def test_impossible_settings_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        LinkSettings(**kw)  # type: ignore[arg-type]


def test_a_network_table_is_parsed_with_one_line_errors() -> None:
    assert LinkSettings.from_mapping({"delay_ms": 2, "jitter_ms": 10}) == LinkSettings(delay_ms=2.0, jitter_ms=10.0)
    with pytest.raises(ValueError, match="network: unknown field 'cut'"):
        LinkSettings.from_mapping({"cut": True})
    with pytest.raises(ValueError, match="network: field 'loss' must be a number"):
        LinkSettings.from_mapping({"loss": "high"})
    with pytest.raises(ValueError, match="network: link loss must be between 0 and 1"):
        LinkSettings.from_mapping({"loss": 2})


def test_the_link_fault_builds_the_settings_it_applies() -> None:
    f = LinkFault(loss=0.0, delay_ms=40, jitter_ms=40, reorder=0.3)
    assert f.settings() == LinkSettings(delay_ms=40, jitter_ms=40, reorder=0.3)
