"""Simulator benchmarks: speed, runs per minute, and how fast `explore` finds each flaw.

Prints tables and writes bench/results/sim.json.  Run: .venv/bin/python bench/sim.py
(--explore-budget S limits each explore; --skip-explore for the speed numbers only).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scenarios.explore import explore  # noqa: E402
from scenarios.runner import run_scenario, simulate  # noqa: E402
from scenarios.spec import Scenario, catalog, load  # noqa: E402


def speed_case(label: str, sc: Scenario, trace_messages: bool) -> dict[str, object]:
    t = time.perf_counter()
    sim, stats = simulate(sc, trace_messages=trace_messages)
    wall = time.perf_counter() - t
    ops = len([e for e in sim.history if e.type == "invoke"])
    return {"case": label, "simulated_s": sc.duration_ms / 1000, "wall_s": wall,
            "speedup": sc.duration_ms / 1000 / wall, "ops": ops, "trace_messages": trace_messages}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--explore-budget", type=float, default=60.0)
    ap.add_argument("--skip-explore", action="store_true")
    ap.add_argument("--only", nargs="*", help="explore only these flawed scenarios")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "sim.json"))
    args = ap.parse_args()
    base = load("raft-healthy-random")
    speed = []
    for think in ((0, 20), (50, 100), (100, 200)):
        sc = base.with_overrides(clients=10, duration_ms=30_000,
                                 workload={**base.workload, "think_ms": list(think)})
        for tm in (True, False):
            speed.append(speed_case(f"5-node raft-kv, 10 clients, think {think[0]}-{think[1]} ms, random faults", sc, tm))
    print(f"{'case':<70} {'trace msgs':>10} {'ops':>7} {'wall s':>7} {'x real time':>11}")
    for s in speed:
        print(f"{s['case']:<70} {str(s['trace_messages']):>10} {s['ops']:>7} {s['wall_s']:>7.2f} {s['speedup']:>11.1f}")
    # runs per minute of a 30-simulated-second scenario, checked, as explore runs it
    sc30 = base.with_overrides(duration_ms=30_000)
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < 20:
        run_scenario(sc30.with_overrides(seed=1000 + n), trace_messages=False)
        n += 1
    rpm = n / (time.perf_counter() - t) * 60
    print(f"\nruns per minute (raft-healthy-random, 30 simulated s, simulate + check): {rpm:.0f}")
    explored = []
    if not args.skip_explore:
        flawed = [s for s in catalog().values() if s.flaws and (not args.only or s.name in args.only)]
        print(f"\n{'flawed scenario':<28} {'found':>6} {'first found s':>13} {'runs to find':>12} {'shrink runs':>11} {'faults left':>11}")
        for sc in flawed:
            res = explore(sc, budget_s=args.explore_budget, seed=0)
            runs_to_find = res.runs - res.shrink_runs if res.found else None
            row = {"scenario": sc.name, "flaws": list(sc.flaws), "found": res.found,
                   "first_found_s": res.first_found_s, "runs_to_find": runs_to_find, "runs": res.runs,
                   "shrink_runs": res.shrink_runs, "elapsed_s": res.elapsed_s,
                   "minimal_faults": len(res.minimal.faults) if res.minimal else None,
                   "minimal_seed": res.minimal.seed if res.minimal else None}
            explored.append(row)
            ff = f"{res.first_found_s:.1f}" if res.first_found_s is not None else "-"
            print(f"{sc.name:<28} {str(res.found):>6} {ff:>13} {str(runs_to_find):>12} {res.shrink_runs:>11} "
                  f"{str(row['minimal_faults']):>11}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "speed": speed, "runs_per_minute_30s": rpm, "explore": explored}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
