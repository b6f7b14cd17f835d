"""docs/extending.md, run as written: every file it shows is written, every command it shows
is run, and what it says a command prints is what the command prints.

The page's code blocks are of two kinds, and a block of any other kind fails the test (so
the page cannot grow an example nobody runs):

* a file: a fenced block whose info string has ``title=PATH`` -- written to PATH;
* a transcript: a ``console`` block of ``$ command`` lines, each followed by the lines it
  prints.  A printed line may hold ``...`` (anything), and a line that is only ``...``
  skips any number of lines; the others must appear in that order (stdout, then stderr).
  ``# exits N`` after a command is its exit code (0 otherwise).

``splitbrain`` in a command is this checkout's CLI.  Commands with ``--engine ray`` run in
the Ray test (marked ``ray``); the others in the simulator test, in page order, in one
temporary folder.  The ``pyproject.toml`` block declares the entry points of a package made
of the page's modules: once it is read, the test "installs" that package -- a folder on
``PYTHONPATH`` with a ``*.dist-info`` stub holding ``entry_points.txt`` -- for the
commands after it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"
FENCE = re.compile(r"^```([A-Za-z]*)([^\n]*)\n(.*?)^```$", re.S | re.M)
PACKAGE_MODULES = ("slowdown.py", "availability.py", "one_register.py")


@dataclass
class Command:
    line: str
    exits: int
    expected: list[str] = field(default_factory=list)

    @property
    def on_ray(self) -> bool:
        return "--engine ray" in self.line


@dataclass
class Block:
    kind: str  # "file" or "console"
    path: str = ""
    text: str = ""
    commands: list[Command] = field(default_factory=list)


def blocks() -> list[Block]:
    out = []
    for m in FENCE.finditer(DOC.read_text()):
        lang, info, body = m.group(1), m.group(2), m.group(3)
        title = re.search(r"title=(\S+)", info)
        if title:
            out.append(Block("file", path=title.group(1), text=body))
        elif lang == "console":
            out.append(Block("console", commands=_transcript(body)))
        else:
            raise AssertionError(f"docs/extending.md: a ```{lang} block with no title= is run by no test:\n{body}")
    return out


def _transcript(body: str) -> list[Command]:
    commands: list[Command] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            exits = re.search(r"#\s*exits\s+(\d+)\s*$", line)
            commands.append(Command(line[2:], int(exits.group(1)) if exits else 0))
        else:
            assert commands, f"output before any command in a console block: {line!r}"
            commands[-1].expected.append(line)
    return commands


class Folder:
    """The reader's folder: files written so far, and the ``splitbrain`` they call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        bin_dir = path / ".bin"
        bin_dir.mkdir()
        cli = bin_dir / "splitbrain"
        cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m splitbrain "$@"\n')
        cli.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if k not in ("SPLITBRAIN_STORE", "PYTHONPATH")}
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{self.env.get('PATH', '')}"
        self.env["PYTHONPATH"] = str(ROOT)
        self.env["RAY_USAGE_STATS_ENABLED"] = "0"
        self.pyproject: str | None = None

    def write(self, block: Block) -> None:
        target = self.path / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text)
        if block.path == "pyproject.toml":
            self.pyproject = block.text

    def install_package(self) -> None:
        """What ``pip install .`` of the page's pyproject.toml would give: the package on
        the path and its distribution's metadata, entry points included."""
        assert self.pyproject is not None
        project = tomllib.loads(self.pyproject)["project"]
        site = self.path / "site"
        package = site / "my_splitbrain_plugins"
        shutil.copytree(self.path / "my_splitbrain_plugins", package)
        (package / "__init__.py").write_text("")
        for module in PACKAGE_MODULES:
            shutil.copy(self.path / module, package / module)
        dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                       f"Version: {project['version']}\n")
        lines = []
        for group, points in project["entry-points"].items():
            lines.append(f"[{group}]")
            lines += [f"{name} = {value}" for name, value in points.items()]
            lines.append("")
        (dist / "entry_points.txt").write_text("\n".join(lines))
        self.env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{site}"
        self.pyproject = None

    def run(self, command: Command) -> None:
        if self.pyproject is not None:
            self.install_package()
        proc = subprocess.run(["bash", "-c", command.line], cwd=self.path, env=self.env,
                              capture_output=True, text=True, timeout=600)
        said = f"$ {command.line}\n--- exit {proc.returncode}; stdout:\n{proc.stdout}\n--- stderr:\n{proc.stderr}"
        assert proc.returncode == command.exits, said
        missing = unmatched(command.expected, proc.stdout.splitlines() + proc.stderr.splitlines())
        assert missing is None, f"docs/extending.md promises the line\n  {missing}\nwhich is not in\n{said}"


def unmatched(expected: list[str], lines: list[str]) -> str | None:
    """The first expected line that does not match, in order, or None when all do."""
    at = 0
    gap = False
    for want in expected:
        if want.strip() == "...":
            gap = True
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.strip().split("...")))
        while at < len(lines) and not pattern.fullmatch(lines[at].strip()):
            if not gap:
                return want
            at += 1
        if at == len(lines):
            return want
        at += 1
        gap = False
    return None


def test_every_block_is_a_file_or_a_transcript() -> None:
    got = blocks()
    assert sum(b.kind == "file" for b in got) >= 8 and sum(b.kind == "console" for b in got) >= 8


def test_the_slowdown_plugin_is_the_faults_md_example_verbatim() -> None:
    faults_md = (ROOT / "docs" / "faults.md").read_text()
    example = next(m.group(3) for m in FENCE.finditer(faults_md) if "class Slowdown" in m.group(3))
    slowdown = next(b for b in blocks() if b.path == "slowdown.py")
    assert slowdown.text == example


def test_matching_promised_output() -> None:
    out = ["scenario x  seed=1", "noise", "verdict VALID", "  - a b c"]
    assert unmatched(["scenario x  seed=1", "...", "verdict VALID"], out) is None
    assert unmatched(["scenario ...  seed=1", "noise"], out) is None
    assert unmatched(["verdict VALID"], out) == "verdict VALID"  # no gap allowed at the start
    assert unmatched(["...", "verdict INVALID"], out) == "verdict INVALID"
    assert unmatched(["...", "- a ... c"], out) is None


def test_the_page_in_the_simulator(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    ran = 0
    for block in blocks():
        if block.kind == "file":
            folder.write(block)
            continue
        for command in block.commands:
            if not command.on_ray:
                folder.run(command)
                ran += 1
    assert ran >= 15
    report = next((tmp_path / "store" / "slow-leader").glob("*-s1/report.html")).read_text()
    assert "slowed everything n" in report and "(the leader) sends by 300 ms" in report


@pytest.mark.ray
def test_the_page_on_ray(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    ran = 0
    for block in blocks():
        if block.kind == "file":
            folder.write(block)
            continue
        for command in block.commands:
            if command.on_ray:
                folder.run(command)
                ran += 1
    assert ran >= 3
