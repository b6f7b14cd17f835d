"""Plugins: a scenario file's ``plugins``, results folders that load them again, entry points
of an installed package (a stub distribution), and everything a broken plugin can do wrong.

Command-line behaviour (exit 3, one line) is in tests/cli/test_plugin_cli.py; the Ray engine
in tests/runtime/test_ray_plugins.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scenarios.plugins import PluginError, by_value_modules, load_plugins, loaded, unload
from scenarios.results import load_run, recheck_run, write_run
from scenarios.runner import run_scenario
from scenarios.spec import ScenarioError, from_dict, load
from tests.plugin_files import HICCUP, SCENARIO, forget_plugins  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("forget_plugins")


def _scenario(tmp_path: Path) -> Path:
    (tmp_path / "faults_dir").mkdir()
    (tmp_path / "faults_dir" / "hiccup.py").write_text(HICCUP)
    path = tmp_path / "hiccups.toml"
    path.write_text(SCENARIO.format(plugin="faults_dir/hiccup.py"))
    return path


def test_a_scenario_names_a_plugin_fault_relative_to_its_file(tmp_path: Path) -> None:
    sc = load(str(_scenario(tmp_path)))
    assert sc.plugins == (str((tmp_path / "faults_dir" / "hiccup.py").resolve()),)
    out = run_scenario(sc)
    assert out.verdict == "valid", out.results
    described = [r["description"] for r in out.trace if r.get("kind") == "fault-start"]
    assert len(described) == 2 and all(d.startswith("hiccup on n") and d.endswith("(the leader)") for d in described)
    assert sum(1 for r in out.trace if r.get("kind") == "pause") == 2
    added = dict(next(p for p in loaded() if p.name == sc.plugins[0]).added)
    assert added == {"faults": ("hiccup",)}


def test_same_seed_same_bytes_with_a_plugin(tmp_path: Path) -> None:
    sc = load(str(_scenario(tmp_path)))
    a, b = run_scenario(sc), run_scenario(sc)
    assert a.events == b.events and a.trace == b.trace


def test_the_results_folder_keeps_the_plugin_and_loads_it_again(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    folder = write_run(run_scenario(load(str(path))), root=tmp_path / "store", render=False)
    saved = json.loads((folder / "scenario.json").read_text())
    assert saved["plugins"] == ["plugins/hiccup.py"]
    assert (folder / "plugins" / "hiccup.py").read_text() == HICCUP
    # In this process the copy is the plugin already loaded (same bytes): no name clash.
    run = load_run(folder)
    assert run.scenario.plugins == (str((folder / "plugins" / "hiccup.py").resolve()),)
    _, results = recheck_run(folder)
    assert all(r["verdict"] == "valid" for r in results)
    # In a fresh process, with the original file gone, the folder is enough.
    (tmp_path / "faults_dir" / "hiccup.py").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["replay", str(folder)], ["check", str(folder)]):
        proc = subprocess.run([sys.executable, "-m", "splitbrain", *argv], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert "identical" in proc.stdout or "VALID" in proc.stdout


def test_a_scenario_without_plugins_saves_as_before(tmp_path: Path) -> None:
    sc = load("raft-leader-partition")
    assert "plugins" not in sc.to_dict()
    assert from_dict(sc.to_dict()) == sc


def test_extends_adds_the_childs_plugins_to_the_parents(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    (tmp_path / "other.py").write_text("OTHER = 1\n")
    child = tmp_path / "child.toml"
    child.write_text('name = "child"\nsummary = "s"\nextends = "raft-leader-partition"\nplugins = ["other.py"]\n')
    sc = load(str(child))
    assert sc.plugins == (str((tmp_path / "other.py").resolve()),)
    assert load(str(path)).plugins[0].endswith("hiccup.py")


def test_a_plugin_is_loaded_once_and_a_copy_is_the_same_plugin(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "hiccup.py").write_text(HICCUP)
    (tmp_path / "b" / "hiccup.py").write_text(HICCUP)
    first = load_plugins(["a/hiccup.py"], base=tmp_path)
    assert load_plugins(["a/hiccup.py", "b/hiccup.py"], base=tmp_path)[0] == first[0]
    assert len([p for p in loaded() if p.added == (("faults", ("hiccup",)),)]) == 1
    assert by_value_modules(first) == by_value_modules([str((tmp_path / "b" / "hiccup.py").resolve())])


def test_a_different_file_with_a_taken_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hiccup.py").write_text(HICCUP)
    (tmp_path / "again.py").write_text(HICCUP.replace("Freeze a node", "Freeze a node (again)"))
    load_plugins(["hiccup.py"], base=tmp_path)
    with pytest.raises(PluginError) as e:
        load_plugins(["again.py"], base=tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'again.py'}:11: fault name 'hiccup' is already taken by Hiccup, from ")
    assert "hiccup.py" in msg and "\n" not in msg


def test_unload_forgets_what_a_plugin_registered(tmp_path: Path) -> None:
    from faults.registry import known

    (tmp_path / "hiccup.py").write_text(HICCUP)
    [name] = load_plugins(["hiccup.py"], base=tmp_path)
    assert "hiccup" in known()
    unload(name)
    assert "hiccup" not in known() and all(p.name != name for p in loaded())


# --- broken plugins: one line naming the file and line, nothing left registered ------------------


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("import os\n\ndef f(:\n    pass\n", "broken.py:3: SyntaxError: invalid syntax"),
        ("'''doc'''\nimport os\nimport no_such_module_here\n",
         "broken.py:3: ModuleNotFoundError: No module named 'no_such_module_here'"),
        ("x = 1\nraise RuntimeError('boom')\n", "broken.py:2: RuntimeError: boom"),
        (HICCUP.replace('name: ClassVar[str] = "hiccup"', 'name: ClassVar[str] = "crash"'),
         "broken.py:11: fault name 'crash' is already taken by Crash, a built-in (faults.process)"),
        (HICCUP.replace('node: str = "random"', 'node: str = "random"\n    fault: str = "x"'),
         "broken.py:18: fault 'hiccup': field name 'fault' is reserved"),
        (HICCUP.replace('node: str = "random"', 'node: str = "random"\n    loss: float = "lots"'),
         "broken.py:18: fault 'hiccup': field 'loss' must be a number, got 'lots' (its default)"),
        ("from scenarios.checkers import register_checker\n\n\n@register_checker('linearizability')\n"
         "def mine(sc, h, t, s):\n    return {}\n",
         "broken.py:4: checker name 'linearizability' is already taken, a built-in (scenarios.checkers)"),
    ],
    ids=["syntax", "import", "raises", "fault-name-taken", "reserved-field", "bad-default", "checker-taken"],
)
def test_a_broken_plugin_is_one_line_naming_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           source: str, want: str) -> None:
    from faults.registry import known

    before = known()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text(source)
    with pytest.raises(PluginError) as e:
        load_plugins(["broken.py"])
    assert str(e.value).startswith(want), str(e.value)
    assert "\n" not in str(e.value)
    assert known() == before and not any(p.name.endswith("broken.py") for p in loaded())


def test_a_system_with_a_bad_field_is_refused_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sys_plugin.py").write_text(textwrap.dedent('''\
        from scenarios.systems import System, register_system

        register_system(System(
            name="bad", summary="s", flaws=object, config=dict, build_core=len,
            build_workload=len, check_workload=len, checkers=("linearizability",),
        ))
        '''))
    with pytest.raises(PluginError, match=r"^sys_plugin\.py:3: system 'bad': field 'flaws' must be a class with "
                                          r"names\(\), describe\(name\) and from_names\(names\) \(no names\)"):
        load_plugins(["sys_plugin.py"])


def test_names_that_are_not_plugins_say_so(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"^plugins\[0\]: no such plugin file .*nothere\.py$"):
        load_plugins(["nothere.py"], base=tmp_path)
    with pytest.raises(PluginError, match=r"^plugins\[0\]: no module named 'no_such_pkg\.mod' \(a plain name is"):
        load_plugins(["no_such_pkg.mod"])
    with pytest.raises(PluginError, match=r"^--plugin: 'x\.txt/': a plugin file is a Python file ending in \.py"):
        load_plugins(["x.txt/"], base=tmp_path, where="--plugin")
    with pytest.raises(PluginError, match=r"is neither a module name nor a \.py file"):
        load_plugins(["not a module"])


@pytest.mark.parametrize(
    ("line", "want"),
    [('plugins = "hiccup.py"', "field 'plugins' must be a list of plugin files or module names, got str"),
     ("plugins = [3]", "plugins[0] must be a plugin file or a module name, got 3"),
     ('plugins = ["missing.py"]', "plugins[0]: no such plugin file")],
)
def test_a_bad_plugins_field_names_the_scenario_file(tmp_path: Path, line: str, want: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'name = "s"\nsummary = "s"\n{line}\n')
    with pytest.raises(ScenarioError, match="^" + str(path).replace(".", r"\.") + ": " + want.replace("[", r"\[")
                       .replace("]", r"\]")):
        load(str(path))


def test_a_module_plugin_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sb_test_module_plugin.py").write_text(HICCUP)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_plugins(["sb_test_module_plugin"]) == ("sb_test_module_plugin",)
        assert by_value_modules(["sb_test_module_plugin"]) == ("sb_test_module_plugin",)
        from faults.registry import get

        assert get("hiccup").__module__ == "sb_test_module_plugin"
    finally:
        sys.modules.pop("sb_test_module_plugin", None)


# --- workload kinds -----------------------------------------------------------------------------

WORKLOAD_PLUGIN = '''
import random

from scenarios.workloads import KV_OPS, REGISTER_OPS, WorkloadKind, register_workload


class HotKey:
    """Every operation on one key: the worst case for a register's contention."""

    def __init__(self, ops, count):
        self.ops, self.count, self.n = ops, count, 0

    def next_op(self, process, rng):
        self.n += 1
        if self.n > self.count:
            return None
        if rng.random() < 0.5:
            return (self.ops.read, "hot", None)
        return (self.ops.write, "hot", process * 1_000_000 + self.n)


def check(spec, system):
    bad = sorted(set(spec) - {"kind", "ops", "think_ms"})
    if bad:
        raise ValueError(f"workload: unknown field {bad[0]!r} for kind hot-key")


def build(spec, clients, system):
    return HotKey(KV_OPS if system == "raft-kv" else REGISTER_OPS, int(spec.get("ops", 200)))


register_workload(WorkloadKind("hot-key", "one key, half reads", check, build, systems=("raft-kv", "quorum")))
'''


def test_a_plugin_workload_kind(tmp_path: Path) -> None:
    (tmp_path / "hot.py").write_text(WORKLOAD_PLUGIN)
    path = tmp_path / "hot.toml"
    path.write_text('name = "hot"\nsummary = "s"\nplugins = ["hot.py"]\nnodes = 3\nclients = 3\n'
                    'duration_ms = 3000\nworkload = { kind = "hot-key", ops = 150 }\n')
    out = run_scenario(load(str(path)))
    assert out.verdict == "valid"
    assert {op.key for op in out.history.operations} == {"hot"} and len(out.history.operations) == 150
    with pytest.raises(ScenarioError, match=r"workload: unknown field 'keys' for kind hot-key"):
        from_dict({**load(str(path)).to_dict(), "workload": {"kind": "hot-key", "keys": 3}})
    with pytest.raises(ScenarioError, match=r"workload: unknown kind 'cold' for raft-kv; known: register, list-append, rw-register, bank, hot-key"):
        from_dict({**load(str(path)).to_dict(), "workload": {"kind": "cold"}})
    with pytest.raises(ScenarioError, match=r"workload: kind 'hot-key' is for raft-kv, quorum, not saga"):
        from_dict({**load("saga-healthy-queue").to_dict(), "workload": {"kind": "hot-key"}})


def test_a_plugin_workload_kind_may_not_take_a_systems_own_kind(tmp_path: Path) -> None:
    (tmp_path / "w.py").write_text(WORKLOAD_PLUGIN.replace('WorkloadKind("hot-key"', 'WorkloadKind("register"'))
    with pytest.raises(PluginError, match=r"workload kind 'register' is already taken by the own workload of "
                                          r"quorum, raft-kv"):
        load_plugins(["w.py"], base=tmp_path)


# --- entry points of an installed package (a stub distribution on sys.path) ---------------------


def _stub_distribution(site: Path, entry_points: str, files: dict[str, str]) -> None:
    dist = site / "sb_stub-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sb-stub\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(textwrap.dedent(text))


def _python(code: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{site}"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_entry_points_register_faults_checkers_and_scenarios(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _stub_distribution(site, """\
        [splitbrain.faults]
        hiccup = sb_stub.hiccup

        [splitbrain.checkers]
        always = sb_stub.checks:register

        [splitbrain.scenarios]
        catalog = sb_stub.checks:add_scenarios
        """, {
        "sb_stub/__init__.py": "",
        "sb_stub/hiccup.py": HICCUP,
        "sb_stub/checks.py": '''\
            from pathlib import Path

            def register():
                from scenarios.checkers import register_checker

                @register_checker("always-valid")
                def always(sc, history, trace, timeout_s):
                    return {"checker": "always-valid", "verdict": "valid", "explanation": ["fine"]}

            def add_scenarios():
                from scenarios.spec import add_catalog

                add_catalog(Path(__file__).parent / "catalog")
            ''',
        "sb_stub/catalog/stub-hiccups.toml": SCENARIO.replace('plugins = ["{plugin}"]\n', "")
        .replace('"hiccups"', '"stub-hiccups"').replace('"raft-safety"]', '"raft-safety", "always-valid"]')
        .replace("{{", "{").replace("}}", "}"),
    })
    proc = _python("""
        import json
        from scenarios.plugins import loaded
        from scenarios.runner import run_scenario
        from scenarios.spec import catalog

        cat = catalog()
        out = run_scenario(cat["stub-hiccups"])
        print(json.dumps({"verdict": out.verdict, "checkers": [r["checker"] for r in out.results],
                          "faults": [r["description"] for r in out.trace if r.get("kind") == "fault-start"],
                          "plugins": [p.summary() for p in loaded()]}))
        """, site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["verdict"] == "valid"
    assert got["checkers"] == ["linearizability", "raft-safety", "always-valid"]
    assert got["faults"] and all(d.startswith("hiccup on n") for d in got["faults"])
    assert got["plugins"][0] == "sb_stub.hiccup (sb-stub 1.0): faults hiccup"
    assert got["plugins"][1] == "sb_stub.checks:register (sb-stub 1.0): checkers always-valid"
    assert got["plugins"][2].startswith("sb_stub.checks:add_scenarios (sb-stub 1.0): scenarios ")


def test_entry_points_load_only_when_a_registry_is_asked(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _stub_distribution(site, "[splitbrain.faults]\nhiccup = sb_stub_lazy\n",
                       {"sb_stub_lazy.py": "raise SystemExit('imported too early')\n"})
    proc = _python("""
        import sys
        import scenarios.spec, scenarios.runner, faults
        assert "sb_stub_lazy" not in sys.modules
        print("lazy")
        """, site, tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "lazy", proc.stderr


def test_a_broken_entry_point_is_one_line_naming_file_line_and_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _stub_distribution(site, "[splitbrain.systems]\nbroken = sb_stub_broken\n",
                       {"sb_stub_broken.py": "import os\nimport no_such_module_at_all\n"})
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{site}"}
    proc = subprocess.run([sys.executable, "-m", "splitbrain", "list"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == ("splitbrain: error: site/sb_stub_broken.py:2: ModuleNotFoundError: No module named "
                        "'no_such_module_at_all' (entry point broken = sb_stub_broken in group splitbrain.systems "
                        "of sb-stub 1.0)")


def test_an_error_in_a_helper_beside_the_plugin_names_the_helpers_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "sb_test_helper.py").write_text("X = 1\nY = {}['missing']\n")
    (tmp_path / "uses_helper.py").write_text("import json\nimport sb_test_helper\n")
    try:
        with pytest.raises(PluginError, match=r"^sb_test_helper\.py:2: KeyError: 'missing'$"):
            load_plugins(["uses_helper.py"])
    finally:
        sys.modules.pop("sb_test_helper", None)
