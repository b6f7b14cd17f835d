"""Benchmark the linearizability checker on every conformance history, plus two generated ones.

Prints a table (file, operations, verdict, seconds, states) with totals per family and
writes JSON to bench/results/checker.json.  Run: .venv/bin/python bench/checker.py
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.formats import read_history  # noqa: E402
from analysis.generate import register_history  # noqa: E402
from analysis.history import History  # noqa: E402
from analysis.linearizability import check  # noqa: E402
from analysis.models import get_model  # noqa: E402
from tests.conformance import CONFORMANCE, format_for, manifest_rows, model_for  # noqa: E402


def family(path: str) -> str:
    if path.startswith("porcupine/jepsen"):
        return "porcupine-etcd"
    if path.startswith("porcupine/kv"):
        return "porcupine-kv"
    return "knossos"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "checker.json"))
    ap.add_argument("--quiet", action="store_true", help="only the totals")
    args = ap.parse_args()
    rows = manifest_rows()
    if not rows:
        print(f"conformance data not found at {CONFORMANCE}", file=sys.stderr)
        return 3
    results = []
    mismatches = 0
    for row in rows:
        name, opts = model_for(row)
        h = read_history(CONFORMANCE / row["path"], format_for(row))
        t = time.perf_counter()
        v = check(h, get_model(name, **opts), timeout_s=300)
        dt = time.perf_counter() - t
        expected = "valid" if row["expected_verdict"] == "linearizable" else "invalid"
        ok = v.verdict == expected
        mismatches += not ok
        results.append({"file": row["path"], "family": family(row["path"]), "ops": len(h.operations),
                        "verdict": v.verdict, "expected": expected, "seconds": dt, "states": v.states,
                        "porcupine_s": float(row["porcupine_time_s"] or 0)})
        if not args.quiet:
            print(f"{row['path']:<58} {len(h.operations):>6} {v.verdict:>8}{'' if ok else ' MISMATCH'} "
                  f"{dt:>9.4f}s {v.states:>9}")
    print()
    print(f"{'family':<16} {'histories':>9} {'ops':>8} {'seconds':>9} {'porcupine s':>11} {'ratio':>6} {'slowest s':>9}")
    fams = {}
    for fam in ("porcupine-etcd", "porcupine-kv", "knossos"):
        rs = [r for r in results if r["family"] == fam]
        tot = sum(r["seconds"] for r in rs)
        pt = sum(r["porcupine_s"] for r in rs)
        slow = max(r["seconds"] for r in rs)
        fams[fam] = {"histories": len(rs), "ops": sum(r["ops"] for r in rs), "seconds": tot,
                     "porcupine_seconds": pt, "slowest_seconds": slow}
        print(f"{fam:<16} {len(rs):>9} {fams[fam]['ops']:>8} {tot:>9.3f} {pt:>11.3f} {tot / pt if pt else 0:>6.1f} {slow:>9.3f}")
    generated = []
    for label, kw in [("100k ops / 1000 keys", dict(n_ops=100_000, keys=1000, concurrency=10)),
                      ("2000 ops / 1 key / c10 / 30 info writes", dict(n_ops=2000, keys=1, concurrency=10, info_writes=30))]:
        h = History.from_events(register_history(**kw))
        t = time.perf_counter()
        v = check(h, get_model("kv-register"), timeout_s=300)
        dt = time.perf_counter() - t
        tracemalloc.start()
        check(h, get_model("kv-register"), timeout_s=300)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        generated.append({"name": label, "ops": len(h.operations), "verdict": v.verdict, "seconds": dt,
                          "states": v.states, "peak_mib": peak / 2**20})
    print()
    print(f"{'generated':<42} {'ops':>7} {'verdict':>8} {'seconds':>9} {'states':>9} {'peak MiB':>9}")
    for g in generated:
        print(f"{g['name']:<42} {g['ops']:>7} {g['verdict']:>8} {g['seconds']:>9.3f} {g['states']:>9} {g['peak_mib']:>9.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "families": fams, "generated": generated, "histories": results,
                               "mismatches": mismatches}, indent=2))
    print(f"\nwrote {out}; mismatches: {mismatches}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
