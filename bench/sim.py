"""Simulator speed: how many times faster than real time, and how many checked runs a minute.

The rows of issue 17's table, for a 5-node Raft KV under raft-healthy-random's random
faults (partitions, crashes, pauses, clock skew, bad links):

* think 50-100 ms, 10 clients, 30 simulated seconds: x real time;
* think 0-20 ms (saturating), 10 clients, 30 simulated seconds: x real time;
* 30-simulated-second runs per minute, simulated *and* checked, as ``explore`` runs them
  (5 clients, wire records off, a new seed each run), and how much memory the process keeps
  of each (a long explore runs thousands in one process: this must stay near zero).

Each speed row is measured with wire records off (how ``explore`` and sweeps run) and on
(how ``splitbrain run`` runs, writing trace.jsonl).  Speed is simulated time over the
time ``simulate()`` took, both wall and CPU time (CPU time is the steadier number on a
shared machine).  Every repetition runs in a fresh process; with several ``--root``
checkouts the repetitions alternate between them, so a before/after comparison sees the
same machine load.  Medians are reported, with the load average before and after.

    .venv/bin/python bench/sim.py                       # this checkout
    .venv/bin/python bench/sim.py --root /tmp/base .    # before (a checkout at the base) vs after
    .venv/bin/python bench/sim.py --both                # compiled cores vs pure Python, alternating
    .venv/bin/python bench/sim.py --pure                # pure Python only (SPLITBRAIN_PURE=1)

Each child process reports whether it ran the compiled cores (``scripts/build_native.py``,
see ``cluster/native.py``) or pure Python, and the table says which; ``--both`` runs a
compiled and a pure child back to back in every repetition (the same load for both) and
prints their CPU-time ratios.

Writes JSON to ``--out`` (default ``splitbrain-bench/sim.json`` in the temp directory, never
the repository).  ``--profile N`` instead runs the two speed cases (wire records off) once
each under cProfile in this process and prints their top ``N`` functions by own time: where
the next speed-up is.  With ``--explore`` it also times how fast ``explore`` finds each flawed catalog scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SPEED_CASES: tuple[tuple[str, tuple[int, int], bool], ...] = (
    ("think 50-100 ms", (50, 100), False),
    ("think 50-100 ms", (50, 100), True),
    ("think 0-20 ms (saturating)", (0, 20), False),
    ("think 0-20 ms (saturating)", (0, 20), True),
)
SIMULATED_MS = 30_000
SCENARIO = "raft-healthy-random"
UNCUT_S = 24 * 3600.0
"""The speed cases' and the profile's time limit: a loaded machine (or a profiler) must not
cut a run short, which would time less than the whole run."""


# --- one repetition, in a fresh process whose sys.path starts at the checkout measured -----------


def _one_repetition(runs: int) -> dict[str, Any]:
    from scenarios.runner import run_scenario, simulate
    from scenarios.spec import load

    base = load(SCENARIO)
    speed = []
    for label, think, wire in SPEED_CASES:
        sc = base.with_overrides(clients=10, duration_ms=SIMULATED_MS, time_limit_s=UNCUT_S,
                                 workload={**base.workload, "think_ms": list(think)})
        w0, c0 = time.perf_counter(), time.process_time()
        sim, _ = simulate(sc, trace_messages=wire)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        ops = sum(1 for e in sim.history if e.type == "invoke")
        speed.append({"case": label, "think_ms": list(think), "trace_messages": wire, "wall_s": wall,
                      "cpu_s": cpu, "ops": ops, "trace_records": len(sim.trace)})
    checked = []
    sc30 = base.with_overrides(duration_ms=SIMULATED_MS)
    rss0 = _rss_mb()
    for n in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        out = run_scenario(sc30.with_overrides(seed=1000 + n), trace_messages=False)
        checked.append({"seed": 1000 + n, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                        "simulate_s": out.stats["wall_s"], "check_s": out.stats["check_s"],
                        "verdict": out.verdict, "ops": out.stats["operations"]})
    grown = _rss_mb() - rss0
    return {"speed": speed, "checked": checked, "rss_grown_mb_per_run": grown / runs if runs else 0.0,
            "native": _native_status()}


def _rss_mb() -> float:
    """This process's resident memory now (MB): what a long explore, running check after
    check in one process, keeps of each run shows as growth over the checked runs."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the peak instead, which can only grow
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _native_status() -> dict[str, Any]:
    """Which modules this child ran: the compiled cores or pure Python (and why)."""
    try:
        from cluster import native
    except ImportError:  # a checkout from before the compiled cores
        return {"mode": "pure", "reason": "no cluster.native in this checkout", "modules": []}
    status: dict[str, Any] = native.status()
    return status


PURE_ENV = "SPLITBRAIN_PURE"


def _run_child(root: Path, runs: int, pure: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop(PURE_ENV, None)
    if pure:
        env[PURE_ENV] = "1"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(root), "--runs", str(runs)],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench child for {root} failed:\n{proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- summary ------------------------------------------------------------------------------------


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for i, (label, think, wire) in enumerate(SPEED_CASES):
        samples = [r["speed"][i] for r in reps]
        wall = _median([s["wall_s"] for s in samples])
        cpu = _median([s["cpu_s"] for s in samples])
        rows.append({"case": label, "think_ms": list(think), "trace_messages": wire, "ops": samples[0]["ops"],
                     "wall_s_median": wall, "cpu_s_median": cpu,
                     "x_real_time_wall": SIMULATED_MS / 1000 / wall, "x_real_time_cpu": SIMULATED_MS / 1000 / cpu,
                     "wall_s": [s["wall_s"] for s in samples], "cpu_s": [s["cpu_s"] for s in samples]})
    runs = [c for r in reps for c in r["checked"]]
    per_run_wall = _median([c["wall_s"] for c in runs])
    per_run_cpu = _median([c["cpu_s"] for c in runs])
    checked = {"runs": len(runs), "per_run_wall_s_median": per_run_wall, "per_run_cpu_s_median": per_run_cpu,
               "simulate_s_median": _median([c["simulate_s"] for c in runs]),
               "check_s_median": _median([c["check_s"] for c in runs]),
               "runs_per_minute_wall": 60 / per_run_wall, "runs_per_minute_cpu": 60 / per_run_cpu,
               "verdicts": sorted({c["verdict"] for c in runs}),
               "rss_grown_mb_per_run_median": _median([r.get("rss_grown_mb_per_run", float("nan")) for r in reps])}
    modes = sorted({r["native"]["mode"] + (f" ({r['native']['reason']})" if r["native"]["reason"] else "")
                    for r in reps})
    return {"speed": rows, "checked": checked, "modes": modes}


def print_ratios(name: str, fast: dict[str, Any], slow: dict[str, Any]) -> None:
    """CPU-time ratios of two summaries measured back to back (``fast`` over ``slow``)."""
    print(f"\n{name}")
    print(f"  {'case':<48} {'wire':>5} {'speed-up (cpu)':>14} {'speed-up (wall)':>15}")
    for a, b in zip(fast["speed"], slow["speed"], strict=True):
        print(f"  {a['case'] + ', 10 clients':<48} {'on' if a['trace_messages'] else 'off':>5} "
              f"{b['cpu_s_median'] / a['cpu_s_median']:>13.2f}x {b['wall_s_median'] / a['wall_s_median']:>14.2f}x")
    ca, cb = fast["checked"], slow["checked"]
    print(f"  {'30-s runs per minute, simulated + checked':<48} {'off':>5} "
          f"{cb['per_run_cpu_s_median'] / ca['per_run_cpu_s_median']:>13.2f}x "
          f"{cb['per_run_wall_s_median'] / ca['per_run_wall_s_median']:>14.2f}x")


def print_table(name: str, summary: dict[str, Any]) -> None:
    print(f"\n{name}: {', '.join(summary['modes'])}")
    print(f"  {'5-node raft-kv, random faults, 30 simulated s':<48} {'wire':>5} {'ops':>6} "
          f"{'wall s':>7} {'x real (wall)':>13} {'x real (cpu)':>12}")
    for r in summary["speed"]:
        print(f"  {r['case'] + ', 10 clients':<48} {'on' if r['trace_messages'] else 'off':>5} {r['ops']:>6} "
              f"{r['wall_s_median']:>7.3f} {r['x_real_time_wall']:>13.1f} {r['x_real_time_cpu']:>12.1f}")
    c = summary["checked"]
    print(f"  {'30-s runs per minute, simulated + checked':<48} {'off':>5} {'':>6} {c['per_run_wall_s_median']:>7.3f} "
          f"{c['runs_per_minute_wall']:>13.0f} {c['runs_per_minute_cpu']:>12.0f}   (per run: simulate "
          f"{c['simulate_s_median']:.3f} s, check {c['check_s_median']:.3f} s; {c['runs']} runs, {'/'.join(c['verdicts'])}; "
          f"memory kept {c['rss_grown_mb_per_run_median']:.1f} MB a run)")


def explore_flawed(budget_s: float, only: list[str] | None) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from scenarios.explore import explore
    from scenarios.spec import catalog

    rows = []
    print(f"\n{'flawed scenario':<28} {'found':>6} {'first found s':>13} {'runs to find':>12} {'shrink runs':>11}")
    for sc in catalog().values():
        if not sc.flaws or (only and sc.name not in only):
            continue
        res = explore(sc, budget_s=budget_s, seed=0)
        runs_to_find = res.runs - res.shrink_runs if res.found else None
        rows.append({"scenario": sc.name, "found": res.found, "first_found_s": res.first_found_s,
                     "runs_to_find": runs_to_find, "runs": res.runs, "shrink_runs": res.shrink_runs})
        ff = f"{res.first_found_s:.1f}" if res.first_found_s is not None else "-"
        print(f"{sc.name:<28} {str(res.found):>6} {ff:>13} {str(runs_to_find):>12} {res.shrink_runs:>11}", flush=True)
    return rows


def profile(top: int) -> None:
    """Print the ``top`` functions by own time of each speed case (wire records off)."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    from scenarios.runner import simulate
    from scenarios.spec import load

    base = load(SCENARIO)
    seen = set()
    for label, think, _wire in SPEED_CASES:
        if label in seen:
            continue
        seen.add(label)
        sc = base.with_overrides(clients=10, duration_ms=SIMULATED_MS, time_limit_s=UNCUT_S,
                                 workload={**base.workload, "think_ms": list(think)})
        prof = cProfile.Profile()
        prof.enable()
        simulate(sc, trace_messages=False)
        prof.disable()
        print(f"\n=== {label}, 10 clients, {SIMULATED_MS // 1000} simulated s, wire records off ===")
        pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", nargs="+", default=[str(ROOT)], metavar="CHECKOUT",
                    help="checkouts to measure, alternating (default: this one)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per checkout (fresh process each)")
    ap.add_argument("--runs", type=int, default=4, help="checked 30-s runs per repetition")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--pure", action="store_true", help="children run pure Python only (SPLITBRAIN_PURE=1)")
    mode.add_argument("--both", action="store_true",
                      help="every repetition runs a compiled child, then a pure one; prints both and their ratios")
    ap.add_argument("--explore", action="store_true", help="also time explore on every flawed scenario")
    ap.add_argument("--explore-budget", type=float, default=60.0)
    ap.add_argument("--only", nargs="*", help="explore only these flawed scenarios")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "splitbrain-bench" / "sim.json"),
                    help="JSON results (default in the temp directory, never the repository)")
    ap.add_argument("--profile", type=int, metavar="N", help="print each speed case's top N functions "
                    "by own time under cProfile instead of timing (nothing written)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile:
        profile(args.profile)
        return 0
    if args.child:
        sys.path.insert(0, args.child)
        print(json.dumps(_one_repetition(args.runs)))
        return 0
    roots = [Path(r).resolve() for r in args.root]
    for r in roots:
        if not (r / "scenarios" / "runner.py").is_file():
            print(f"--root {r}: not a splitbrain checkout (no scenarios/runner.py)", file=sys.stderr)
            return 3
    modes = [False, True] if args.both else [args.pure]  # pure?
    runs = [(r, pure) for r in roots for pure in modes]

    def key(root: Path, pure: bool) -> str:
        return f"{root} [{'pure' if pure else 'compiled'}]" if args.both else str(root)

    load_before = os.getloadavg()
    reps: dict[str, list[dict[str, Any]]] = {key(r, p): [] for r, p in runs}
    for i in range(args.reps):
        for r, pure in runs:
            reps[key(r, pure)].append(_run_child(r, args.runs, pure))
            print(f"  repetition {i + 1}/{args.reps} of {key(r, pure)} done, load {os.getloadavg()[0]:.2f}",
                  flush=True)
    load_after = os.getloadavg()
    summaries = {name: summarise(rs) for name, rs in reps.items()}
    for name, summary in summaries.items():
        print_table(name, summary)
    if args.both:
        for r in roots:
            print_ratios(f"{r}: compiled over pure, CPU time (and wall), back to back",
                         summaries[key(r, False)], summaries[key(r, True)])
    print(f"\nload average (1/5/15 min): before {'/'.join(f'{x:.2f}' for x in load_before)}, "
          f"after {'/'.join(f'{x:.2f}' for x in load_after)}; medians of {args.reps} repetitions")
    explored = explore_flawed(args.explore_budget, args.only) if args.explore else []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": load_after, "reps": args.reps,
        "simulated_ms": SIMULATED_MS, "scenario": SCENARIO, "results": summaries, "explore": explored,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
