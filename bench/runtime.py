"""Benchmark the real runtime: throughput, latency, failover time and memory per node.

    python bench/runtime.py                          # 3 and 5 nodes, 10 clients, 5 s each
    python bench/runtime.py --nodes 3 --duration 10000 --clients 20
    python bench/runtime.py --flawed 10              # also violation rates of flawed scenarios
    python bench/runtime.py --read-ratio 0.5 0       # the mixed workload, then puts only

Each throughput run is a Raft KV under a closed-loop workload (every client invokes its
next operation as soon as the last one ends, over 10 keys; ``--read-ratio`` is the share of
gets, half by default, and each ratio given is a row), checked
for linearizability afterwards: the verdict is printed beside the numbers, so a faster
runtime that broke the protocol shows at once.  Latencies are invoke to completion of the
``ok`` operations, as the history records them.  Batching is read from the nodes' metrics:
inputs per drained batch and fsyncs per second at the leader.  Failover is the time from a
crash of the leader to a new leader, and to the first write acknowledged by another node.

Numbers are wall-clock on whatever machine runs it (two cores in CI): they say what the
playground's real runtime costs, not what Raft can do.  The load average before and after
is printed with them.  JSON goes to ``--out`` (default: ``splitbrain-bench/runtime.json``
in the temp directory; never into the repository).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.output import default_out, write_json  # noqa: E402
from cluster.runtime.launch import RayLauncher  # noqa: E402
from cluster.runtime.ray_local import start_local  # noqa: E402
from scenarios.runner import RunOutcome, run_scenario  # noqa: E402
from scenarios.spec import Scenario, load  # noqa: E402

CONFIG = {"election_timeout_ms": [300, 600], "heartbeat_ms": 50}
DEFAULT_OUT = default_out("runtime")


def run_scenario_ray(sc: Scenario) -> RunOutcome:
    return run_scenario(sc, RayLauncher())


def _scenario(nodes: int, clients: int, duration_ms: int, faults: tuple[dict[str, Any], ...] = (),
              read_ratio: float = 0.5) -> Scenario:
    return Scenario(
        name=f"bench-{nodes}", summary="runtime bench", nodes=nodes, clients=clients,
        duration_ms=duration_ms, time_limit_s=max(120.0, duration_ms / 1000 * 4), seed=1, config=dict(CONFIG),
        client={"timeout_ms": 1000}, faults=faults,
        workload={"keys": 10, "read_ratio": read_ratio, "cas_ratio": 0.0, "think_ms": [0, 0]},
        checkers=("linearizability",),
    )


def _pct(xs: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``xs``; None when there is none (JSON has no NaN)."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _series(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(name + "{"))


def _batching(out: RunOutcome, secs: float) -> dict[str, Any]:
    """Inputs per drained batch and fsyncs per second, at the node that led longest."""
    nodes = out.stats.get("nodes", {})
    leader = next((n for n, st in nodes.items() if st.get("role") == "leader"), None)
    metrics = out.stats.get("metrics", {})
    m = metrics.get(leader, {}) if leader else {}
    batches = _series(m, "splitbrain_input_batches")
    inputs = _series(m, "splitbrain_batched_inputs")
    fsyncs = _series(m, "splitbrain_fsyncs_total")  # a prometheus Counter exposes its _total series
    return {"leader": leader,
            "inputs_per_batch": round(inputs / batches, 2) if batches else None,
            "leader_fsyncs_per_s": round(fsyncs / secs, 1) if secs else None}


def throughput(nodes: int, clients: int, duration_ms: int, read_ratio: float = 0.5) -> dict[str, Any]:
    out = run_scenario_ray(_scenario(nodes, clients, duration_ms, read_ratio=read_ratio))
    open_: dict[int | str, Any] = {}
    lat: dict[str, list[float]] = {"put": [], "get": []}
    for e in out.events:
        if e.type == "invoke":
            open_[e.process] = e
        elif e.type == "ok" and e.process in open_:
            lat.setdefault(e.f, []).append((e.time - open_.pop(e.process).time) / 1e6)
    secs = out.stats["simulated_ms"] / 1000
    row: dict[str, Any] = {"nodes": nodes, "clients": clients, "read_ratio": read_ratio, "verdict": out.verdict,
                           "seconds": secs,
                           "operations": out.stats.get("operations"), "info": out.stats.get("info")}
    for f, xs in lat.items():
        row[f"{f}_per_s"] = round(len(xs) / secs, 1)
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            v = _pct(xs, q)
            row[f"{f}_{name}_ms"] = None if v is None else round(v, 2)
    row["rss_mb_per_node"] = round(statistics.mean(out.stats["rss_mb"].values()), 1)
    row["startup_s"] = out.stats.get("startup_s")
    row.update(_batching(out, secs))
    return row


def failover(nodes: int, clients: int) -> dict[str, Any]:
    sc = _scenario(nodes, clients, 6000,
                   ({"at": 2000, "duration": 3000, "fault": {"fault": "crash", "node": "leader"}},))
    out = run_scenario_ray(sc)
    crash = next((r for r in out.trace if r.get("kind") == "crash"), None)
    if crash is None:
        return {"nodes": nodes, "verdict": out.verdict, "new_leader_ms": None, "first_write_ms": None}
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


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def print_table(results: dict[str, Any]) -> None:
    failovers = {fo["nodes"]: fo for fo in results["failover"]}
    print(f"{'nodes':>5} {'clients':>7} {'reads':>5} {'put/s':>7} {'put p50':>8} {'put p99':>8} {'get/s':>7} {'get p50':>8} "
          f"{'get p99':>8} {'in/batch':>8} {'fsync/s':>7} {'RSS MB':>7} {'leader ms':>9} {'write ms':>9}  verdict")
    for tp in results["throughput"]:
        fo = failovers.get(tp["nodes"], {})
        print(f"{tp['nodes']:>5} {tp['clients']:>7} {tp.get('read_ratio', 0.5):>5} {tp.get('put_per_s', 0):>7} "
              f"{tp.get('put_p50_ms')!s:>8} {tp.get('put_p99_ms')!s:>8} {tp.get('get_per_s', 0):>7} {tp.get('get_p50_ms')!s:>8} "
              f"{tp.get('get_p99_ms')!s:>8} {tp.get('inputs_per_batch')!s:>8} {tp.get('leader_fsyncs_per_s')!s:>7} "
              f"{tp['rss_mb_per_node']:>7} {fo.get('new_leader_ms')!s:>9} {fo.get('first_write_ms')!s:>9}  "
              f"{tp['verdict']}" + (f" (failover run: {fo['verdict']})" if fo else ""))
    for fl in results["flawed"]:
        print(f"{fl['scenario']}: {fl['invalid']}/{fl['runs']} runs invalid")
    print(f"load average (1/5/15 min): before {results['load_before']}, after {results['load_after']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=_positive, nargs="+", default=[3, 5], help="cluster sizes to measure")
    ap.add_argument("--duration", type=_positive, default=5000, help="throughput run length (ms)")
    ap.add_argument("--clients", type=_positive, default=10, help="closed-loop clients")
    ap.add_argument("--read-ratio", type=_ratio, nargs="+", default=[0.5],
                    help="share of gets in the workload; one throughput row per ratio (default 0.5)")
    ap.add_argument("--no-failover", action="store_true", help="skip the failover runs")
    ap.add_argument("--flawed", type=int, default=0, metavar="N", help="runs per flawed scenario")
    ap.add_argument("--scenarios", nargs="*", default=["raft-split-brain-reads", "raft-ack-before-commit"])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = ap.parse_args()
    if args.flawed < 0:
        print(f"--flawed must be >= 0, got {args.flawed}", file=sys.stderr)
        return 3

    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # the driver's gRPC core logs GOAWAYs at INFO otherwise
    tmp = tempfile.mkdtemp(prefix="sb-bench-")
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "args": {"nodes": args.nodes, "duration_ms": args.duration, "clients": args.clients,
                 "read_ratio": args.read_ratio},
        "load_before": _load(), "throughput": [], "failover": [], "flawed": [],
    }
    try:
        with start_local(tmp, tag=f"bench-{os.getpid()}", num_cpus=2):  # loopback only, like a run's Ray
            _measure(args, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = _load()
    print_table(results)
    print(f"wrote {write_json(args.out, results, sort_keys=True)}")
    return 0


def _measure(args: argparse.Namespace, results: dict[str, Any]) -> None:
    for n in args.nodes:
        t = time.time()
        for ratio in args.read_ratio:
            results["throughput"].append(throughput(n, args.clients, args.duration, ratio))
        if not args.no_failover:
            results["failover"].append(failover(n, args.clients))
        print(f"{n} nodes measured in {time.time() - t:.0f} s, load {_load()}", file=sys.stderr)
    for name in args.scenarios if args.flawed else []:
        results["flawed"].append(flawed(name, args.flawed))


if __name__ == "__main__":
    sys.exit(main())
