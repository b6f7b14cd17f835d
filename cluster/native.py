"""Compiled simulator cores: use the mypyc build when it is there and fresh, else pure Python.

``scripts/build_native.py`` compiles the hot modules (the Raft core and its messages, the
KV state machine, the shared driver loop and the simulator's scheduler, network,
transport, node process and client slots) with mypyc into ``build/native/`` -- a
git-ignored folder, never ``.so`` files beside the sources -- and writes a manifest there:
which modules it compiled, the extension file of each, and a SHA-256 of every source the
build read (the compiled modules and every project module they import, since mypyc bakes
what it knows of those into the C code).

:func:`install`, called by ``cluster/__init__.py`` before any submodule is imported, puts
a :class:`NativeFinder` at the front of ``sys.meta_path``.  When asked for a module the
manifest lists, the finder checks the build once per process: the environment switch,
the interpreter's extension suffix, and the hash of every recorded source against the
files as they are now.  If all agree it hands back a spec for the compiled extension;
otherwise it answers ``None`` for every module, so the ordinary path finder imports the
``.py`` files: a stale build (a source edited since it was built) is never run, because it
would give different bytes from the code a reader sees.  The fallback is silent on
purpose -- the pure modules are the reference and give the same results -- and
:func:`status` says which mode a process is in and why, for ``bench/sim.py`` and tests.

Why a meta-path finder rather than ``sys.path``: the compiled modules live in the
packages ``cluster.core``, ``cluster.sim`` and ``cluster``, whose ``__path__`` is the
source folder, so a folder put on ``sys.path`` would never be searched for them; and a
finder is the one place where the whole build is accepted or refused at once.  That
matters because mypyc compiles the modules together into one shared library
(``splitbrain_native__mypyc``, a top-level module the per-module stubs import by name):
a compiled module calls its compiled neighbours directly in C, so mixing a compiled
``raft`` with a pure ``raft_log`` is not an option; it is all of them or none.  The
finder serves that shared library too, so nothing is added to ``sys.path`` either.

The switch: ``SPLITBRAIN_PURE=1`` (any value but empty or ``0``) makes every process that
sees it import only the pure modules.  It is read when ``cluster`` is first imported, so
set it before a process starts (child processes inherit it).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["BUILD_DIR", "MANIFEST", "PURE_ENV", "ROOT", "NativeFinder", "compiled_modules", "install",
           "source_digest", "status"]

PURE_ENV = "SPLITBRAIN_PURE"
"""Set (to anything but empty or ``0``) to use the pure-Python modules only."""

ROOT = Path(__file__).resolve().parents[1]
"""The checkout: the folder that holds the ``cluster`` package."""

BUILD_DIR = ROOT / "build" / "native"
"""Where ``scripts/build_native.py`` puts the compiled extensions and the manifest."""

MANIFEST = "manifest.json"

FORMAT = 1
"""Version of the manifest's layout; a build written in another layout is not used."""


def pure_requested(environ: Any = None) -> bool:
    """Whether the environment asks for the pure-Python modules only."""
    value = (os.environ if environ is None else environ).get(PURE_ENV, "")
    return value not in ("", "0")


def source_digest(root: Path, files: Sequence[str]) -> str:
    """One SHA-256 over ``files`` (paths relative to ``root``), names and contents, in
    order: the build records it, and a build is used only while it still matches."""
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode())
        h.update(b"\0")
        h.update((root / rel).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class NativeFinder:
    """Serves the compiled modules of one build, or nothing when the build is stale.

    ``manifest`` is the build's manifest (see ``scripts/build_native.py``): ``modules``
    maps each module name to its extension file (relative to ``build_dir``), ``sources``
    lists the files whose ``digest`` the build recorded (relative to ``root``).
    """

    def __init__(self, root: Path, build_dir: Path, manifest: dict[str, Any]) -> None:
        self.root = root
        self.build_dir = build_dir
        self.manifest = manifest
        modules = manifest.get("modules")
        self.modules: dict[str, str] = dict(modules) if isinstance(modules, dict) else {}
        self._verdict: str | None = None  # None: not checked yet; "": fresh; else why not

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        rel = self.modules.get(fullname)
        if rel is None or not self.usable():
            return None
        location = str(self.build_dir / rel)
        return importlib.util.spec_from_file_location(
            fullname, location, loader=importlib.machinery.ExtensionFileLoader(fullname, location))

    def invalidate_caches(self) -> None:
        """Part of the finder protocol; the verdict is kept for the life of the process
        (a module imported from one build must not meet modules from another)."""

    def usable(self) -> bool:
        """Whether this build may be used (checked once, on the first question)."""
        if self._verdict is None:
            self._verdict = self._check()
        return self._verdict == ""

    @property
    def reason(self) -> str:
        """Why the build is not used ("" when it is)."""
        self.usable()
        return self._verdict or ""

    def _check(self) -> str:
        m = self.manifest
        if m.get("format") != FORMAT:
            return f"the build's manifest has layout {m.get('format')!r}, not {FORMAT}"
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        if m.get("ext_suffix") != suffix:
            return f"built for extension suffix {m.get('ext_suffix')!r}, this Python uses {suffix!r}"
        sources = m.get("sources")
        if not isinstance(sources, list) or not sources or not self.modules:
            return "the manifest lists no sources or no modules"
        try:
            digest = source_digest(self.root, sources)
        except OSError as exc:
            return f"a source the build read is gone ({exc.filename})"
        if digest != m.get("digest"):
            return "stale: sources changed since the build (run scripts/build_native.py)"
        missing = [rel for rel in self.modules.values() if not (self.build_dir / rel).is_file()]
        if missing:
            return f"the build lacks {missing[0]}"
        return self._load_shared_libraries()

    def _load_shared_libraries(self) -> str:
        """Load mypyc's shared library now, so that one this interpreter cannot load (a
        missing symbol, a damaged file) means pure Python rather than a failed import later;
        the modules' stubs find it in ``sys.modules``."""
        for name, rel in self.modules.items():
            if not _is_shared_library(name) or name in sys.modules:
                continue
            location = str(self.build_dir / rel)
            try:
                spec = importlib.util.spec_from_file_location(
                    name, location, loader=importlib.machinery.ExtensionFileLoader(name, location))
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception as exc:  # any failure to load means: do not use this build
                return f"cannot load {rel}: {exc}"
            sys.modules[name] = module
        return ""


_finder: NativeFinder | None = None
_why_not = "not installed"


def install(root: Path = ROOT, build_dir: Path = BUILD_DIR) -> NativeFinder | None:
    """Put the finder for the build in ``build_dir`` first on ``sys.meta_path`` unless
    :data:`PURE_ENV` asks for pure Python or there is no build; idempotent."""
    global _finder, _why_not
    if _finder is not None:
        return _finder
    if pure_requested():
        _why_not = f"{PURE_ENV} is set"
        return None
    try:
        manifest = json.loads((build_dir / MANIFEST).read_text())
    except FileNotFoundError:
        _why_not = "no build (run scripts/build_native.py)"
        return None
    except (OSError, ValueError) as exc:
        _why_not = f"unreadable manifest: {exc}"
        return None
    if not isinstance(manifest, dict):
        _why_not = "unreadable manifest: not an object"
        return None
    _finder = NativeFinder(root, build_dir, manifest)
    sys.meta_path.insert(0, _finder)
    return _finder


def compiled_modules() -> list[str]:
    """The modules of the build that this process has imported from it, sorted (mypyc's
    shared library left out)."""
    if _finder is None:
        return []
    out = []
    for name, rel in _finder.modules.items():
        if _is_shared_library(name):
            continue
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None) == str(_finder.build_dir / rel):
            out.append(name)
    return sorted(out)


def status() -> dict[str, Any]:
    """Which modules this process runs: ``mode`` is ``"compiled"`` or ``"pure"``, ``reason``
    says why pure, ``modules`` lists the compiled modules in the build."""
    if _finder is None:
        return {"mode": "pure", "reason": _why_not, "modules": []}
    if not _finder.usable():
        return {"mode": "pure", "reason": _finder.reason, "modules": []}
    names = sorted(n for n in _finder.modules if not _is_shared_library(n))
    return {"mode": "compiled", "reason": "", "modules": names}


def _is_shared_library(name: str) -> bool:
    """mypyc's library of a group's code (``<group>__mypyc``), which the modules' stubs import."""
    return name.endswith("__mypyc")
