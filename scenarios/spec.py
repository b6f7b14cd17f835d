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
"""

from __future__ import annotations

import difflib
import json
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
    expect: str = "valid"  # what the correct design should give: "valid"; flawed: "invalid"
    twin: str | None = None
    teaches: str = ""
    predict: str = ""
    ray: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    """The file this scenario was loaded from, as given (None for a catalog scenario), so a
    results folder and its report can say how to run it again."""

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("engines", "faults", "flaws", "checkers"):
            d[k] = list(d[k])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def with_overrides(self, **kw: Any) -> Scenario:
        return replace(self, **kw)


_FIELDS = {f.name: f for f in fields(Scenario)}
_TUPLES = {"engines", "faults", "flaws", "checkers"}
_DICTS = {"workload", "config", "client", "network", "ray"}
RAY_KEYS = ("config", "faults", "duration_ms", "workload", "network", "client", "clients", "time_limit_s",
            "description")
_MERGED = ("config", "workload", "network", "client")
_INTS = {"nodes", "clients", "duration_ms", "seed", "tick_ms"}


def from_dict(d: dict[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate and build a :class:`Scenario`; errors name the source and field."""
    if not isinstance(d, dict):
        raise ScenarioError(f"{source}: a scenario must be a table/object, got {type(d).__name__}")
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
        if k in _TUPLES:
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
    if sc.ray:
        bad = sorted(set(sc.ray) - set(RAY_KEYS))
        if bad:
            raise ScenarioError(f"{source}: ray: unknown field {bad[0]!r}; allowed: {', '.join(RAY_KEYS)}")
        for_engine(sc, "ray", source=source)
    return sc


def for_engine(sc: Scenario, engine: str, *, source: str | None = None) -> Scenario:
    """``sc`` as it runs on ``engine``: with its ``[ray]`` overrides applied for ``ray``
    (the result has no ``ray`` table left, so a saved copy replays as it ran)."""
    if engine != "ray" or not sc.ray:
        return sc
    d = sc.to_dict()
    d["ray"] = {}
    for k, v in sc.ray.items():
        if k in _MERGED:
            if not isinstance(v, dict):
                raise ScenarioError(f"{source or sc.name}: ray.{k} must be a table, got {type(v).__name__}")
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return from_dict(d, source=f"{source or sc.name} [ray]")


def validate(sc: Scenario, *, source: str = "<scenario>") -> None:
    from scenarios.checkers import checker_names
    from scenarios.systems import get_system, system_names

    if sc.system not in system_names():
        raise ScenarioError(f"{source}: unknown system {sc.system!r}; known: {', '.join(system_names())}")
    for e in sc.engines:
        if e not in ENGINES:
            raise ScenarioError(f"{source}: unknown engine {e!r}; known: {', '.join(ENGINES)}")
    for c in sc.checkers:
        if c not in checker_names():
            raise ScenarioError(f"{source}: unknown checker {c!r}; known: {', '.join(checker_names())}")
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
    from scenarios.systems import check_flaws

    try:
        check_flaws(sc.system, sc.flaws)
        get_system(sc.system).check_workload(sc.workload)
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


def _raw_catalog() -> dict[str, tuple[Path, dict[str, Any]]]:
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(CATALOG.glob("*.toml")):
        d = _read_toml(path)
        name = d.get("name", path.stem)
        out[name] = (path, d)
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
    base = _resolve(parent, raw, (*seen, name))
    base.pop("twin", None)
    base.update(d)
    base.pop("extends", None)
    return base


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
                d = json.loads(p.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ScenarioError(f"{p}: not valid JSON: {e}") from None
        else:
            d = _read_toml(p)
        if isinstance(d, dict) and "extends" in d:
            raw = _raw_catalog()
            if not isinstance(d["extends"], str):
                raise ScenarioError(f"{p}: field 'extends' must be a scenario name, got {d['extends']!r}")
            if d["extends"] not in raw:
                raise ScenarioError(f"{p}: extends unknown scenario {d['extends']!r}")
            base = _resolve(d["extends"], raw)
            base.pop("twin", None)
            base.update(d)
            d = base
        if isinstance(d, dict):
            d = {**d, "source": str(p)}
        return from_dict(d, source=str(p))
    raw = _raw_catalog()
    if name_or_path not in raw:
        close = difflib.get_close_matches(name_or_path, list(raw), n=5, cutoff=0.5)  # closest first
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScenarioError(f"unknown scenario {name_or_path!r}{hint} (see 'splitbrain list')")
    return from_dict(_resolve(name_or_path, raw), source=str(raw[name_or_path][0]))
