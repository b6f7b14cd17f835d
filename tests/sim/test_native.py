"""The compiled cores (cluster/native.py, scripts/build_native.py): used when built and
fresh, never when stale, never with SPLITBRAIN_PURE=1, and the same bytes either way.

The tests that need a real build run in child processes, one per mode, so that a test
session in either mode checks both.  Where there is no fresh build they skip, naming why,
unless ``SPLITBRAIN_REQUIRE_NATIVE=1`` (for machines where a build is expected): then a
build that failed or went stale fails here instead of hiding behind the pure-Python fallback.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cluster import native
from cluster.native import FORMAT, MANIFEST, NativeFinder, pure_requested, source_digest

ROOT = native.ROOT
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
SCENARIOS = ("raft-healthy-random", "raft-lease-skew", "quorum-healthy-random")
"""Golden scenarios run in each mode: Raft (every compiled module) with random faults,
Raft with clock faults, and a core whose messages are interpreted subclasses of the
compiled Message."""

_CHILD = """
import json, sys
from cluster import native
import cluster.core.raft as raft
from tests.scenarios.test_golden import run_hashes
hashes = {name: run_hashes(name) for name in sys.argv[1:]}
print(json.dumps({"status": native.status(), "compiled": native.compiled_modules(),
                  "raft": raft.__file__, "hashes": hashes}))
"""


def _child(pure: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    proc = subprocess.run([sys.executable, "-c", _CHILD, *SCENARIOS], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _recorded() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads((ROOT / "tests/scenarios/golden_hashes.json").read_text())
    return {name: data[name] for name in SCENARIOS}


def _fresh_build() -> dict[str, Any]:
    """The real build's manifest, or a skip (a failure under SPLITBRAIN_REQUIRE_NATIVE=1)."""
    try:
        manifest: dict[str, Any] = json.loads((native.BUILD_DIR / MANIFEST).read_text())
        why_not = NativeFinder(ROOT, native.BUILD_DIR, manifest).reason
    except FileNotFoundError:
        manifest, why_not = {}, "no build"
    if why_not:
        message = f"compiled cores not usable: {why_not} (scripts/build_native.py builds them)"
        if os.environ.get("SPLITBRAIN_REQUIRE_NATIVE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return manifest


def test_a_fresh_build_is_what_runs_and_gives_the_recorded_bytes() -> None:
    manifest = _fresh_build()
    got = _child(pure=False)
    assert got["status"]["mode"] == "compiled"
    modules = sorted(name for name in manifest["modules"] if not name.endswith("__mypyc"))
    assert got["compiled"] == modules  # every compiled module was imported from the build
    assert got["raft"] == str(native.BUILD_DIR / manifest["modules"]["cluster.core.raft"])
    assert got["hashes"] == _recorded()


def test_the_pure_switch_runs_the_py_modules_and_gives_the_recorded_bytes() -> None:
    got = _child(pure=True)
    assert got["status"] == {"mode": "pure", "reason": f"{native.PURE_ENV} is set", "modules": []}
    assert got["compiled"] == []
    assert got["raft"] == str(ROOT / "cluster/core/raft.py")
    assert got["hashes"] == _recorded()


def test_the_switch_is_any_value_but_empty_or_zero() -> None:
    assert not pure_requested({})
    assert not pure_requested({native.PURE_ENV: ""})
    assert not pure_requested({native.PURE_ENV: "0"})
    assert pure_requested({native.PURE_ENV: "1"})
    assert pure_requested({native.PURE_ENV: "yes"})


# --- the finder's decision, on a build made up in a temporary folder ---------------------------


def _fake_build(tmp: Path) -> tuple[Path, Path, dict[str, Any]]:
    """A checkout with two sources and a build dir with one module's extension file (empty:
    the finder's decision is tested, nothing is imported)."""
    root, build = tmp / "checkout", tmp / "checkout/build/native"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/a.py").write_text("A = 1\n")
    (root / "pkg/b.py").write_text("B = 2\n")
    (build / "pkg").mkdir(parents=True)
    (build / f"pkg/a{SUFFIX}").write_bytes(b"")
    sources = ["pkg/a.py", "pkg/b.py"]
    manifest = {"format": FORMAT, "ext_suffix": SUFFIX, "modules": {"pkg.a": f"pkg/a{SUFFIX}"},
                "sources": sources, "digest": source_digest(root, sources)}
    return root, build, manifest


def test_a_fresh_build_serves_the_extension_of_each_module_it_lists(tmp_path: Path) -> None:
    root, build, manifest = _fake_build(tmp_path)
    finder = NativeFinder(root, build, manifest)
    spec = finder.find_spec("pkg.a")
    assert spec is not None and spec.origin == str(build / f"pkg/a{SUFFIX}")
    assert isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    assert finder.find_spec("pkg.b") is None  # not compiled: the ordinary finders import it
    assert finder.reason == ""


@pytest.mark.parametrize("edit", ["compiled source", "imported source", "source gone", "other python",
                                  "extension gone", "other layout", "damaged library"])
def test_a_stale_or_foreign_build_is_never_used(tmp_path: Path, edit: str) -> None:
    root, build, manifest = _fake_build(tmp_path)
    if edit == "compiled source":
        (root / "pkg/a.py").write_text("A = 10\n")
    elif edit == "imported source":
        (root / "pkg/b.py").write_text("B = 2  # a comment is an edit too\n")
    elif edit == "source gone":
        (root / "pkg/b.py").unlink()
    elif edit == "other python":
        manifest["ext_suffix"] = ".cpython-399-x86_64-linux-gnu.so"
    elif edit == "extension gone":
        shutil.rmtree(build / "pkg")
    elif edit == "damaged library":
        library = f"fake_{os.getpid()}__mypyc"
        (build / f"{library}{SUFFIX}").write_bytes(b"not an ELF file")
        manifest["modules"][library] = f"{library}{SUFFIX}"
    else:
        manifest["format"] = FORMAT + 1
    finder = NativeFinder(root, build, manifest)
    assert finder.find_spec("pkg.a") is None
    assert finder.reason  # says why, for status() and build_native.py --check
    if edit in ("compiled source", "imported source"):
        assert finder.reason.startswith("stale")
