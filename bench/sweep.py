"""Sweeps on Ray: throughput by worker count, false alarms of correct designs, detection rates.

Three parts, each a table on the terminal and a section of the JSON written to ``--out``
(default splitbrain-bench/sweep.json in the temp folder, never the repository):

* ``throughput``: ``--throughput-seeds`` seeds (default 100) of raft-leader-partition with
  each of ``--workers`` (default 1,2): wall time, runs/min and the ratio to the first
  worker count.  On a shared machine wall time moves with everybody else's load, so each
  row also gives the CPU seconds the runs used (summed per run) and the *cores used*
  (run CPU seconds over wall seconds), whose ratio is the parallel speed-up the load let
  us have; the load average is printed before and after each row.
* ``correct``: every correct scenario of the catalog with the ``random`` fault mix on top,
  ``--correct-seeds`` seeds each (default 200): false alarms (goal 0) with the 95% upper
  bound of their rate, and wall time.
* ``flawed``: every flawed scenario, ``--flawed-seeds`` seeds each (default 200): the
  detection rate with its 95% Wilson interval.

All parts share one Ray connection (a private local Ray, or ``--ray-address``); the
campaign folders go to a temporary store (``--store`` keeps them).  Choose parts with
``--parts throughput,correct,flawed``; ``--only NAME`` limits the catalog parts.

    .venv/bin/python bench/sweep.py --parts throughput --workers 1,2
    .venv/bin/python bench/sweep.py --parts correct,flawed --correct-seeds 200 --flawed-seeds 200
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.output import default_out, write_json  # noqa: E402

THROUGHPUT_SCENARIO = "raft-leader-partition"


def _load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.1f}/{b:.1f}/{c:.1f}"


def _sweep(name: str, seeds: range, *, workers: int | None, store: Path, no_flaws: bool = False,
           extra: str | None = None, keep: str = "none") -> dict[str, Any]:
    from scenarios.fault_mixes import with_fault_mix
    from scenarios.runner import effective
    from scenarios.spec import load
    from scenarios.sweep import SweepPlan, expectation, run_sweep

    base = load(name)
    flaws: tuple[str, ...] | None = () if no_flaws else None
    sc = effective(base, seed=None, flaws=flaws, time_limit_s=None)
    if extra:
        sc = with_fault_mix(sc, extra)
    plan = SweepPlan(sc, seeds, expectation(base, flaws), keep=keep, extra_faults=extra)
    res = run_sweep(plan, workers=workers, store=store)
    return {"summary": res.summary, "folder": str(res.folder)}


def throughput(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    rows = []
    seeds = range(1, args.throughput_seeds + 1)
    # Warm up as many Ray workers as the widest row uses (a cold worker process spends
    # seconds importing), with seeds the rows do not measure.
    widest = max(args.workers)
    _sweep(THROUGHPUT_SCENARIO, range(10_001, 10_001 + 2 * widest), workers=widest, store=store)
    print(f"\nthroughput: {len(seeds)} seeds of {THROUGHPUT_SCENARIO} (workers warmed up first)")
    print(f"{'workers':>7} {'wall s':>8} {'runs/min':>9} {'ratio':>6} {'CPU s/run':>10} {'cores used':>10} "
          f"{'cores ratio':>11}  load before -> after")
    for k in args.workers:
        before = _load()
        got = _sweep(THROUGHPUT_SCENARIO, seeds, workers=k, store=store)
        t = got["summary"]["timing"]
        row = {"workers": k, "wall_s": t["wall_s"], "runs_per_min": t["runs_per_min"], "cpu_s": t["cpu_s"],
               "cpu_s_per_run": round(t["cpu_s"] / max(1, got["summary"]["done"]), 4),
               "cores_used": round(t["cpu_s"] / t["wall_s"], 3) if t["wall_s"] else None,
               "load_before": before, "load_after": _load(), "verdicts": got["summary"]["verdicts"]}
        rows.append(row)
        first = rows[0]
        row["ratio"] = round(row["runs_per_min"] / first["runs_per_min"], 3) if first["runs_per_min"] else None
        row["cores_ratio"] = (round(row["cores_used"] / first["cores_used"], 3)
                              if first["cores_used"] and row["cores_used"] else None)
        print(f"{k:>7} {row['wall_s']:>8.1f} {row['runs_per_min']:>9.1f} {row['ratio']:>6} {row['cpu_s_per_run']:>10.3f} "
              f"{row['cores_used']:>10} {row['cores_ratio']!s:>11}  {row['load_before']} -> {row['load_after']}")
    return {"scenario": THROUGHPUT_SCENARIO, "seeds": len(seeds), "rows": rows}


def _catalog_part(label: str, names: list[str], seeds: range, store: Path, *, correct: bool,
                  workers: int | None) -> dict[str, Any]:
    rows = []
    t_all = time.perf_counter()
    if correct:
        print(f"\n{label}: {len(names)} correct scenarios + random faults, seeds {seeds.start}..{seeds.stop - 1}")
        print(f"{'scenario':<42} {'runs':>5} {'false alarms':>12} {'95% upper':>9} {'unknown':>7} {'wall s':>7} "
              f"{'CPU s':>7}  load")
    else:
        print(f"\n{label}: {len(names)} flawed scenarios, seeds {seeds.start}..{seeds.stop - 1}")
        print(f"{'scenario':<42} {'runs':>5} {'caught':>6} {'rate':>7} {'95% interval':>17} {'wall s':>7} "
              f"{'CPU s':>7}  signatures")
    for name in names:
        got = _sweep(name, seeds, workers=workers, store=store, no_flaws=correct,
                     extra="random" if correct else None, keep="first")
        s = got["summary"]
        det, t = s["detection"], s["timing"]
        row = {"scenario": name, "runs": s["done"], "verdicts": s["verdicts"], "detection": det,
               "false_alarms": s["false_alarms"], "false_alarm_seeds": s["false_alarm_seeds"],
               "unknown_seeds": s["unknown_seeds"], "wall_s": t["wall_s"], "cpu_s": t["cpu_s"],
               "signatures": [{"text": g["text"], "count": g["count"], "example_seed": g["example_seed"]}
                              for g in s["signatures"]], "load": _load()}
        rows.append(row)
        lo, hi = det["ci95"]
        if correct:
            print(f"{name:<42} {s['done']:>5} {s['false_alarms']:>12} {100 * hi:>8.2f}% "
                  f"{s['verdicts']['unknown']:>7} {t['wall_s']:>7.0f} {t['cpu_s']:>7.0f}  {row['load']}")
        else:
            top = "; ".join(f"{g['count']}x {g['text']}" for g in s["signatures"][:2])
            print(f"{name:<42} {s['done']:>5} {det['count']:>6} {100 * (det['rate'] or 0):>6.1f}% "
                  f"{100 * lo:>7.1f}-{100 * hi:>5.1f}% {t['wall_s']:>7.0f} {t['cpu_s']:>7.0f}  {top}")
        sys.stdout.flush()
    wall = time.perf_counter() - t_all
    total = sum(r["runs"] for r in rows)
    if correct:
        fa = sum(r["false_alarms"] for r in rows)
        print(f"{len(rows)} scenarios, {total} runs, {fa} false alarm(s), {wall:.0f} s wall")
    else:
        print(f"{len(rows)} scenarios, {total} runs, {wall:.0f} s wall")
    return {"seeds": [seeds.start, seeds.stop - 1], "wall_s": round(wall, 1), "runs": total, "rows": rows}


def main() -> int:
    from cluster.runtime.launch import ray_connection
    from cluster.runtime.pool import cluster_cpus, ray_nodes
    from scenarios.spec import catalog

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="throughput,correct,flawed")
    ap.add_argument("--workers", default="1,2", type=lambda s: [int(x) for x in s.split(",")],
                    help="worker counts for the throughput part (default 1,2)")
    ap.add_argument("--campaign-workers", type=int, help="workers for the catalog parts (default: the CPUs Ray sees)")
    ap.add_argument("--throughput-seeds", type=int, default=100)
    ap.add_argument("--correct-seeds", type=int, default=200)
    ap.add_argument("--flawed-seeds", type=int, default=200)
    ap.add_argument("--only", nargs="*", help="catalog scenarios to include (default: all)")
    ap.add_argument("--ray-address")
    ap.add_argument("--store", help="keep the campaign folders here (default: a temporary folder, removed)")
    ap.add_argument("--out", default=default_out("sweep"))
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    store = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="sb-bench-sweep-"))
    cat = catalog()
    pick = set(args.only or cat)
    correct = sorted(n for n, s in cat.items() if s.expect == "valid" and "sim" in s.engines and n in pick)
    flawed = sorted(n for n, s in cat.items() if s.expect == "invalid" and "sim" in s.engines and n in pick)
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(), "started": time.ctime(),
                           "load_start": _load()}
    try:
        with ray_connection(args.ray_address, num_cpus=max([os.cpu_count() or 1, *args.workers])):
            out["ray_cpus"] = cluster_cpus()
            out["ray_nodes"] = ray_nodes()
            print(f"Ray: {out['ray_cpus']:g} CPUs on {len(out['ray_nodes'])} node(s); load {_load()}")
            if "throughput" in parts:
                out["throughput"] = throughput(args, store)
            if "correct" in parts:
                out["correct"] = _catalog_part("correct", correct, range(1, args.correct_seeds + 1), store,
                                               correct=True, workers=args.campaign_workers)
            if "flawed" in parts:
                out["flawed"] = _catalog_part("flawed", flawed, range(1, args.flawed_seeds + 1), store,
                                              correct=False, workers=args.campaign_workers)
    finally:
        if not args.store:
            shutil.rmtree(store, ignore_errors=True)
    out["load_end"] = _load()
    print(f"\nwrote {write_json(args.out, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
