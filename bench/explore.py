"""How ``explore`` does on every flawed catalog scenario: time to find, time to shrink, and sizes.

For each flawed scenario (``expect = "invalid"``) it runs ``explore`` as
``splitbrain explore NAME --budget 60s --shrink-budget 60s`` does (hypothesis draws the
operations and the faults) and prints one row: whether it found the flaw, after how
many seconds and runs, which checker failed, the run's size when found and once shrunk
(operations, clients, faults applied, simulated time), and the seconds and runs spent
shrinking.  Wall seconds move with the machine's load (printed before and after), so the
CPU seconds of this process are shown beside them.

    .venv/bin/python bench/explore.py                     # every flawed scenario
    .venv/bin/python bench/explore.py --only raft-split-brain-reads --budget 30
    .venv/bin/python bench/explore.py --out /tmp/explore.json

The JSON goes to ``--out`` (default: a file in the system's temporary folder, never the
repository).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def explore_one(name: str, budget_s: float, shrink_s: float, seed: int) -> dict[str, Any]:
    from scenarios.explore import explore
    from scenarios.spec import load

    sc = load(name)
    cpu0 = time.process_time()
    found_cpu: list[float] = []

    def on_run(n: int, elapsed: float, bad: bool) -> None:
        if bad and not found_cpu:
            found_cpu.append(time.process_time() - cpu0)

    res = explore(sc, budget_s=budget_s, shrink_budget_s=shrink_s, seed=seed, on_run=on_run)
    cpu = time.process_time() - cpu0
    row: dict[str, Any] = {"scenario": name, "system": sc.system, "flaws": list(sc.flaws), "found": res.found,
                           "runs": res.runs, "elapsed_s": round(res.elapsed_s, 2), "cpu_s": round(cpu, 2)}
    if res.found and res.first_size is not None and res.minimal_size is not None and res.minimal is not None:
        row.update({
            "checker": res.failing_checker,
            "found_by": res.found_by,
            "drew_workload": res.drew_workload,
            "find_s": round(res.first_found_s or 0.0, 2),
            "find_cpu_s": round(found_cpu[0], 2) if found_cpu else None,
            "find_runs": res.runs - res.shrink_runs,
            "shrink_s": round(res.shrink_s, 2),
            "shrink_runs": res.shrink_runs,
            "shrink_complete": res.shrink_complete,
            "before": res.first_size.to_dict(),
            "after": res.minimal_size.to_dict(),
            "minimal_faults": list(res.minimal.faults),
            "minimal_script": list(res.minimal.workload.get("script", [])),
        })
    return row


def print_header() -> None:
    print(f"{'flawed scenario':<34} {'checker':<15} {'find s':>7} {'cpu':>6} {'runs':>5} "
          f"{'ops':>9} {'clients':>7} {'faults':>6} {'sim ms':>12} {'shrink s':>8} {'runs':>5} done")


def print_row(r: dict[str, Any]) -> None:
    if not r["found"]:
        print(f"{r['scenario']:<34} {'not found':<15} {'-':>7} {'':>6} {r['runs']:>5}", flush=True)
        return
    a, b = r["before"], r["after"]
    cpu = f"{r['find_cpu_s']:.1f}" if r.get("find_cpu_s") is not None else "-"
    print(f"{r['scenario']:<34} {r['checker']:<15} {r['find_s']:>7.1f} {cpu:>6} {r['find_runs']:>5} "
          f"{a['operations']:>4}→{b['operations']:<4} {a['clients']:>3}→{b['clients']:<3} {b['faults']:>6} "
          f"{a['simulated_ms']:>6}→{b['simulated_ms']:<5} {r['shrink_s']:>8.1f} {r['shrink_runs']:>5} "
          f"{'yes' if r['shrink_complete'] else 'budget'}{'' if r['drew_workload'] else ' (own workload)'}",
          flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=60.0, help="search budget per scenario, seconds (default 60)")
    ap.add_argument("--shrink-budget", type=float, default=60.0, help="shrink budget, seconds (default 60)")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis's seed (default 0)")
    ap.add_argument("--only", nargs="*", help="these flawed scenarios only")
    ap.add_argument("--out", help="JSON results (default splitbrain-bench/explore.json in the temp folder)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.output import default_out, write_json
    from scenarios.spec import catalog

    names = [n for n, sc in catalog().items() if sc.expect == "invalid" and "sim" in sc.engines]
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"--only {unknown[0]}: not a flawed catalog scenario", file=sys.stderr)
            return 3
        names = [n for n in names if n in args.only]
    load_before = os.getloadavg()
    print(f"explore --budget {args.budget:g}s --shrink-budget {args.shrink_budget:g}s --seed {args.seed}; "
          f"load average {'/'.join(f'{x:.2f}' for x in load_before)}; {os.cpu_count()} CPUs")
    print_header()
    rows = []
    for name in names:
        row = explore_one(name, args.budget, args.shrink_budget, args.seed)
        row["load_1min"] = round(os.getloadavg()[0], 2)
        rows.append(row)
        print_row(row)
    load_after = os.getloadavg()
    found = [r for r in rows if r["found"]]
    small = [r for r in found if r["after"]["operations"] <= 10 and r["after"]["faults"] <= 2]
    print(f"found {len(found)}/{len(rows)}; shrunk to <= 10 operations and <= 2 faults: {len(small)}/{len(found)}; "
          f"load average after {'/'.join(f'{x:.2f}' for x in load_after)}")
    out = write_json(args.out or default_out("explore"), {
        "machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": load_after, "budget_s": args.budget,
        "shrink_budget_s": args.shrink_budget, "seed": args.seed, "rows": rows,
    })
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
