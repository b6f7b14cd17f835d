"""Benchmark the real runtime: throughput, latency, failover time and memory per node.

    python bench/runtime.py                 # 3 and 5 nodes, prints a table
    python bench/runtime.py --flawed 10     # also violation rates of flawed scenarios

Writes ``bench/results/runtime.json``.  Numbers are wall-clock on whatever machine runs it
(two cores in CI): they say what the playground's real runtime costs, not what Raft can do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cluster.runtime.launch import RayLauncher  # noqa: E402
from scenarios.runner import RunOutcome, run_scenario  # noqa: E402
from scenarios.spec import Scenario, load  # noqa: E402


def run_scenario_ray(sc: Scenario) -> RunOutcome:
    return run_scenario(sc, RayLauncher())

CONFIG = {"election_timeout_ms": [300, 600], "heartbeat_ms": 50}


def _scenario(nodes: int, duration_ms: int, faults: tuple[dict[str, Any], ...] = ()) -> Scenario:
    return Scenario(
        name=f"bench-{nodes}", summary="runtime bench", nodes=nodes, clients=10,
        duration_ms=duration_ms, time_limit_s=120.0, seed=1, config=dict(CONFIG),
        client={"timeout_ms": 1000}, faults=faults,
        workload={"keys": 10, "read_ratio": 0.5, "cas_ratio": 0.0, "think_ms": [0, 0]},
        checkers=("linearizability",),
    )


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def throughput(nodes: int, duration_ms: int) -> dict[str, Any]:
    out = run_scenario_ray(_scenario(nodes, duration_ms))
    open_: dict[int | str, Any] = {}
    lat: dict[str, list[float]] = {"put": [], "get": []}
    for e in out.events:
        if e.type == "invoke":
            open_[e.process] = e
        elif e.type == "ok" and e.process in open_:
            lat.setdefault(e.f, []).append((e.time - open_.pop(e.process).time) / 1e6)
    secs = out.stats["simulated_ms"] / 1000
    row: dict[str, Any] = {"nodes": nodes, "verdict": out.verdict, "seconds": secs}
    for f, xs in lat.items():
        row[f"{f}_per_s"] = round(len(xs) / secs, 1)
        row[f"{f}_p50_ms"] = round(_pct(xs, 0.5), 2)
        row[f"{f}_p99_ms"] = round(_pct(xs, 0.99), 2)
    row["rss_mb_per_node"] = round(statistics.mean(out.stats["rss_mb"].values()), 1)
    row["startup_s"] = out.stats.get("startup_s")
    return row


def failover(nodes: int) -> dict[str, Any]:
    sc = _scenario(nodes, 6000, ({"at": 2000, "duration": 3000, "fault": {"fault": "crash", "node": "leader"}},))
    out = run_scenario_ray(sc)
    crash = next(r for r in out.trace if r.get("kind") == "crash")
    victim, t0 = crash["node"], crash["t"]
    leader = next((r for r in out.trace if r.get("kind") == "role" and r.get("role") == "leader"
                   and r["t"] > t0 and r["node"] != victim), None)
    first = next((r for r in out.trace if r.get("kind") == "client-complete" and r.get("type") == "ok"
                  and r.get("f") == "put" and r["t"] > t0 and r.get("node") not in (None, victim)), None)
    return {
        "nodes": nodes,
        "verdict": out.verdict,
        "new_leader_ms": None if leader is None else leader["t"] - t0,
        "first_write_ms": None if first is None else first["t"] - t0,
    }


def flawed(name: str, runs: int) -> dict[str, Any]:
    sc = load(name)
    verdicts = []
    for i in range(runs):
        out = run_scenario_ray(sc.with_overrides(seed=sc.seed + i))
        verdicts.append(out.verdict)
    return {"scenario": name, "runs": runs, "invalid": verdicts.count("invalid"),
            "rate": round(verdicts.count("invalid") / runs, 2), "verdicts": verdicts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5000, help="throughput run length (ms)")
    ap.add_argument("--flawed", type=int, default=0, metavar="N", help="runs per flawed scenario")
    ap.add_argument("--scenarios", nargs="*", default=["raft-split-brain-reads", "raft-ack-before-commit"])
    args = ap.parse_args()

    import ray

    tmp = tempfile.mkdtemp(prefix="sb-bench-")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, _temp_dir=os.path.join(tmp, "ray"), configure_logging=False,
             runtime_env={"env_vars": {"GRPC_VERBOSITY": "ERROR"}})
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "throughput": [], "failover": [], "flawed": []}
    try:
        for n in (3, 5):
            t = time.time()
            results["throughput"].append(throughput(n, args.duration))
            results["failover"].append(failover(n))
            print(f"{n} nodes measured in {time.time() - t:.0f} s", file=sys.stderr)
        for name in args.scenarios if args.flawed else []:
            results["flawed"].append(flawed(name, args.flawed))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'nodes':>5} {'put/s':>7} {'put p50':>8} {'put p99':>8} {'get/s':>7} {'get p50':>8} "
          f"{'get p99':>8} {'RSS MB':>7} {'leader ms':>9} {'write ms':>9}")
    for tp, fo in zip(results["throughput"], results["failover"], strict=True):
        print(f"{tp['nodes']:>5} {tp.get('put_per_s', 0):>7} {tp.get('put_p50_ms', 0):>8} "
              f"{tp.get('put_p99_ms', 0):>8} {tp.get('get_per_s', 0):>7} {tp.get('get_p50_ms', 0):>8} "
              f"{tp.get('get_p99_ms', 0):>8} {tp['rss_mb_per_node']:>7} {fo['new_leader_ms']!s:>9} "
              f"{fo['first_write_ms']!s:>9}")
    for fl in results["flawed"]:
        print(f"{fl['scenario']}: {fl['invalid']}/{fl['runs']} runs invalid")
    out = ROOT / "bench" / "results" / "runtime.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
