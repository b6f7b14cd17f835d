"""Benchmark the isolation checker on generated transactional histories.

Each case generates a history (analysis/isolation/generate.py), writes it as
splitbrain JSON lines, reads it back with the checker's reader, and checks it; each runs
in a fresh process so its peak memory is its own.  Both wall-clock and CPU seconds are
reported: on a shared machine the CPU time is the steadier number.  The headline is the issue's: a
100,000-transaction list-append history (Elle reports 100k-160k transactions/s on the
JVM).  Prints a table; writes JSON to --out (default: a file under the system temp
folder, never into the repository).

    .venv/bin/python bench/isolation.py                 # the three default cases
    .venv/bin/python bench/isolation.py --txns 20000 --out /tmp/iso.json
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from analysis.formats import write_jsonl  # noqa: E402
from analysis.isolation import check, read_txn_history  # noqa: E402
from analysis.isolation.generate import serial_history  # noqa: E402
from bench.output import default_out, write_json  # noqa: E402


def one_case(case: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    events = serial_history(
        case["txns"], model=case["model"], realtime=case["realtime"],
        concurrency=case["concurrency"], info_ratio=case["info_ratio"],
        fail_ratio=case["fail_ratio"], seed=case["seed"],
    )
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        write_jsonl(events, path)
        size = path.stat().st_size
        del events
        t1, c1 = time.perf_counter(), time.process_time()
        history = read_txn_history(path, case["model"])
        read_s, read_cpu = time.perf_counter() - t1, time.process_time() - c1
    t2, c2 = time.perf_counter(), time.process_time()
    r = check(history, consistency_model=case["consistency"], timeout_s=case["timeout"])
    check_s, check_cpu = time.perf_counter() - t2, time.process_time() - c2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    n = len(history)
    return {
        **case,
        "file_mb": size / 1e6,
        "generate_s": gen_s,
        "read_s": read_s,
        "check_s": check_s,
        "read_cpu_s": read_cpu,
        "check_cpu_s": check_cpu,
        "check_txn_per_s": n / check_s if check_s else 0.0,
        "check_txn_per_cpu_s": n / check_cpu if check_cpu else 0.0,
        "total_txn_per_s": n / (read_s + check_s) if read_s + check_s else 0.0,
        "verdict": r["verdict"],
        "anomalies": r["anomaly_counts"],
        "edges": r["graph"]["edges"],
        "largest_component": r["graph"]["largest_component"],
        "search_steps": r["graph"]["search_steps"],
        "peak_rss_mib": peak,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txns", type=int, default=100_000, help="transactions per case (default 100000)")
    ap.add_argument("--scc-txns", type=int, default=20_000,
                    help="transactions in the giant-component case (default 20000)")
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=600.0, help="checker budget per case, s")
    ap.add_argument("--out", default=default_out("isolation"))
    args = ap.parse_args()
    base = {"concurrency": args.concurrency, "timeout": args.timeout, "seed": 1,
            "info_ratio": 0.02, "fail_ratio": 0.02}
    cases = [
        {**base, "name": "list-append, strict serial", "model": "list-append", "txns": args.txns,
         "realtime": True, "consistency": "strict-serializable"},
        {**base, "name": "rw-register, strict serial", "model": "rw-register", "txns": args.txns,
         "realtime": True, "consistency": "strict-serializable"},
        {**base, "name": "list-append, serial not in real time", "model": "list-append",
         "txns": args.scc_txns, "realtime": False, "consistency": "strict-serializable"},
    ]
    results = []
    head = (f"{'case':<38} {'txns':>7} {'MB':>5} {'read s':>7} {'check s':>8} {'check cpu':>9} "
            f"{'check tx/s':>10} {'tx/cpu-s':>9} {'all tx/s':>9} {'edges':>8} {'verdict':>8} "
            f"{'peak MiB':>8}")
    print(head)
    ctx = get_context("fork")
    for case in cases:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            r = pool.submit(one_case, case).result()
        results.append(r)
        print(f"{r['name']:<38} {r['txns']:>7} {r['file_mb']:>5.1f} {r['read_s']:>7.2f} "
              f"{r['check_s']:>8.2f} {r['check_cpu_s']:>9.2f} {r['check_txn_per_s']:>10,.0f} "
              f"{r['check_txn_per_cpu_s']:>9,.0f} {r['total_txn_per_s']:>9,.0f} "
              f"{r['edges']:>8} {r['verdict']:>8} {r['peak_rss_mib']:>8.0f}")
        if r["anomalies"]:
            print(f"{'':<38} anomalies: {r['anomalies']}")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
          f"Python {platform.python_version()}.  Elle (JVM): 100k-160k tx/s.")
    out = write_json(args.out, {"machine": platform.platform(), "python": platform.python_version(),
                                "cpus": os.cpu_count(), "load_average": load, "cases": results}, sort_keys=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
