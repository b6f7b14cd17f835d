"""A flaw that cannot bite under a scenario's configuration is announced, never silent."""

from __future__ import annotations

import pytest

from scenarios.flawfit import flaw_flags, inert_flaws
from scenarios.spec import ScenarioError, catalog, load


def test_lease_flaw_on_a_read_index_cluster_is_announced() -> None:
    sc = load("raft-leader-partition").with_overrides(flaws=("lease_ignores_clock_skew",))
    [notice] = inert_flaws(sc)
    assert notice.flaw == "lease_ignores_clock_skew"
    assert "read_mode = 'read_index'" in notice.reason
    line = notice.line()
    assert "\n" not in line and line.startswith("splitbrain: warning: flaw lease_ignores_clock_skew has no effect")


def test_lease_flaw_on_a_lease_cluster_applies() -> None:
    assert inert_flaws(load("raft-lease-skew")) == []


@pytest.mark.parametrize(
    ("name", "flaws", "config", "inert"),
    [
        ("raft-leader-partition", ("leader_reads_without_quorum",), {"read_mode": "log"}, "leader_reads_without_quorum"),
        ("raft-lease-skew", ("lease_ignores_clock_skew", "leader_reads_without_quorum"), None, "lease_ignores_clock_skew"),
        ("quorum-majority", ("skip_write_back",), {"r": 2, "w": 4, "write_back": False}, "skip_write_back"),
        ("quorum-majority", ("sloppy_quorum",), {"r": 1, "w": 1}, "sloppy_quorum"),
        ("outbox-relay-crash", ("consumer_without_dedup", "dedup_window_ttl"), None, "dedup_window_ttl"),
    ],
)
def test_shadowed_and_unconfigured_flaws(name: str, flaws: tuple[str, ...], config: dict[str, object] | None,
                                         inert: str) -> None:
    sc = load(name)
    sc = sc.with_overrides(flaws=flaws, config=config if config is not None else sc.config)
    assert [n.flaw for n in inert_flaws(sc)] == [inert]


def test_every_catalog_flaw_applies_to_its_scenario() -> None:
    silent = [(n, x.flaw) for n, sc in catalog().items() for x in inert_flaws(sc)]
    assert silent == []


def test_no_flaws_with_a_flaw_is_a_usage_error() -> None:
    with pytest.raises(ScenarioError, match="--no-flaws .* --flaw ack_before_commit"):
        flaw_flags(no_flaws=True, flaws=["ack_before_commit"])
    assert flaw_flags(no_flaws=True, flaws=None) == ()
    assert flaw_flags(no_flaws=False, flaws=None) is None
    assert flaw_flags(no_flaws=False, flaws=["a", "b"]) == ("a", "b")
