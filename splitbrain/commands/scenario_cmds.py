"""``splitbrain list`` and ``splitbrain show``: the scenario catalog."""

from __future__ import annotations

import argparse
import sys

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args


def _list_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    add_plugin_argument(p)


def _list_run(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from scenarios.spec import catalog
    from splitbrain.terminal import console

    try:
        load_plugin_args(args)
        cat = catalog()
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    if args.json:
        print(json.dumps([{"name": s.name, "summary": s.summary, "system": s.system, "flaws": list(s.flaws),
                           "expect": s.expect, "twin": s.twin} for s in cat.values()], indent=2))
        return 0
    t = Table(show_header=True, header_style="bold", box=None)
    t.add_column("scenario", no_wrap=True, min_width=max(len(n) for n in cat))
    t.add_column("system", no_wrap=True)
    t.add_column("flaws", no_wrap=True)
    t.add_column("expect", no_wrap=True)
    t.add_column("summary")
    for s in cat.values():
        t.add_row(s.name, s.system, ", ".join(s.flaws) or "-", s.expect, s.summary)
    console().print(t)
    _print_plugins()
    return 0


def _print_plugins() -> None:
    """What each loaded plugin added (scenario files', --plugin and installed ones)."""
    from scenarios.plugins import loaded
    from splitbrain.terminal import console

    plugins = loaded()
    if plugins:
        c = console()
        c.print("\nplugins:")
        for plugin in plugins:
            c.print(f"  {plugin.summary()}", markup=False, highlight=False)


def _show_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="scenario name or file")
    add_plugin_argument(p)


def _show_run(args: argparse.Namespace) -> int:
    from scenarios.spec import load
    from scenarios.systems import describe_flaw, flaw_names
    from splitbrain.terminal import console

    try:
        load_plugin_args(args)
        sc = load(args.name)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    c = console()
    c.print(f"[bold]{sc.name}[/bold]: {sc.summary}")
    if sc.description:
        c.print()
        c.print(sc.description.strip())
    if sc.teaches:
        c.print(f"\n[bold]teaches[/bold]: {sc.teaches.strip()}")
    if sc.predict:
        c.print(f"[bold]predict[/bold]: {sc.predict.strip()}")
    c.print()
    c.print(f"system: {sc.system} ({sc.nodes} nodes, {sc.clients} clients), engines: sim, ray (--engine ray)")
    c.print(f"workload: {sc.workload or 'defaults'}")
    c.print(f"duration: {sc.duration_ms} ms simulated; time limit {sc.time_limit_s:g} s; seed {sc.seed}")
    c.print(f"config: {sc.config or 'defaults'}")
    judged = f"model {sc.model}"
    if {"isolation", "elle"} & set(sc.checkers):
        judged += f", consistency model {sc.consistency_model}"
    c.print(f"checkers: {', '.join(sc.checkers)} ({judged}); expected verdict: {sc.expect}")
    if sc.plugins:
        from scenarios.plugins import shown

        c.print(f"plugins: {', '.join(shown(p) for p in sc.plugins)}", markup=False, highlight=False)
    from faults.schedule import item_from_dict
    from scenarios.flawfit import inert_flaws

    c.print("faults (every field, defaults included):" + ("" if sc.faults else " none"))
    for item in sc.faults:
        c.print(f"  - {_spelled_out(item_from_dict(item).to_dict())}", markup=False)
    c.print("flaws switched on:" + ("" if sc.flaws else " none (this is the correct design)"))
    inert = {n.flaw: n.reason for n in inert_flaws(sc)}
    for f in sc.flaws:
        c.print(f"  - {f}: {describe_flaw(sc.system, f)}")
        if f in inert:
            c.print(f"    [yellow]has no effect here[/yellow]: {inert[f]}")
    others = [f for f in flaw_names(sc.system) if f not in sc.flaws]
    c.print(f"other flaws you can switch on with --flaw: {', '.join(others)}")
    if sc.twin:
        c.print(f"twin: {sc.twin}")
    if sc.ray:
        c.print("with --engine ray (real time, real processes) these override the above:")
        for k, v in sc.ray.items():
            c.print(f"  - {k}: {v}")
    return 0


def _spelled_out(d: dict[str, object]) -> dict[str, object]:
    """A fault item with every default written out (a link's loss 0.0 included), minus the
    fields that are unset (None) or empty, which only add noise."""
    out: dict[str, object] = {}
    for k, v in d.items():
        if v is None or v == []:
            continue
        out[k] = _spelled_out(v) if isinstance(v, dict) else v
    return out


COMMANDS = [
    Command("list", "list the named scenarios with one-line summaries", "splitbrain list", _list_configure, _list_run),
    Command("show", "describe a scenario: what it teaches, its parts and its flaws",
            "splitbrain show raft-leader-partition", _show_configure, _show_run),
]
