"""One change to a scenario: the unit of a counterfactual ("what if this fault had not
happened?", "what if reads went through the leader?").

``splitbrain diff RUN_DIR`` reruns a simulator run with exactly one :class:`Change`, and a
lesson's follow-up question names one (``change = "--flip-flaw read_from_any_node"``), so
both are spelled the same way: the command-line flags of ``diff``.  :func:`parse_change`
reads that spelling, :func:`apply_change` returns the changed scenario or says in one line
(:class:`~scenarios.spec.ScenarioError`) why the change does not apply: an unknown fault
index, a fault that is not timed, an unknown flaw or ``--set`` key, a value that is already
the scenario's.

Settable keys (``--set KEY=VALUE``): ``config.K``, ``workload.K``, ``client.K`` and
``network.K`` (one field of those tables; ``--set config.read_mode=lease``), and the whole
numbers ``nodes``, ``clients``, ``duration_ms`` and ``tick_ms``.  VALUE is read as a TOML
value (``0.9``, ``true``, ``[0, 20]``, ``"lease"``); a bare word is a string.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from typing import Any

from scenarios.spec import Scenario, ScenarioError

__all__ = [
    "KINDS",
    "SETTABLE_TABLES",
    "SETTABLE_TOP",
    "Change",
    "apply_change",
    "describe_fault_item",
    "parse_change",
    "parse_set",
]

KINDS = ("without-fault", "move-fault", "flip-flaw", "set", "seed")
SETTABLE_TABLES = ("config", "workload", "client", "network")
SETTABLE_TOP = ("nodes", "clients", "duration_ms", "tick_ms")


@dataclass(frozen=True)
class Change:
    """Exactly one change: which ``kind`` and its operands (the others stay ``None``)."""

    kind: str
    fault: int | None = None
    at_ms: int | None = None
    flaw: str | None = None
    key: str | None = None
    value: Any = None
    seed: int | None = None

    def flag(self) -> str:
        """The change as ``diff`` flags (``--move-fault 1 --at 2500``), ready to paste."""
        if self.kind == "without-fault":
            return f"--without-fault {self.fault}"
        if self.kind == "move-fault":
            return f"--move-fault {self.fault} --at {self.at_ms}"
        if self.kind == "flip-flaw":
            return f"--flip-flaw {self.flaw}"
        if self.kind == "set":
            return f"--set {shlex.quote(f'{self.key}={_toml_value(self.value)}')}"
        return f"--seed {self.seed}"

    def describe(self, sc: Scenario) -> str:
        """The change in words, about ``sc`` (the scenario it is applied to)."""
        if self.kind == "without-fault":
            assert self.fault is not None
            return f"without fault {self.fault} ({describe_fault_item(sc.faults[self.fault])})"
        if self.kind == "move-fault":
            assert self.fault is not None
            return (f"fault {self.fault} moved from {sc.faults[self.fault].get('at')} ms to {self.at_ms} ms "
                    f"({describe_fault_item(sc.faults[self.fault])})")
        if self.kind == "flip-flaw":
            on = self.flaw not in sc.flaws
            return f"flaw {self.flaw} switched {'on' if on else 'off'}"
        if self.kind == "set":
            return f"{self.key} = {_toml_value(self.value)} (was {_toml_value(_current(sc, self.key or ''))})"
        return f"seed {self.seed} instead of {sc.seed}"


def parse_change(text: str, *, where: str = "change") -> Change:
    """A change from its flag spelling (``"--without-fault 2"``); errors name ``where``."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ScenarioError(f"{where}: {e}") from None
    usage = (f"{where}: expected one of --without-fault K, --move-fault K --at MS, --flip-flaw NAME, "
             f"--set KEY=VALUE or --seed S, got {text!r}")
    if not words:
        raise ScenarioError(usage)
    head, rest = words[0], words[1:]
    if head == "--without-fault" and len(rest) == 1:
        return Change("without-fault", fault=_int(rest[0], where, "--without-fault"))
    if head == "--move-fault" and len(rest) == 3 and rest[1] == "--at":
        return Change("move-fault", fault=_int(rest[0], where, "--move-fault"), at_ms=_int(rest[2], where, "--at"))
    if head == "--flip-flaw" and len(rest) == 1:
        return Change("flip-flaw", flaw=rest[0])
    if head == "--set" and len(rest) == 1:
        key, value = parse_set(rest[0], where=where)
        return Change("set", key=key, value=value)
    if head == "--seed" and len(rest) == 1:
        return Change("seed", seed=_int(rest[0], where, "--seed"))
    raise ScenarioError(usage)


def parse_set(text: str, *, where: str = "--set") -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value); the key's shape is checked, not yet the scenario."""
    if "=" not in text:
        raise ScenarioError(f"{where}: --set needs KEY=VALUE (e.g. config.read_mode=lease), got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    table, _, field = key.partition(".")
    if not ((table in SETTABLE_TABLES and field and "." not in field) or (key in SETTABLE_TOP)):
        raise ScenarioError(
            f"{where}: unknown key {key!r} in --set; settable: "
            + ", ".join(f"{t}.FIELD" for t in SETTABLE_TABLES) + ", " + ", ".join(SETTABLE_TOP))
    return key, _value(raw.strip())


def apply_change(sc: Scenario, change: Change) -> Scenario:
    """``sc`` with ``change`` applied (seeded, checked and validated like any scenario).

    The result keeps the name (its runs file under the same scenario) but not the question:
    a lesson's question is about the scenario as written.
    """
    from scenarios.spec import from_dict

    d = sc.to_dict()
    d["question"] = {}
    if change.kind in ("without-fault", "move-fault"):
        k = _fault_index(sc, change.fault)
        faults = list(d["faults"])
        if change.kind == "without-fault":
            del faults[k]
        else:
            item = dict(faults[k])
            if "at" not in item:
                how = "triggered by a protocol event" if "on" in item else "a random schedule"
                raise ScenarioError(f"--move-fault {k}: fault {k} is {how}, not timed; only a fault with "
                                    "'at' can be moved (try --without-fault)")
            at = change.at_ms
            assert at is not None
            if at < 0 or at >= sc.duration_ms:
                raise ScenarioError(f"--at {at}: must be between 0 and the run's duration ({sc.duration_ms} ms)")
            if at == item["at"]:
                raise ScenarioError(f"--move-fault {k} --at {at}: fault {k} already starts at {at} ms")
            item["at"] = at
            faults[k] = item
        d["faults"] = faults
    elif change.kind == "flip-flaw":
        from scenarios.systems import check_flaws

        assert change.flaw is not None
        try:
            check_flaws(sc.system, [change.flaw])
        except ValueError as e:
            raise ScenarioError(f"--flip-flaw: {e}") from None
        flaws = [f for f in sc.flaws if f != change.flaw]
        if change.flaw not in sc.flaws:
            flaws.append(change.flaw)
        d["flaws"] = flaws
    elif change.kind == "set":
        key = change.key or ""
        if _current(sc, key) == change.value:
            raise ScenarioError(f"--set {key}={_toml_value(change.value)}: the run already has that value; "
                                "nothing would change")
        table, _, field = key.partition(".")
        if field:
            _check_field(sc, table, field)
            d[table] = {**d[table], field: change.value}
        else:
            if not isinstance(change.value, int) or isinstance(change.value, bool):
                raise ScenarioError(f"--set {key}: must be a whole number, got {_toml_value(change.value)}")
            d[key] = change.value
    elif change.kind == "seed":
        if change.seed == sc.seed:
            raise ScenarioError(f"--seed {change.seed}: the run already used seed {sc.seed}; nothing would change")
        d["seed"] = change.seed
    else:  # pragma: no cover - parse_change builds only known kinds
        raise ScenarioError(f"unknown change {change.kind!r}")
    new = from_dict(d, source=f"{sc.name} {change.flag()}")
    from scenarios.runner import cluster_spec

    cluster_spec(new)  # config, client and network fields are checked where they are built
    return new


def describe_fault_item(item: dict[str, Any]) -> str:
    """A schedule item in a few words: when, and what."""
    what = _fault_words(item.get("fault"))
    if "at" in item:
        dur = item.get("duration")
        return f"at {item['at']} ms, {'until the end' if dur is None else f'for {dur} ms'}: {what}"
    if "on" in item:
        on = item["on"]
        trig = on if isinstance(on, str) else str(on.get("kind", "event")) + (
            f" where {on['where']}" if isinstance(on, dict) and on.get("where") else "")
        times = item.get("times", 1)
        delay = item.get("delay", 0)
        dur = item.get("duration")
        when = f"on {trig}" + (f" +{delay} ms" if delay else "")
        how_often = "every time" if times is None else f"{times} time(s)"
        lasting = "" if dur is None else f" for {dur} ms"
        return f"{when}, {how_often}{lasting}: {what}"
    if "random" in item:
        kinds = ", ".join(map(str, item.get("kinds") or [])) or "any fault"
        return f"random faults ({kinds}) from {item.get('start', 0)} to {item.get('stop', 'the end')} ms"
    return what


def _fault_words(f: Any) -> str:
    if not isinstance(f, dict):
        return str(f)
    name = str(f.get("fault", "fault"))
    rest = ", ".join(f"{k}={v}" for k, v in f.items() if k != "fault")
    return f"{name} ({rest})" if rest else name


def _fault_index(sc: Scenario, k: int | None) -> int:
    assert k is not None
    if not sc.faults:
        raise ScenarioError(f"fault {k}: this run has no faults")
    if not 0 <= k < len(sc.faults):
        raise ScenarioError(f"fault {k}: unknown fault index; this run has {len(sc.faults)} "
                            f"fault{'s' if len(sc.faults) != 1 else ''} (0-{len(sc.faults) - 1}; "
                            f"'splitbrain show {sc.name}' lists them)")
    return k


def _check_field(sc: Scenario, table: str, field: str) -> None:
    """Only fields the scenario's parts know: the system's config class, the client config,
    link settings; workload fields are checked by the system's own validation."""
    from dataclasses import fields

    if table == "config":
        from scenarios.systems import get_system

        allowed = {f.name for f in fields(get_system(sc.system).config)}
    elif table == "network":
        from faults.engine import LinkSettings

        allowed = {f.name for f in fields(LinkSettings)}
    else:
        return
    if field not in allowed:
        raise ScenarioError(f"--set {table}.{field}: unknown key {field!r} in {table} for {sc.system}; "
                            f"known: {', '.join(sorted(allowed))}")


def _current(sc: Scenario, key: str) -> Any:
    table, _, field = key.partition(".")
    if field:
        return getattr(sc, table).get(field)
    return getattr(sc, key, None)


def _int(word: str, where: str, flag: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise ScenarioError(f"{where}: {flag} needs a whole number, got {word!r}") from None


def _value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v and all(c.isalnum() or c in "-_." for c in v) else f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if v is None:
        return "unset"
    return str(v)
