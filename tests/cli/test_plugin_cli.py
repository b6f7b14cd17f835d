"""`--plugin` on the commands, broken plugins (exit 3, one line naming file and line), and
`splitbrain new fault` / `new scenario` (starting points that run as written)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from scenarios.spec import load
from splitbrain.cli import main
from tests.plugin_files import HICCUP, SCENARIO, forget_plugins  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("forget_plugins")


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPLITBRAIN_STORE", str(tmp_path / "store"))
    return tmp_path


def _err(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


BROKEN = {
    "syntax": ("from faults.registry import register\n\ndef oops(:\n    pass\n",
               "splitbrain: error: broken.py:3: SyntaxError: invalid syntax"),
    "import": ("import json\nfrom faults.nothing_here import Thing\n",
               "splitbrain: error: broken.py:2: ModuleNotFoundError: No module named 'faults.nothing_here'"),
    "name-taken": (HICCUP.replace('"hiccup"', '"partition"'),
                   "splitbrain: error: broken.py:11: fault name 'partition' is already taken by Partition, a "
                   "built-in (faults.partition); a plugin may not replace another fault: choose another name"),
    "bad-field": (HICCUP.replace('node: str = "random"', 'node: str = "random"\n    count: int = 1.5'),
                  "splitbrain: error: broken.py:18: fault 'hiccup': field 'count' must be a whole number, got 1.5 "
                  "(its default)"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("how", ["--plugin", "scenario"])
def test_a_broken_plugin_exits_3_with_one_line(here: Path, capsys: pytest.CaptureFixture[str], case: str,
                                                how: str) -> None:
    source, line = BROKEN[case]
    (here / "broken.py").write_text(source)
    if how == "--plugin":
        code = main(["run", "raft-leader-partition", "--plugin", "broken.py", "--no-save", "-q"])
    else:
        (here / "s.toml").write_text(SCENARIO.format(plugin="broken.py"))
        code = main(["run", "s.toml", "--no-save", "-q"])
    assert code == 3
    assert _err(capsys) == [line]


@pytest.mark.parametrize("command", [["list"], ["show", "raft-leader-partition"], ["explore", "raft-figure8"],
                                     ["replay"], ["check", "store/latest"], ["new", "fault", "x"]])
def test_every_command_that_reads_scenarios_takes_plugin(here: Path, capsys: pytest.CaptureFixture[str],
                                                         command: list[str]) -> None:
    (here / "broken.py").write_text(BROKEN["syntax"][0])
    assert main([*command, "--plugin", "broken.py"]) == 3
    assert _err(capsys) == [BROKEN["syntax"][1]]


def test_a_missing_plugin_file_is_one_line(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "raft-leader-partition", "--plugin", "nope.py"]) == 3
    assert _err(capsys) == ["splitbrain: error: --plugin: no such plugin file nope.py"]


def test_run_with_plugin_records_it_for_check_and_replay(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "hiccup.py").write_text(HICCUP)
    (here / "s.toml").write_text(SCENARIO.replace('plugins = ["{plugin}"]\n', "").replace("{{", "{")
                                 .replace("}}", "}"))
    assert main(["run", "s.toml", "--plugin", "hiccup.py", "-q"]) == 0
    out = capsys.readouterr().out
    assert "replay:  splitbrain run s.toml --seed 4 --plugin hiccup.py --no-flaws" in out
    run_dir = (here / "store" / "latest").resolve()
    assert json.loads((run_dir / "scenario.json").read_text())["plugins"] == ["plugins/hiccup.py"]
    page = (run_dir / "report.html").read_text()
    assert f"--plugin {run_dir}/plugins/hiccup.py" in page
    assert main(["check", str(run_dir)]) == 0
    assert main(["replay", str(run_dir)]) == 0
    assert "identical" in capsys.readouterr().out


def test_list_and_show_say_what_plugins_add(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "hiccup.py").write_text(HICCUP)
    (here / "s.toml").write_text(SCENARIO.format(plugin="hiccup.py"))
    assert main(["list", "--plugin", "hiccup.py"]) == 0
    assert "  hiccup.py: faults hiccup" in capsys.readouterr().out.splitlines()
    assert main(["show", "s.toml"]) == 0
    out = capsys.readouterr().out
    assert "plugins: hiccup.py" in out and "'fault': 'hiccup', 'node': 'leader'" in out


def test_new_fault_writes_a_plugin_and_a_scenario_that_run(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "fault", "slow-disk"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["wrote slow_disk.py", "wrote slow-disk.toml"]
    scenario = tomllib.loads((here / "slow-disk.toml").read_text())
    assert scenario["plugins"] == ["slow_disk.py"] and scenario["engines"] == ["sim", "ray"]
    assert main(["run", "./slow-disk.toml", "--no-save", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "valid"
    described = result["stats"]["fault_descriptions"]
    assert len(described) == 2 and all(d.startswith("made n") and "flaky" in d for d in described)


def test_new_never_overwrites(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "slow-disk.toml").write_text("mine\n")
    assert main(["new", "fault", "slow-disk"]) == 3
    assert _err(capsys) == [f"splitbrain: error: {here / 'slow-disk.toml'} already exists; nothing was written "
                            "(remove it or choose another name)"]
    assert not (here / "slow_disk.py").exists() and (here / "slow-disk.toml").read_text() == "mine\n"


@pytest.mark.parametrize(("argv", "line"), [
    (["new", "fault", "crash"], "fault name 'crash' is already taken, a built-in (faults.process); choose another name"),
    (["new", "fault", "Slow_Disk"], "fault name 'Slow_Disk': use lowercase letters, digits and single hyphens, "
                                    "starting with a letter (e.g. slow-disk)"),
    (["new", "scenario", "x", "--from", "nope"], "unknown scenario 'nope' (see 'splitbrain list')"),
])
def test_new_refuses_bad_names(here: Path, capsys: pytest.CaptureFixture[str], argv: list[str], line: str) -> None:
    assert main(argv) == 3
    assert _err(capsys) == [f"splitbrain: error: {line}"]
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("base", ["raft-follower-reads", "saga-orchestrator-crash", "raft-lease-skew-real"])
def test_new_scenario_copies_every_field(here: Path, capsys: pytest.CaptureFixture[str], base: str) -> None:
    assert main(["new", "scenario", "mine", "--from", base]) == 0
    text = (here / "mine.toml").read_text()
    assert text.count("# ") >= 15, "every field is explained"
    copy, original = load(str(here / "mine.toml")), load(base)
    assert copy.name == "mine"
    ignore = {"name", "twin", "source", "question"}
    assert not copy.question, "a question is about the original scenario: the copy asks none"
    assert {k: v for k, v in copy.to_dict().items() if k not in ignore} == \
           {k: v for k, v in original.to_dict().items() if k not in ignore}


def test_new_scenario_from_a_file_with_plugins_runs(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "lib").mkdir()
    (here / "lib" / "hiccup.py").write_text(HICCUP)
    (here / "lib" / "s.toml").write_text(SCENARIO.format(plugin="hiccup.py"))
    assert main(["new", "scenario", "mine", "--from", "lib/s.toml"]) == 0
    assert tomllib.loads((here / "mine.toml").read_text())["plugins"] == ["lib/hiccup.py"]
    assert main(["run", "mine.toml", "--no-save", "-q"]) == 0
