"""A plugin fault and a plugin system named in a scenario file's ``plugins`` run on both
engines with no edit in splitbrain; on Ray the system's core runs in a node actor's
process, which cannot import the plugin file: it gets there by value because the runner
lists the scenario's plugin modules in ``ClusterSpec.by_value`` (marked ``ray``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenarios.runner import run_scenario
from scenarios.spec import load
from tests.plugin_files import HICCUP, TINY_SCENARIO, TINY_SYSTEM, forget_plugins  # noqa: F401 - fixture

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local", "forget_plugins")]


def _scenario(tmp_path: Path) -> Path:
    (tmp_path / "tiny_system.py").write_text(TINY_SYSTEM)
    (tmp_path / "hiccup.py").write_text(HICCUP)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SCENARIO.format())
    return path


def test_plugin_fault_and_system_from_a_scenario_file_on_both_engines(tmp_path: Path) -> None:
    from cluster.runtime.launch import RayLauncher
    from scenarios.runner import cluster_spec

    sc = load(str(_scenario(tmp_path)))
    shipped = cluster_spec(sc)[0].by_value
    assert len(shipped) == 2 and all(m.startswith("splitbrain_plugin_") for m in shipped)
    for launcher in (None, RayLauncher()):
        out = run_scenario(sc, launcher)
        engine = "sim" if launcher is None else "ray"
        assert out.verdict == "valid", (engine, out.results)
        assert out.stats["ok"] > 10, engine
        assert [r["description"] for r in out.trace if r.get("kind") == "fault-start"] == ["hiccup on n1"], engine
        assert any(r.get("kind") == "pause" and r.get("node") == "n1" for r in out.trace), engine
        pids = {r["pid"] for r in out.trace if r.get("kind") == "tiny-write"}
        assert pids
        if engine == "ray":
            assert os.getpid() not in pids, "the core must run in a node actor, not in the driver"
        else:
            assert pids == {os.getpid()}
