"""Plugins: a user's faults, systems, checkers, workloads and scenarios, with no edit to splitbrain.

A plugin is a Python module that registers things when it is imported, with the same calls
the built-in parts use:

* a fault model: ``@faults.registry.register`` on a fault dataclass (``docs/faults.md``);
* a system: ``scenarios.systems.register_system(System(...))``;
* a checker: ``@scenarios.checkers.register_checker("name")``;
* a workload kind: ``scenarios.workloads.register_workload(WorkloadKind(...))``;
* scenarios: ``scenarios.spec.add_catalog(folder)`` or ``register_scenario(...)``;
* a sequential model for the linearizability checker: ``@analysis.models.register_model``.

Three ways load one (``docs/extending.md`` walks through them):

1. a scenario file's ``plugins = ["my_faults.py", "some.module"]``: a name with a ``/`` or
   ending in ``.py`` is a file, relative to the scenario file; any other is a module name;
2. ``--plugin PATH_OR_MODULE`` on the command line (a path is relative to the working
   directory): ``splitbrain/plugin_args.py`` defines the flag, :func:`load_plugins` loads;
3. an installed package's entry points, in the groups of :data:`GROUPS`.  An entry point
   names a module (``slowdown = mypkg.faults``: importing it registers) or a callable that
   takes no argument and registers (``mypkg.plugin:register``).  The group says what the
   package adds; every group is loaded once, on the first lookup of any registry
   (:func:`load_installed`), so a command that needs none never imports a plugin.

A plugin is loaded once per process.  A file plugin is known by its bytes: a copy of a
file already loaded (the one a results folder keeps) *is* that plugin, so re-checking a
run in the process that made it loads nothing twice.  A plugin that fails -- a syntax
error, an import error, a name a built-in already has, a field a scenario file cannot set
-- raises :class:`PluginError`, one line that names the file and the line
(``my_faults.py:12: SyntaxError: invalid syntax``), and leaves no half of itself
registered.

On the real engine, a plugin's code must reach the worker processes, which cannot import
a file plugin: the runner lists the scenario's plugin modules in
:attr:`cluster.spec.ClusterSpec.by_value` and the Ray engine ships their code with the
factories (:func:`cluster.runtime.launch.ship_by_value`).  Installed packages are
imported by the workers like any other package.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from scenarios.spec import ScenarioError

if TYPE_CHECKING:
    from scenarios.spec import Scenario

__all__ = [
    "GROUPS",
    "Plugin",
    "PluginError",
    "absolute",
    "by_value_modules",
    "is_file",
    "load_installed",
    "load_plugins",
    "loaded",
    "save_plugins",
    "unload",
    "with_plugins",
]

GROUPS: dict[str, str] = {
    "splitbrain.faults": "fault models",
    "splitbrain.workloads": "workload kinds",
    "splitbrain.checkers": "checkers",
    "splitbrain.systems": "systems",
    "splitbrain.scenarios": "scenarios",
}
"""Entry-point groups, in the order they load (scenarios last: they use the others)."""

REGISTRIES = ("faults", "systems", "checkers", "workloads", "models", "scenarios")

_SOURCE_ROOT = Path(__file__).resolve().parents[1]
_OWN_PACKAGES = tuple(str(_SOURCE_ROOT / p) + os.sep for p in ("scenarios", "faults", "analysis", "cluster",
                                                              "splitbrain"))
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class PluginError(ScenarioError):
    """A plugin that cannot be loaded: one line naming its file and line (or the name that
    could not be found), so the command line prints it as is and exits 3."""


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin and what it added, for listings and for :func:`unload`."""

    name: str
    """How scenarios record it: an absolute file path, or a module name (an entry point's
    is ``entry point VALUE``: no scenario records it, its package is installed)."""
    module: str
    """Its module's name in ``sys.modules``."""
    kind: str
    """``file``, ``module`` or ``entry point``."""
    shown: str
    """How messages name it: the path as the user would type it, or the module name."""
    added: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``(registry, names)`` for each registry it added to."""
    digest: str = ""
    """sha256 of a file plugin's bytes."""

    def summary(self) -> str:
        """``my_faults.py: faults slowdown; checkers no-stale``."""
        parts = [f"{reg} {', '.join(_said(n) for n in names)}" for reg, names in self.added]
        return f"{self.shown}: {'; '.join(parts) or 'registered nothing'}"


def _said(name: str) -> str:
    """A registered name as a listing says it: a catalog folder as its files."""
    return f"{shown(name[len('catalog '):])}/*.toml" if name.startswith("catalog ") else name


_LOADED: dict[str, Plugin] = {}
_BY_DIGEST: dict[str, Plugin] = {}
_ALIASES: dict[str, str] = {}  # another path with the same bytes -> the loaded plugin's name
_SOURCES: dict[str, bytes] = {}  # a file plugin's name -> the bytes that were loaded


@dataclass
class _Installed:
    """Where loading the installed packages' entry points stands in this process."""

    state: str = "no"  # no, loading, done
    error: PluginError | None = None


_INSTALLED = _Installed()


# --- names ------------------------------------------------------------------------------------


def is_file(name: str) -> bool:
    """A plugin name is a file when it ends in ``.py`` or holds a path separator."""
    return name.endswith(".py") or "/" in name or os.sep in name


def absolute(name: str, base: Path | None = None) -> str:
    """A plugin name as scenarios keep it: a file made absolute (relative to ``base``, the
    working directory when None), a module name as it is."""
    name = name.strip()
    if not is_file(name):
        return name
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return str(path.resolve())


def shown(path: str | Path) -> str:
    """``path`` relative to the working directory when it is below it, else absolute."""
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


# --- loading ------------------------------------------------------------------------------------


def load_plugins(names: Iterable[str], *, base: Path | None = None, where: str = "plugins") -> tuple[str, ...]:
    """Load each plugin once and return their names as scenarios keep them (absolute
    paths, module names).  ``base`` is the folder relative file names start from (the
    scenario file's; the working directory when None); ``where`` prefixes the messages
    about a name itself (``scenario.toml: plugins[0]: no such plugin file ...``)."""
    names = list(names)
    if not names:
        return ()
    _ensure_builtins()
    load_installed()
    out: list[str] = []
    for i, raw in enumerate(names):
        at = where if where == "--plugin" else f"{where}[{i}]"
        if not isinstance(raw, str) or not raw.strip():
            raise PluginError(f"{at}: a plugin is a .py file or a module name, got {raw!r}")
        name = absolute(raw, base)
        if name not in _LOADED and name not in _ALIASES:
            if is_file(name):
                _load_file(Path(name), raw, at)
            else:
                _load_module(name, at)
        out.append(name)
    return tuple(dict.fromkeys(out))


def _load_file(path: Path, raw: str, at: str) -> None:
    name = str(path)
    if path.suffix != ".py":
        raise PluginError(f"{at}: {raw!r}: a plugin file is a Python file ending in .py "
                          "(a plain name without '/' is a module to import)")
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise PluginError(f"{at}: no such plugin file {shown(path)}") from None
    except OSError as e:
        raise PluginError(f"{at}: cannot read plugin file {shown(path)}: {e.strerror or e}") from None
    digest = hashlib.sha256(source).hexdigest()
    same = _BY_DIGEST.get(digest)
    if same is not None:
        _ALIASES[name] = same.name
        return
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"splitbrain_plugin_{stem}_{digest[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)

    def run() -> None:
        code = compile(source, name, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    plugin = Plugin(name, module_name, "file", shown(path), digest=digest)
    added = _registering(plugin, run, module)
    plugin = replace(plugin, added=added)
    _LOADED[name] = plugin
    _BY_DIGEST[digest] = plugin
    _SOURCES[name] = source


def _load_module(name: str, at: str) -> None:
    if not _MODULE_NAME.fullmatch(name):
        raise PluginError(f"{at}: {name!r} is neither a module name nor a .py file")
    plugin = Plugin(name, name, "module", name)

    def run() -> None:
        importlib.import_module(name)

    try:
        added = _registering(plugin, run, None)
    except _Missing:
        raise PluginError(f"{at}: no module named {name!r} (a plain name is a module to import; name a "
                          "plugin file by its path, ending in .py)") from None
    _LOADED[name] = replace(plugin, added=added)


class _Missing(Exception):
    """The module a plugin name names does not exist (not: it exists and fails to import)."""


def _registering(plugin: Plugin, run: Any, module: ModuleType | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Run a plugin's import and return what it registered; on failure undo its
    registrations and raise :class:`PluginError` naming the file and line."""
    before = _snapshot()
    if module is not None:
        sys.modules[plugin.module] = module
    try:
        run()
    except (Exception, SystemExit) as e:
        if module is not None:
            sys.modules.pop(plugin.module, None)
        _rollback(before)
        if (plugin.kind == "module" and isinstance(e, ModuleNotFoundError) and e.name is not None
                and (plugin.name == e.name or plugin.name.startswith(e.name + "."))):
            raise _Missing() from None
        file = plugin.name if plugin.kind == "file" else None
        raise PluginError(one_line(e, file, _home(plugin))) from None
    after = _snapshot()
    return tuple((reg, tuple(sorted(after[reg] - before[reg]))) for reg in REGISTRIES if after[reg] - before[reg])


def load_installed() -> None:
    """Load every installed package's entry points (:data:`GROUPS`), once per process.

    Called by every registry lookup; a failure is raised again by later calls, so every
    command that needs the registries reports it the same way."""
    if _INSTALLED.state != "no":  # done, or loading (a plugin being loaded looked a name up)
        if _INSTALLED.error is not None:
            raise _INSTALLED.error
        return
    _INSTALLED.state = "loading"
    try:
        _ensure_builtins()
        seen: set[str] = set()
        every = importlib.metadata.entry_points()  # one scan of the installed packages
        for group in GROUPS:
            points = sorted(every.select(group=group), key=lambda ep: (_dist(ep), ep.name))
            for ep in points:
                if ep.value in seen:
                    continue
                seen.add(ep.value)
                _load_entry_point(ep, group)
    except PluginError as e:
        _INSTALLED.error = e
        raise
    finally:
        _INSTALLED.state = "done"


def _dist(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an installed package"


def _load_entry_point(ep: importlib.metadata.EntryPoint, group: str) -> None:
    where = f"entry point {ep.name} = {ep.value} in group {group} of {_dist(ep)}"
    plugin = Plugin(f"entry point {ep.value}", ep.module, "entry point", f"{ep.value} ({_dist(ep)})")

    def run() -> None:
        obj = ep.load()
        if isinstance(obj, ModuleType):
            return  # importing it registered what it has
        if not callable(obj):
            raise TypeError(f"{ep.value} is a {type(obj).__name__}; an entry point names a module or a "
                            "callable that registers")
        obj()

    try:
        added = _registering(plugin, run, None)
    except PluginError as e:
        raise PluginError(f"{e} ({where})") from None
    _LOADED[plugin.name] = replace(plugin, added=added)


def _ensure_builtins() -> None:
    """Register the built-in parts first, so a plugin that takes one of their names is the
    one refused (and what a plugin adds is told apart from them)."""
    import analysis.models  # noqa: F401 - registers the built-in models
    import faults  # noqa: F401 - registers the built-in faults
    import scenarios.checkers  # noqa: F401 - registers the built-in checkers
    from scenarios.systems import _load_builtin

    _load_builtin()


def _snapshot() -> dict[str, set[str]]:
    from analysis.models import model_names
    from faults.registry import known
    from scenarios.checkers import _CHECKERS
    from scenarios.spec import plugin_catalog
    from scenarios.systems import _SYSTEMS
    from scenarios.workloads import _KINDS

    folders, names = plugin_catalog()
    return {"faults": set(known()), "systems": set(_SYSTEMS), "checkers": set(_CHECKERS),
            "workloads": set(_KINDS), "models": set(model_names()),
            "scenarios": {f"catalog {f}" for f in folders} | set(names)}


def _rollback(before: dict[str, set[str]]) -> None:
    _forget({reg: tuple(names) for reg, names in _snapshot().items()}, keep=before)


def _forget(added: dict[str, tuple[str, ...]], keep: dict[str, set[str]] | None = None) -> None:
    from analysis.models import unregister_model
    from faults.registry import unregister
    from scenarios.checkers import unregister_checker
    from scenarios.spec import unregister_scenarios
    from scenarios.systems import unregister_system
    from scenarios.workloads import unregister_workload

    drop = {"faults": unregister, "systems": unregister_system, "checkers": unregister_checker,
            "workloads": unregister_workload, "models": unregister_model}
    for reg, names in added.items():
        for n in names:
            if keep is not None and n in keep.get(reg, ()):
                continue
            if reg == "scenarios":
                if n.startswith("catalog "):
                    unregister_scenarios(folder=n[len("catalog "):])
                else:
                    unregister_scenarios(n)
            else:
                drop[reg](n)


def unload(name: str) -> None:
    """Forget a plugin and everything it registered (tests and notebooks use this; a run
    never needs it).  ``name`` as :func:`load_plugins` returned it."""
    name = _ALIASES.pop(name, name)
    plugin = _LOADED.pop(name, None)
    if plugin is None:
        return
    _forget(dict(plugin.added))
    _BY_DIGEST.pop(plugin.digest, None)
    _SOURCES.pop(name, None)
    for alias in [a for a, n in _ALIASES.items() if n == name]:
        del _ALIASES[alias]
    if plugin.kind == "file":
        sys.modules.pop(plugin.module, None)


def loaded() -> tuple[Plugin, ...]:
    """Every plugin loaded in this process, in load order."""
    return tuple(_LOADED.values())


def by_value_modules(names: Iterable[str]) -> tuple[str, ...]:
    """The modules of the plugins ``names`` (a scenario's): what the real engine must ship
    to its worker processes by value, since they may not import them."""
    out = []
    for n in names:
        plugin = _LOADED.get(_ALIASES.get(n, n))
        if plugin is not None and plugin.module in sys.modules:
            out.append(plugin.module)
    return tuple(dict.fromkeys(out))


# --- errors ------------------------------------------------------------------------------------


def one_line(e: BaseException, file: str | None = None, home: str | None = None) -> str:
    """``path:line: Type: message`` for an exception raised while a plugin loaded.

    The line is where the plugin's own code was when it failed: the innermost frame in its
    ``home`` folder (a helper module beside a plugin file counts), else the innermost frame
    outside splitbrain, the standard library and the import machinery; ``file`` names the
    plugin when no frame does.  A registry's refusal is said without its type, at the line
    the registry points at when it knows better (a field's own line)."""
    from faults.registry import RegistrationError

    message = " ".join(str(e).split()) if str(e).strip() else ""
    if isinstance(e, SyntaxError):
        where = f"{shown(e.filename or file or '<plugin>')}:{e.lineno or 0}"
        return f"{where}: {type(e).__name__}: {e.msg}"
    said = message if isinstance(e, RegistrationError) else f"{type(e).__name__}: {message}".rstrip(": ")
    frame = getattr(e, "at", None) or _frame(e.__traceback__, home)
    if frame is None:
        return f"{shown(file)}: {said}" if file else said
    return f"{shown(frame[0])}:{frame[1]}: {said}"


def _frame(tb: TracebackType | None, home: str | None) -> tuple[str, int] | None:
    """The innermost frame in the plugin's own code (its folder), else the innermost one
    outside splitbrain, the standard library and the import machinery."""
    frames = [(f.filename, f.lineno or 0) for f in traceback.extract_tb(tb)]
    stdlib = os.path.dirname(os.__file__) + os.sep

    def user(path: str) -> bool:
        return not path.startswith(("<", *_OWN_PACKAGES)) and "importlib" not in path and (
            not path.startswith(stdlib) or _installed(path))

    if home is not None:
        mine = [f for f in frames if f[0].startswith(home) and (_installed(home) or not _installed(f[0]))]
        if mine:
            return mine[-1]
    theirs = [f for f in frames if user(f[0])]
    return theirs[-1] if theirs else None


def _installed(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path


def _home(plugin: Plugin) -> str | None:
    """The folder a plugin's own code lives in: a file's folder, a module's top package's."""
    if plugin.kind == "file":
        return str(Path(plugin.name).parent) + os.sep
    try:
        spec = importlib.util.find_spec(plugin.module.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return str(Path(next(iter(spec.submodule_search_locations)))) + os.sep
    return str(Path(spec.origin).parent) + os.sep if spec.origin else None


# --- the command line and results folders ---------------------------------------------------------


def with_plugins(sc: Scenario, names: Sequence[str]) -> Scenario:
    """``sc`` recording ``names`` too (plugins given on the command line), so its results
    folder loads them again."""
    if not names:
        return sc
    return replace(sc, plugins=tuple(dict.fromkeys((*sc.plugins, *names))))


def save_plugins(names: Sequence[str], folder: Path) -> list[str]:
    """Copy the plugin files among ``names`` into ``folder/plugins/`` and return the names
    as the folder's ``scenario.json`` records them: ``plugins/<file>`` (relative to the
    folder, as a scenario file's plugins are) or the module name.  A copy holds the bytes
    that were loaded, even if the file changed since."""
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        if not is_file(name):
            out.append(name)
            continue
        src = Path(name)
        stem, n = src.stem, 1
        target = f"{stem}.py"
        while target in used:
            n += 1
            target = f"{stem}-{n}.py"
        used.add(target)
        (folder / "plugins").mkdir(exist_ok=True)
        loaded_bytes = _SOURCES.get(_ALIASES.get(name, name))
        if loaded_bytes is not None:
            (folder / "plugins" / target).write_bytes(loaded_bytes)
        else:
            shutil.copyfile(src, folder / "plugins" / target)
        out.append(f"plugins/{target}")
    return out
