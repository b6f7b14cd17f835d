"""A scenario is plain data: system, topology, workload, faults, flaws, checkers, seed, limits.

Scenarios ship as TOML files in ``scenarios/catalog/`` (one per scenario, readable, with
a paragraph saying what it teaches) and are saved as JSON in every results folder, so a
run can be replayed or re-checked from the folder alone.  Nothing in the runner is special-
cased per scenario (design principle 3): everything a scenario does is in these fields.

``extends = "other-name"`` copies another scenario and overrides fields: a flawed scenario
and its correct twin differ only in ``flaws``, and the file says so.

A ``[ray]`` table holds what changes when the scenario runs on the real engine
(``--engine ray``): real time is not simulated time, so a pause that triggers a Kafka
rebalance in the simulator (400 ms session timeout) must outlast a real broker's 6 s
session timeout.  Its keys (:data:`RAY_KEYS`) override the scenario's; ``config``,
``workload``, ``network`` and ``client`` are merged key by key, ``faults`` replaces the list.

``plugins = ["my_faults.py", "some.module"]`` names the plugins a scenario needs (its own
faults, system, checkers, workloads): paths are relative to the scenario file, plain names
are modules (:mod:`scenarios.plugins`).  They are loaded while the file is read, before
anything in it is checked, and kept as absolute paths so the scenario runs from anywhere;
``extends`` adds the child's plugins to the parent's.  Plugins may also add scenarios to
the catalog: a folder of TOML files (:func:`add_catalog`) or scenario objects
(:func:`register_scenario`).
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).resolve().parent / "catalog"
ENGINES = ("sim", "ray")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded or run as written.  Names the file and field."""


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    description: str = ""
    system: str = "raft-kv"
    engines: tuple[str, ...] = ("sim",)
    nodes: int = 5
    clients: int = 5
    duration_ms: int = 20_000
    time_limit_s: float = 120.0
    seed: int = 1
    tick_ms: int = 10
    workload: dict[str, Any] = field(default_factory=dict)
    faults: tuple[dict[str, Any], ...] = ()
    flaws: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=dict)
    checkers: tuple[str, ...] = ("linearizability", "raft-safety")
    model: str = "kv-register"
    """What the history's values mean to the checkers: a linearizability model
    (``kv-register``...) or, for the isolation checker, a data model (``list-append``)."""
    consistency_model: str = "strict-serializable"
    """What the isolation checker judges transactions against (see docs/isolation.md)."""
    expect: str = "valid"  # what the correct design should give: "valid"; flawed: "invalid"
    twin: str | None = None
    teaches: str = ""
    question: dict[str, Any] = field(default_factory=dict)
    """The ``[question]`` table a learner predicts against (:mod:`scenarios.questions`),
    with its hidden answer; empty when the scenario asks none."""
    ray: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    """Plugins loaded for this scenario: absolute paths of plugin files, or module names."""
    source: str | None = None
    """The file this scenario was loaded from, as given (None for a catalog scenario), so a
    results folder and its report can say how to run it again."""

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in _TUPLES:
            d[k] = list(d[k])
        if not self.plugins:
            del d["plugins"]  # a scenario without plugins saves as it always did
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def with_overrides(self, **kw: Any) -> Scenario:
        """A copy with ``kw`` replaced.  The question is about the scenario as written, so it
        stays only when the overrides leave the setup alone (a seed, a time limit): a run with
        other faults, flaws or settings would be saved with an answer that no longer applies,
        or with fault numbers that point nowhere."""
        if "question" not in kw and set(kw) - KEEPS_QUESTION:
            kw["question"] = {}
        return replace(self, **kw)

    def to_toml(self) -> str:
        """The scenario as a TOML file that loads back to the same scenario (every field
        written out, no ``extends``), with an explicit script as ``[[workload.script]]``
        tables.  Raises :class:`ValueError` for a value TOML cannot hold (a ``null``, such
        as a cas expecting nothing): save such a scenario with :meth:`to_json`."""
        return _toml_document(self.to_dict())


_FIELDS = {f.name: f for f in fields(Scenario)}
KEEPS_QUESTION = frozenset({"seed", "time_limit_s", "source"})
"""Overrides after which a scenario still asks its question (see ``with_overrides``)."""
_TUPLES = ("engines", "faults", "flaws", "checkers", "plugins")
_DICTS = {"workload", "config", "client", "network", "ray", "question"}
LEGACY = ("predict",)
"""Fields older results folders may hold in ``scenario.json``; :func:`drop_legacy` removes
them there.  A scenario file that still has one is told what replaced it."""
RAY_KEYS = ("config", "faults", "duration_ms", "workload", "network", "client", "clients", "time_limit_s",
            "description")
_MERGED = ("config", "workload", "network", "client")
_INTS = {"nodes", "clients", "duration_ms", "seed", "tick_ms"}


def from_dict(d: dict[str, Any], *, source: str = "<scenario>", base: Path | None = None) -> Scenario:
    """Validate and build a :class:`Scenario`; errors name the source and field.

    Its ``plugins`` are loaded first (relative paths from ``base``, the scenario file's
    folder; the working directory when None), since its faults, system and checkers may be
    theirs."""
    if not isinstance(d, dict):
        raise ScenarioError(f"{source}: a scenario must be a table/object, got {type(d).__name__}")
    if "predict" in d:
        raise ScenarioError(f"{source}: field 'predict' gave the answer away and was replaced by a "
                            "[question] table with a hidden answer (see docs/scenarios.md, 'Questions')")
    unknown = sorted(set(d) - set(_FIELDS) - {"extends"})
    if unknown:
        raise ScenarioError(
            f"{source}: unknown field {unknown[0]!r}; allowed fields: {', '.join(sorted(_FIELDS))}"
        )
    for req in ("name", "summary"):
        if req not in d:
            raise ScenarioError(f"{source}: missing required field {req!r}")
    kw: dict[str, Any] = {}
    for k, v in d.items():
        if k == "extends":
            continue
        if k == "plugins":
            from scenarios.plugins import load_plugins

            kw[k] = load_plugins(_plugin_names(v, source), base=base, where=f"{source}: plugins")
        elif k in _TUPLES:
            if not isinstance(v, (list, tuple)):
                raise ScenarioError(f"{source}: field {k!r} must be a list, got {type(v).__name__}")
            kw[k] = tuple(v)
        elif k in _DICTS:
            if not isinstance(v, dict):
                raise ScenarioError(f"{source}: field {k!r} must be a table, got {type(v).__name__}")
            kw[k] = dict(v)
        elif k in _INTS:
            if not isinstance(v, int) or isinstance(v, bool):
                raise ScenarioError(f"{source}: field {k!r} must be an integer, got {v!r}")
            kw[k] = v
        elif k == "time_limit_s":
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ScenarioError(f"{source}: field 'time_limit_s' must be a number, got {v!r}")
            kw[k] = float(v)
        else:
            if v is not None and not isinstance(v, str):
                raise ScenarioError(f"{source}: field {k!r} must be a string, got {v!r}")
            kw[k] = v
    sc = Scenario(**kw)
    validate(sc, source=source)
    if sc.question:
        from scenarios.questions import check_question

        check_question(sc, source=source)
    if sc.ray:
        bad = sorted(set(sc.ray) - set(RAY_KEYS))
        if bad:
            raise ScenarioError(f"{source}: ray: unknown field {bad[0]!r}; allowed: {', '.join(RAY_KEYS)}")
        for_engine(sc, "ray", source=source)
    return sc


def _plugin_names(v: Any, source: str) -> list[str]:
    if not isinstance(v, (list, tuple)):
        raise ScenarioError(f"{source}: field 'plugins' must be a list of plugin files or module names, "
                            f"got {type(v).__name__}")
    for i, name in enumerate(v):
        if not isinstance(name, str) or not name.strip():
            raise ScenarioError(f"{source}: plugins[{i}] must be a plugin file or a module name, got {name!r}")
    return list(v)


def drop_legacy(d: Any) -> Any:
    """A saved scenario (``scenario.json``) without the fields older versions wrote."""
    if isinstance(d, dict) and any(k in d for k in LEGACY):
        return {k: v for k, v in d.items() if k not in LEGACY}
    return d


def for_engine(sc: Scenario, engine: str, *, source: str | None = None) -> Scenario:
    """``sc`` as it runs on ``engine``: with its ``[ray]`` overrides applied for ``ray``
    (the result has no ``ray`` table left, so a saved copy replays as it ran)."""
    if engine != "ray" or not sc.ray:
        return sc
    d = sc.to_dict()
    d["ray"] = {}
    if "faults" in sc.ray:
        d["question"] = {}  # its fault numbers are the simulator's; the real run has other faults
    for k, v in sc.ray.items():
        if k in _MERGED:
            if not isinstance(v, dict):
                raise ScenarioError(f"{source or sc.name}: ray.{k} must be a table, got {type(v).__name__}")
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return from_dict(d, source=f"{source or sc.name} [ray]")


def validate(sc: Scenario, *, source: str = "<scenario>") -> None:
    from scenarios.checkers import checker_names, checker_problem
    from scenarios.systems import system_names

    if sc.system not in system_names():
        raise ScenarioError(f"{source}: unknown system {sc.system!r}; known: {', '.join(system_names())}")
    for e in sc.engines:
        if e not in ENGINES:
            raise ScenarioError(f"{source}: unknown engine {e!r}; known: {', '.join(ENGINES)}")
    for c in sc.checkers:
        if c not in checker_names():
            raise ScenarioError(f"{source}: unknown checker {c!r}; known: {', '.join(checker_names())}")
        problem = checker_problem(c, sc)
        if problem:
            raise ScenarioError(f"{source}: {problem}")
    if sc.nodes < 1 or sc.nodes > 15:
        raise ScenarioError(f"{source}: nodes must be between 1 and 15, got {sc.nodes}")
    if sc.clients < 1 or sc.clients > 100:
        raise ScenarioError(f"{source}: clients must be between 1 and 100, got {sc.clients}")
    if sc.duration_ms <= 0:
        raise ScenarioError(f"{source}: duration_ms must be greater than 0, got {sc.duration_ms}")
    if sc.time_limit_s <= 0:
        raise ScenarioError(f"{source}: time_limit_s must be greater than 0, got {sc.time_limit_s:g}")
    if sc.tick_ms <= 0:
        raise ScenarioError(f"{source}: tick_ms must be greater than 0")
    if sc.expect not in ("valid", "invalid"):
        raise ScenarioError(f"{source}: expect must be 'valid' or 'invalid', got {sc.expect!r}")
    from scenarios.script import check_script, has_script
    from scenarios.systems import check_flaws, check_workload, get_system

    try:
        check_flaws(sc.system, sc.flaws)
        if has_script(sc.workload):
            check_script(sc.workload, clients=sc.clients, system=sc.system, vocabulary=get_system(sc.system).script)
        else:
            check_workload(sc.system, sc.workload)
    except ValueError as e:
        raise ScenarioError(f"{source}: {e}") from None
    from faults.base import FaultSpecError
    from faults.schedule import from_dict as fault_from_dict
    from faults.targets import unknown_nodes
    from scenarios.systems import node_ids

    nodes = node_ids(sc.nodes)
    for i, item in enumerate(sc.faults):
        try:
            built = fault_from_dict(item)
        except FaultSpecError as e:
            raise ScenarioError(f"{source}: faults[{i}]: {e}") from None
        bad_nodes = unknown_nodes(built, nodes)
        if bad_nodes:
            path, node = bad_nodes[0]
            raise ScenarioError(
                f"{source}: faults[{i}].{path}: unknown node {node!r}; this scenario has "
                f"{sc.nodes} nodes ({', '.join(nodes)})"
            )


# ---------------------------------------------------------------------- writing TOML

_TOML_ORDER = ("name", "summary", "description", "teaches", "predict", "system", "engines", "nodes", "clients",
               "duration_ms", "time_limit_s", "seed", "tick_ms", "model", "checkers", "expect", "flaws")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _toml_string(k)


def _toml_string(s: str) -> str:
    if "\n" in s:  # a paragraph reads better as a multi-line string
        body = "".join(c if c == "\n" else _toml_char(c) for c in s)
        return '"""\n' + body + '"""'
    return '"' + "".join(_toml_char(c) for c in s) + '"'


def _toml_char(c: str) -> str:
    if c in ('"', "\\"):
        return "\\" + c
    if c == "\t":
        return c
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\u{ord(c):04x}"
    return c


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else {"inf": "inf", "-inf": "-inf"}.get(
            repr(v), "nan")
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, f"{where}[{i}]") for i, x in enumerate(v)) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(x, f'{where}.{k}')}" for k, x in v.items()) + " }"
    if v is None:
        raise ValueError(f"{where}: TOML has no null; save this scenario as JSON")
    raise ValueError(f"{where}: cannot write a {type(v).__name__} in TOML")


def _toml_document(d: dict[str, Any]) -> str:
    d = {k: v for k, v in d.items() if k != "source" and v is not None}
    lines: list[str] = []
    tables: list[str] = []
    keys = [k for k in _TOML_ORDER if k in d] + sorted(k for k in d if k not in _TOML_ORDER)
    for k in keys:
        v = d[k]
        if k == "workload" and isinstance(v, dict) and isinstance(v.get("script"), list):
            rest = {a: b for a, b in v.items() if a != "script"}
            if rest:
                tables.append("[workload]")
                tables.extend(f"{_toml_key(a)} = {_toml_value(b, f'workload.{a}')}" for a, b in rest.items())
                tables.append("")
            if not v["script"]:
                lines.append("workload = { script = [] }")
            for i, entry in enumerate(v["script"]):
                tables.append("[[workload.script]]")
                tables.extend(f"{_toml_key(a)} = {_toml_value(b, f'workload.script[{i}].{a}')}"
                              for a, b in entry.items())
                tables.append("")
        elif k == "faults" and v:
            lines.append("faults = [")
            lines.extend(f"  {_toml_value(f, f'faults[{i}]')}," for i, f in enumerate(v))
            lines.append("]")
        elif isinstance(v, dict) and not v:
            continue
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v, k)}")
    out = "\n".join(lines) + "\n"
    if tables:
        out += "\n" + "\n".join(tables)
    return out.rstrip("\n") + "\n"


# ---------------------------------------------------------------------- the catalog


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{path}: not a text file (TOML is UTF-8; byte {e.start} is not)") from None
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read: {e.strerror}") from None


_EXTRA_FOLDERS: list[Path] = []
_EXTRA_SCENARIOS: dict[str, tuple[Path, dict[str, Any]]] = {}


def add_catalog(folder: str | Path) -> None:
    """Add a folder of scenario TOML files to the catalog (a plugin's scenarios).  Refused
    when it is no folder or one of its scenarios takes a name already in the catalog."""
    from faults.registry import RegistrationError

    path = Path(folder).resolve()
    if not path.is_dir():
        raise RegistrationError(f"add_catalog: {folder}: no such folder of scenario files")
    if path == CATALOG or path in _EXTRA_FOLDERS:
        return
    taken = _raw_catalog()
    for toml in sorted(path.glob("*.toml")):
        name = _read_toml(toml).get("name", toml.stem)
        if name in taken:
            raise RegistrationError(f"{toml}: scenario name {name!r} is already taken by {taken[name][0]}; "
                                    "a plugin may not replace a scenario: choose another name")
    _EXTRA_FOLDERS.append(path)


def register_scenario(scenario: Scenario | dict[str, Any], *, origin: str | Path | None = None) -> None:
    """Add one scenario to the catalog (a plugin's; plain data or a :class:`Scenario`).
    ``origin`` is the file it is said to come from in messages (the caller's module file
    when None).  Relative plugin paths in it are relative to that file's folder."""
    import sys

    from faults.registry import RegistrationError

    if origin is None:
        origin = sys._getframe(1).f_globals.get("__file__") or "<plugin>"
    where = Path(origin)
    d = scenario.to_dict() if isinstance(scenario, Scenario) else dict(scenario)
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise RegistrationError(f"register_scenario: a scenario needs a 'name', got {name!r}")
    taken = _raw_catalog()
    if name in taken and taken[name][0] != where:
        raise RegistrationError(f"scenario name {name!r} is already taken by {taken[name][0]}; "
                                "a plugin may not replace a scenario: choose another name")
    _EXTRA_SCENARIOS[name] = (where, _absolute_plugins(d, where.parent))


def unregister_scenarios(*names: str, folder: str | Path | None = None) -> None:
    """Forget scenarios a plugin added: by name, or a whole catalog folder (tests use it)."""
    for n in names:
        _EXTRA_SCENARIOS.pop(n, None)
    if folder is not None:
        path = Path(folder).resolve()
        if path in _EXTRA_FOLDERS:
            _EXTRA_FOLDERS.remove(path)


def plugin_catalog() -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """What plugins added to the catalog: folders, and names of scenario objects."""
    return tuple(_EXTRA_FOLDERS), tuple(_EXTRA_SCENARIOS)


def _absolute_plugins(d: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``d`` with its plugin paths made absolute (relative to ``folder``, the file's)."""
    names = d.get("plugins")
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        return d  # from_dict says what is wrong
    from scenarios.plugins import absolute

    return {**d, "plugins": [absolute(n, folder) for n in names]}


def _merged(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``parent`` (``extends``): fields replace, plugins add up."""
    out = dict(parent)
    out.pop("twin", None)
    out.pop("question", None)  # a question is about one scenario: never inherited
    out.update(child)
    out.pop("extends", None)
    plugins = [*parent.get("plugins", ()), *child.get("plugins", ())]
    if plugins:
        out["plugins"] = list(dict.fromkeys(plugins))
    return out


def _raw_catalog() -> dict[str, tuple[Path, dict[str, Any]]]:
    from scenarios.plugins import load_installed

    load_installed()
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in (CATALOG, *_EXTRA_FOLDERS):
        for path in sorted(folder.glob("*.toml")):
            d = _read_toml(path)
            name = d.get("name", path.stem)
            if name in out:
                raise ScenarioError(f"{path}: scenario name {name!r} is already taken by {out[name][0]}")
            out[name] = (path, _absolute_plugins(d, path.parent))
    for name, entry in _EXTRA_SCENARIOS.items():
        out.setdefault(name, entry)
    return out


def _resolve(name: str, raw: dict[str, tuple[Path, dict[str, Any]]], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path, d = raw[name]
    parent = d.get("extends")
    if parent is None:
        return dict(d)
    if parent in seen or parent == name:
        raise ScenarioError(f"{path}: 'extends' loops through {parent!r}")
    if parent not in raw:
        raise ScenarioError(f"{path}: extends unknown scenario {parent!r}")
    return _merged(_resolve(parent, raw, (*seen, name)), d)


def catalog() -> dict[str, Scenario]:
    """Every shipped scenario by name, in name order."""
    raw = _raw_catalog()
    return {n: from_dict(_resolve(n, raw), source=str(raw[n][0])) for n in sorted(raw)}


def load(name_or_path: str) -> Scenario:
    """A scenario by catalog name, or from a ``.toml``/``.json`` file."""
    p = Path(name_or_path)
    if p.suffix in (".toml", ".json") or p.is_file():
        if not p.is_file():
            raise ScenarioError(f"{p}: no such scenario file")
        if p.suffix == ".json":
            try:
                d = drop_legacy(json.loads(p.read_text()))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ScenarioError(f"{p}: not valid JSON: {e}") from None
        else:
            d = _read_toml(p)
        if isinstance(d, dict):
            d = _absolute_plugins(d, p.resolve().parent)
        if isinstance(d, dict) and "extends" in d:
            raw = _raw_catalog()
            if not isinstance(d["extends"], str):
                raise ScenarioError(f"{p}: field 'extends' must be a scenario name, got {d['extends']!r}")
            if d["extends"] not in raw:
                raise ScenarioError(f"{p}: extends unknown scenario {d['extends']!r}")
            d = _merged(_resolve(d["extends"], raw), d)
        if isinstance(d, dict):
            d = {**d, "source": str(p)}
        return from_dict(d, source=str(p), base=p.resolve().parent)
    raw = _raw_catalog()
    if name_or_path not in raw:
        close = difflib.get_close_matches(name_or_path, list(raw), n=5, cutoff=0.5)  # closest first
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScenarioError(f"unknown scenario {name_or_path!r}{hint} (see 'splitbrain list')")
    return from_dict(_resolve(name_or_path, raw), source=str(raw[name_or_path][0]))
