"""Starting points a user edits: a fault plugin with a scenario that uses it, and a copy of a
scenario with every field written out and explained (``splitbrain new``).

Each one runs as written -- ``splitbrain run ./NAME.toml`` -- so a user starts from something
that works and changes one thing at a time.  Nothing is ever overwritten: a file that is
already there is a :class:`StarterError`, and nothing is written at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.spec import Scenario, ScenarioError

__all__ = ["Starter", "StarterError", "fault_starter", "scenario_starter", "to_toml_value", "write"]

NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class StarterError(ScenarioError):
    """A starting point that cannot be written (bad name, taken name, file already there)."""


@dataclass(frozen=True)
class Starter:
    """Files to write: ``(file name, text)`` pairs, and what to tell the user next."""

    files: tuple[tuple[str, str], ...]
    next_steps: tuple[str, ...]


def write(starter: Starter, folder: Path) -> list[Path]:
    """Write every file of ``starter`` into ``folder``, or none if any is already there."""
    paths = [folder / name for name, _ in starter.files]
    there = [p for p in paths if p.exists() or p.is_symlink()]
    if there:
        raise StarterError(f"{there[0]} already exists; nothing was written (remove it or choose another name)")
    for path, (_, text) in zip(paths, starter.files, strict=True):
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite, even in a race
            f.write(text)
    return paths


def _check_name(name: str, what: str) -> None:
    if not NAME.fullmatch(name):
        raise StarterError(f"{what} name {name!r}: use lowercase letters, digits and single hyphens, "
                           "starting with a letter (e.g. slow-disk)")


# --- a fault ---------------------------------------------------------------------------------


def fault_starter(name: str) -> Starter:
    """``NAME.py`` (module ``name`` with ``_``): a working fault called ``name``, and
    ``NAME.toml``: a scenario that loads it as a plugin and applies it to the leader."""
    _check_name(name, "fault")
    from faults.registry import get, known, origin

    if name in known():
        raise StarterError(f"fault name {name!r} is already taken, {origin(get(name).__module__)}; "
                           "choose another name")
    module = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-"))
    py = _FAULT.format(name=name, cls=cls, module=module)
    toml = _FAULT_SCENARIO.format(name=name, module=module)
    return Starter(
        files=((f"{module}.py", py), (f"{name}.toml", toml)),
        next_steps=(f"splitbrain run ./{name}.toml                 # in the simulator",
                    f"splitbrain run ./{name}.toml --engine ray    # on real processes",
                    f"splitbrain show ./{name}.toml"),
    )


_FAULT = '''"""The {name!r} fault: a splitbrain plugin (see docs/extending.md).

Load it from a scenario file (``plugins = ["{module}.py"]``, relative to that file) or with
``splitbrain run SCENARIO --plugin {module}.py``.  Once loaded, ``{{ fault = "{name}" }}``
works wherever a fault does: in ``at`` / ``on`` schedule items, in a random schedule's
``kinds``, on both engines (the simulator, and Ray with ``--engine ray``).

As written it makes one node flaky: what it sends and what it receives is lost now and
then and arrives late.  Change ``apply`` / ``heal`` / ``describe`` to make it yours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from faults.base import Applied, FaultBase, FaultSpecError, resolve_one
from faults.engine import Engine
from faults.link import LinkFault
from faults.registry import register


@register  # above @dataclass; the name below must not be taken (built-ins: splitbrain show)
@dataclass(frozen=True)
class {cls}(FaultBase):
    """A flaky node: its links lose ``loss`` of the messages and add ``delay_ms``, both ways."""

    name: ClassVar[str] = "{name}"

    # Fields are what a scenario may set: {{ fault = "{name}", node = "leader", loss = 0.3 }}.
    # Their annotations are checked when a scenario is read (a number where a number goes).
    # A field called node, target, src or dst names a node id or a selector: leader, random,
    # random-follower (and minority / majority where a fault takes a group).
    node: str = "random"
    loss: float = 0.2
    delay_ms: float = 50.0

    def __post_init__(self) -> None:
        # Refuse bad values before the run starts, naming the field.
        where = f"fault {{self.name!r}}"
        if not 0.0 <= self.loss <= 1.0:
            raise FaultSpecError(f"{{where}}: 'loss' must be between 0 and 1, got {{self.loss!r}}")
        if self.delay_ms < 0:
            raise FaultSpecError(f"{{where}}: 'delay_ms' must be >= 0, got {{self.delay_ms!r}}")

    def _links(self, node: str, outgoing: bool) -> LinkFault:
        src, dst = (node, "*") if outgoing else ("*", node)
        return LinkFault(src=src, dst=dst, loss=self.loss, delay_ms=self.delay_ms)

    def apply(self, engine: Engine) -> Applied:
        # Resolve the selector once ("leader" is the leader *now*), then act on that node.
        # Composing LinkFault keeps overlapping link faults correct: each heal undoes only its own.
        target = resolve_one(engine, self.node)
        node = target.nodes[0]
        out = self._links(node, outgoing=True).apply(engine)
        into = self._links(node, outgoing=False).apply(engine)
        # Applied records what was done, in resolved terms, for heal and for the report.
        return Applied(targets=(node,), token=out.token, links=out.links + into.links,
                       notes=target.notes(), state=(out, into))

    def heal(self, engine: Engine, applied: Applied) -> None:
        out, into = applied.state
        node = applied.targets[0]
        self._links(node, outgoing=False).heal(engine, into)
        self._links(node, outgoing=True).heal(engine, out)

    def describe(self, applied: Applied) -> str:
        # One sentence for the terminal summary, the trace's fault-start record and the report.
        who = applied.named(applied.targets[0])  # "n2 (the leader)"
        return (f"made {{who}} flaky: {{self.loss:.0%}} of its messages lost, "
                f"{{self.delay_ms:g}} ms late, both ways")
'''

_FAULT_SCENARIO = '''# A scenario that uses the {name!r} fault from the plugin file next to it.
#   splitbrain run ./{name}.toml                # the simulator: same seed, same run
#   splitbrain run ./{name}.toml --engine ray   # Ray actors over gRPC, real processes
#   splitbrain show ./{name}.toml               # every field, defaults included
name = "{name}-demo"
summary = "the leader turns flaky ({name}) while clients read and write a Raft key-value store"
description = """Twice the current leader's links start losing and delaying messages, in both
directions. A correct Raft stays linearizable: at worst the leader loses its term and the
cluster elects another one."""
plugins = ["{module}.py"]      # relative to this file; a plain name would be a module to import
system = "raft-kv"             # splitbrain list shows the scenarios of every system
nodes = 5
clients = 5
duration_ms = 8000             # simulated milliseconds (real ones with --engine ray)
time_limit_s = 120
seed = 1
engines = ["sim", "ray"]
checkers = ["linearizability", "raft-safety"]
model = "kv-register"
expect = "valid"               # the correct design; add flaws = ["..."] to see one fail
workload = {{ keys = 3, read_ratio = 0.5, cas_ratio = 0.15 }}
faults = [
  {{ at = 1500, duration = 2000, fault = {{ fault = "{name}", node = "leader", loss = 0.6, delay_ms = 150 }} }},
  {{ on = "leader-elected", delay = 500, duration = 1500, fault = {{ fault = "{name}", node = "leader" }} }},
]
'''


# --- a scenario --------------------------------------------------------------------------------

_FIELD_NOTES: dict[str, str] = {
    "summary": "one line for 'splitbrain list'",
    "description": "what happens, in words a learner follows",
    "teaches": "the lesson in one line",
    "plugins": "plugin files (relative to this file) or module names",
    "system": "which system runs (splitbrain list shows them)",
    "nodes": "server nodes n1..nN",
    "clients": "concurrent client processes",
    "duration_ms": "simulated milliseconds (real ones with --engine ray)",
    "time_limit_s": "wall-clock limit for running and checking",
    "seed": "same seed, same run (in the simulator)",
    "tick_ms": "how often cores tick",
    "engines": "where it is meant to run: sim, ray",
    "model": "the linearizability checker's model",
    "checkers": "who judges the run",
    "expect": "valid for a correct design, invalid for a flawed one",
    "flaws": "named flaws switched on (splitbrain show lists the system's)",
    "config": "the core's options",
    "client": "client options (timeouts, retries)",
    "network": "every link's baseline: loss, delay_ms, jitter_ms, duplicate, reorder",
    "workload": "what clients ask for",
    "faults": "when what goes wrong: at / on / random items (docs/faults.md)",
    "ray": "what changes on the real engine (--engine ray)",
}
_ORDER = ("summary", "description", "teaches", "plugins", "system", "nodes", "clients",
          "duration_ms", "time_limit_s", "seed", "tick_ms", "engines", "model", "checkers", "expect",
          "flaws", "config", "client", "network", "workload", "faults")


def scenario_starter(name: str, base: Scenario, *, folder: Path) -> Starter:
    """``NAME.toml``: ``base`` with every field written out and a note on each, renamed.
    Plugin files are named relative to ``folder``, where the file goes."""
    _check_name(name, "scenario")
    d = base.to_dict()
    d["plugins"] = [_relative(p, folder) for p in base.plugins]
    lines = [
        f"# {name}: a copy of {base.name!r} with every field written out, to change as you like.",
        f"#   splitbrain run ./{name}.toml       (add --engine ray for real processes)",
        f"#   splitbrain show ./{name}.toml",
        f"name = {to_toml_value(name)}",
    ]
    for key in _ORDER:
        value = d.get(key)
        if key in ("description", "teaches") and not value:
            continue
        if key == "plugins" and not value:
            continue
        lines.append(_entry(key, value))
    if d.get("ray"):
        lines.append("")
        lines.append(f"[ray]   # {_FIELD_NOTES['ray']}")
        for key, value in d["ray"].items():
            lines.append(_entry(key, value, note=False))
    if base.question:
        # The question is about the original scenario: a changed copy may have another answer.
        lines += ["", f"# {base.name!r} asks a learner a [question] (splitbrain show {base.name});",
                  "# a copy asks none until you write one: see docs/scenarios.md, 'Questions'."]
    return Starter(files=((f"{name}.toml", "\n".join(lines) + "\n"),),
                   next_steps=(f"splitbrain run ./{name}.toml", f"splitbrain show ./{name}.toml"))


def _relative(plugin: str, folder: Path) -> str:
    if "/" not in plugin and not plugin.endswith(".py"):
        return plugin
    path = Path(plugin)
    try:
        return str(path.relative_to(folder.resolve()))
    except ValueError:
        return str(path)


def _entry(key: str, value: Any, *, note: bool = True) -> str:
    text = f"{_key(key)} = {_block(value) if key == 'faults' else to_toml_value(value)}"
    comment = _FIELD_NOTES.get(key) if note else None
    if comment and "\n" not in text:
        return f"{text}   # {comment}"
    return f"# {comment}\n{text}" if comment else text


def _block(items: Any) -> str:
    """A list of tables, one per line."""
    if not items:
        return "[]"
    return "[\n" + "".join(f"  {to_toml_value(item)},\n" for item in items) + "]"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def to_toml_value(value: Any) -> str:
    """A TOML value for plain data (what scenarios hold); a ``None`` inside a table is left
    out (TOML has no null, and a missing key is the default)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if "\n" in value and '"""' not in value and "\\" not in value:
            return '"""\n' + value + '"""'
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        parts = [f"{_key(str(k))} = {to_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(parts) + " }" if parts else "{}"
    raise StarterError(f"cannot write {value!r} ({type(value).__name__}) into a TOML scenario file")
