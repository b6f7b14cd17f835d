"""Detection rate of every flawed catalog scenario over a range of seeds.

A flawed scenario teaches its lesson only if the flaw bites at most seeds a learner might
try, not just at the catalog's own seed.  This runs each flawed scenario (simulator, no
message tracing) at seeds FIRST..LAST in a process pool and prints how many were caught.

Run: .venv/bin/python bench/detection.py [--seeds 1..20] [--only NAME ...] [--jobs N]
Writes JSON to --out (default splitbrain-bench/detection.json in the temp folder).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.output import default_out, write_json  # noqa: E402


def _one(args: tuple[str, int]) -> tuple[str, int, str, float]:
    from scenarios.runner import run_scenario
    from scenarios.spec import catalog

    name, seed = args
    t = time.perf_counter()
    out = run_scenario(catalog()[name].with_overrides(seed=seed), trace_messages=False)
    return name, seed, out.verdict, time.perf_counter() - t


def parse_seeds(text: str) -> list[int]:
    first, _, last = text.partition("..")
    return list(range(int(first), int(last or first) + 1))


def main() -> int:
    from scenarios.spec import catalog

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="1..20")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=default_out("detection"))
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    names = sorted(n for n, s in catalog().items() if s.expect == "invalid" and (not args.only or n in args.only))
    jobs = [(n, s) for n in names for s in seeds]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_one, jobs, chunksize=1))
    wall = time.perf_counter() - t0
    rows = []
    print(f"{'flawed scenario':<40} {'caught':>8} {'missed seeds':<30} {'mean s/run':>10}")
    for n in names:
        mine = [r for r in results if r[0] == n]
        caught = sum(1 for r in mine if r[2] == "invalid")
        missed = [r[1] for r in mine if r[2] != "invalid"]
        mean = sum(r[3] for r in mine) / len(mine)
        rows.append({"scenario": n, "caught": caught, "seeds": len(mine), "missed": missed, "mean_s": mean})
        print(f"{n:<40} {caught:>3}/{len(mine):<4} {','.join(map(str, missed)):<30} {mean:>10.2f}")
    print(f"\n{len(jobs)} runs in {wall:.0f} s with {args.jobs} workers; load {os.getloadavg()[0]:.2f}")
    out = write_json(args.out, {"machine": platform.platform(), "seeds": [seeds[0], seeds[-1]],
                                "wall_s": wall, "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
