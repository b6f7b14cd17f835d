"""Compile the simulator's hot modules with mypyc into build/native/ (git-ignored).

    .venv/bin/python scripts/build_native.py            # build (or rebuild) the compiled cores
    .venv/bin/python scripts/build_native.py --if-stale # build only if there is no fresh build
    .venv/bin/python scripts/build_native.py --check    # is there a fresh build? (exit 0 yes, 1 no)
    .venv/bin/python scripts/build_native.py --clean    # remove it: every process runs pure Python

The compiled modules are used by any process whose ``SPLITBRAIN_PURE`` is unset, as long as
the build is fresh; after an edit to a source the build read, processes silently use the
``.py`` modules until the next build (see ``cluster/native.py`` for how and why).
``scripts/setup.sh`` runs this after it installs the packages; a failed build (no C
compiler, say) leaves the pure-Python path, which gives the same results, more slowly.

What is compiled: the modules a simulated message passes through (``bench/sim.py
--profile``): the Raft core with its log, progress, read and message modules, the KV state
machine, the shared driver loop, and the simulator's scheduler, network, transport, node
process and client slots.  They are compiled together into one group (one shared library,
``splitbrain_native__mypyc``), so calls between them are direct C calls.  The manifest
records a SHA-256 over every source mypyc read to compile them: the modules themselves and
every project module they import, transitively (mypyc bakes their types into the C code).
The hashes are taken before compiling, so a file edited during the build makes it stale.

The build happens in a temporary folder next to ``build/native`` and replaces it whole at the
end, manifest last, so a process never sees half a build.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.machinery
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMPILED: tuple[str, ...] = (
    "cluster/core/types.py",
    "cluster/core/raft_messages.py",
    "cluster/core/raft_log.py",
    "cluster/core/raft_progress.py",
    "cluster/core/raft_read.py",
    "cluster/core/raft.py",
    "cluster/core/kv.py",
    "cluster/core/kv_txn.py",
    "cluster/core/client.py",
    "cluster/core/storage.py",
    "cluster/clock.py",
    "cluster/driver.py",
    "cluster/sim/scheduler.py",
    "cluster/sim/network.py",
    "cluster/sim/transport.py",
    "cluster/sim/process.py",
    "cluster/sim/clients.py",
    "cluster/sim/recorder.py",
)
"""The modules compiled, as paths relative to the checkout."""

GROUP = "splitbrain_native"
"""mypyc's group name: the shared library is the top-level module ``GROUP + "__mypyc"``."""

PROJECT_PACKAGES = ("cluster", "analysis", "faults", "scenarios", "splitbrain")


def _module_file(name: str) -> str | None:
    """The checkout-relative file of project module ``name``, if it is one."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT).as_posix()
    return None


def _imports(rel: str) -> set[str]:
    """Project modules ``rel`` imports (at any level, type-checking blocks included: mypy
    reads those too), with the packages that hold them (importing a module runs its
    package's ``__init__``)."""
    tree = ast.parse((ROOT / rel).read_text(), rel)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    files: set[str] = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            found = _module_file(".".join(parts[:i]))
            if found is not None:
                files.add(found)
    return files


def sources() -> list[str]:
    """Every file the build depends on: the compiled modules and the project modules they
    import, transitively, sorted."""
    seen: set[str] = set()
    todo = list(COMPILED)
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        todo.extend(_imports(rel) - seen)
    return sorted(seen)


def _module_name(rel: str) -> str:
    return rel.removesuffix(".py").replace("/", ".")


def build(out: Path, *, verbose: bool) -> dict[str, object]:
    """Compile into ``out`` (replaced whole); returns the manifest written."""
    # The finder must not serve the previous build to this process: mypy imports nothing
    # of the project, but setuptools and mypyc run here.
    os.environ["SPLITBRAIN_PURE"] = "1"
    sys.path.insert(0, str(ROOT))
    from cluster.native import FORMAT, MANIFEST, source_digest

    files = sources()
    digest = source_digest(ROOT, files)  # before compiling: an edit meanwhile makes it stale
    staging = out.with_name(out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    work = out.with_name(out.name + ".work")
    lib = staging
    log = io.StringIO()
    os.chdir(ROOT)  # mypy reads its settings from pyproject.toml here
    try:
        with contextlib.redirect_stdout(log) if not verbose else contextlib.nullcontext():
            from mypyc.build import mypycify
            from setuptools import setup

            extensions = mypycify(list(COMPILED), opt_level="3", debug_level="0", target_dir=str(work / "c"),
                                  group_name=GROUP)
            # setuptools would read the project's own pyproject.toml in the checkout.
            work.mkdir(parents=True, exist_ok=True)
            os.chdir(work)
            setup(name="splitbrain-native", ext_modules=extensions,
                  script_args=["-q", "build_ext", "--build-lib", str(lib), "--build-temp", str(work / "tmp")])
    except (Exception, SystemExit) as exc:  # mypyc and setuptools report failures as either
        raise RuntimeError(f"{exc}\n{log.getvalue()}".strip()) from exc
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    modules = {_module_name(rel): rel.removesuffix(".py") + suffix for rel in COMPILED}
    modules[GROUP + "__mypyc"] = GROUP + "__mypyc" + suffix
    missing = [rel for rel in modules.values() if not (lib / rel).is_file()]
    if missing:
        raise RuntimeError(f"the build did not produce {missing[0]}\n{log.getvalue()}")
    manifest: dict[str, object] = {
        "format": FORMAT,
        "ext_suffix": suffix,
        "python": sys.version.split()[0],
        "mypyc": _mypy_version(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "modules": modules,
        "sources": files,
        "digest": digest,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def _mypy_version() -> str:
    from mypy.version import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="say whether a fresh build exists (exit 0) or not (1)")
    ap.add_argument("--if-stale", action="store_true", help="build only if there is no fresh build")
    ap.add_argument("--clean", action="store_true", help="remove the build")
    ap.add_argument("--verbose", action="store_true", help="show mypyc's and the C compiler's output")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cluster.native import BUILD_DIR, MANIFEST, NativeFinder

    if args.clean:
        shutil.rmtree(BUILD_DIR, ignore_errors=True)
        print(f"build_native: removed {BUILD_DIR.relative_to(ROOT)}")
        return 0
    if args.check or args.if_stale:
        try:
            manifest = json.loads((BUILD_DIR / MANIFEST).read_text())
            finder = NativeFinder(ROOT, BUILD_DIR, manifest)
            why_not = finder.reason
        except (OSError, ValueError):
            manifest, why_not = {}, "no build"
        if not why_not:
            print(f"build_native: fresh ({len(manifest['modules']) - 1} modules compiled, built {manifest.get('built_at')})")
            return 0
        if args.check:
            print(f"build_native: not used: {why_not}")
            return 1
    t0 = time.perf_counter()
    try:
        manifest = build(BUILD_DIR, verbose=args.verbose)
    except Exception as exc:
        text = str(exc).strip()
        print(f"build_native: compiling failed, the pure-Python modules will be used: {text}", file=sys.stderr)
        return 1
    print(f"build_native: compiled {len(COMPILED)} modules into {BUILD_DIR.relative_to(ROOT)} "
          f"in {time.perf_counter() - t0:.0f} s (over {len(manifest['sources'])} source files)")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
