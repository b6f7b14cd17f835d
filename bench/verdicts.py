"""Real-engine verdicts under load: the load table of issue 11.

Every real-engine lesson in the catalog (a correct twin whose ``engines`` include
``ray``, and its flawed twin) is run on the real engine, as a user runs it
(``splitbrain run NAME --engine ray --seed S --json``, one process per run), while
``--load N`` busy-loop processes keep the machine's CPUs busy.  A correct twin must be
``valid`` at every seed (an ``invalid`` is a false alarm); a flawed twin must still be
caught.  The table says, per scenario: seeds, valid / invalid / unknown / error counts,
the load, the 1-minute load average seen at the end of each run, how the event-triggered
crashes landed (at their failpoint freeze, or late while the node ran on) and how many
node trace records never reached the driver's stream (what the node-local trace files
saved).

Run: .venv/bin/python bench/verdicts.py --load 4 [--seeds 1..5] [--flawed-seeds 1..3]
     [--only NAME ...] [--store DIR] [--out FILE]
The JSON (written after every run, so an interrupted table keeps what finished) goes to
--out, by default $TMPDIR/splitbrain-verdicts.json; results folders go to --store (by
default a new temp folder, printed at the start).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.loadgen import BusyLoad, loadavg  # noqa: E402
from bench.output import default_out, write_json  # noqa: E402


def parse_seeds(text: str) -> list[int]:
    first, _, last = text.partition("..")
    return list(range(int(first), int(last or first) + 1))


def real_engine_pairs(only: list[str] | None = None) -> list[tuple[str, str]]:
    """(scenario, expected verdict) for every real-engine lesson: each correct twin whose
    engines include ``ray``, then its flawed twin(s)."""
    from scenarios.spec import catalog

    cat = catalog()
    correct = [n for n, sc in cat.items() if "ray" in sc.engines and sc.expect == "valid" and not sc.flaws]
    flawed = {n: [f for f, sc in cat.items() if sc.twin == n] for n in correct}
    out: list[tuple[str, str]] = []
    for n in correct:
        if flawed[n] or n.endswith("-correct"):
            out.append((n, "valid"))
            out.extend((f, "invalid") for f in flawed[n])
    if only:
        out = [pair for name in dict.fromkeys(only) for pair in out if pair[0] == name]
    return out


def _terminate_with_parent() -> None:  # in the child, before exec: a killed bench stops its run cleanly
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_one(name: str, seed: int, store: Path) -> dict[str, Any]:
    """One CLI run; its verdict and what its results folder says about the evidence."""
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "splitbrain", "run", name, "--engine", "ray", "--seed", str(seed),
                           "--json", "--quiet", "--store", str(store)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "SPLITBRAIN_DEBUG": "1"}, preexec_fn=_terminate_with_parent)
    row: dict[str, Any] = {"scenario": name, "seed": seed, "rc": proc.returncode,
                           "wall_s": round(time.monotonic() - t, 1), "loadavg_1m": loadavg()[0]}
    try:
        got = json.loads(proc.stdout)
    except ValueError:
        row["verdict"] = "error"
        log = store / f"{name}-s{seed}.stderr"
        log.write_text(proc.stderr)
        row["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        row["stderr"] = str(log)
        return row
    row["verdict"] = got["verdict"]
    row["failing"] = [c["checker"] for c in got["checkers"] if c["verdict"] != "valid"]
    stats = got.get("stats", {})
    row["trace_sources"] = stats.get("trace_sources")
    row["engine_errors"] = len(stats.get("engine_errors") or [])
    row["dir"] = got.get("dir")
    if row["verdict"] != "valid":
        row["explanation"] = [line for c in got["checkers"] if c["verdict"] != "valid"
                              for line in c.get("explanation", [])[:2]][:4]
    if got.get("dir"):
        from scenarios.results import load_run

        trace = load_run(got["dir"]).trace
        landed = [r.get("landed") for r in trace if r.get("kind") == "crash"]
        row["crashes"] = {"failpoint": landed.count("failpoint"), "late": landed.count("running"),
                          "other": sum(1 for x in landed if x not in ("failpoint", "running"))}
    return row


def table(rows: list[dict[str, Any]], expect: dict[str, str], load: int) -> str:
    lines = [f"{'scenario':44} {'expect':7} {'seeds':>5} {'valid':>5} {'inval':>5} {'unkn':>4} {'err':>3} "
             f"{'load':>4} {'loadavg':>7} {'crash fp/late':>13} {'unstreamed':>10}",
             "-" * 120]
    for name in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == name]
        v = [r["verdict"] for r in mine]
        fp = sum(r.get("crashes", {}).get("failpoint", 0) for r in mine)
        late = sum(r.get("crashes", {}).get("late", 0) for r in mine)
        unstreamed = sum((r.get("trace_sources") or {}).get("unstreamed", 0) for r in mine)
        avg = sum(r["loadavg_1m"] for r in mine) / len(mine)
        lines.append(f"{name:44} {expect[name]:7} {len(mine):5} {v.count('valid'):5} {v.count('invalid'):5} "
                     f"{v.count('unknown'):4} {v.count('error'):3} {load:4} {avg:7.1f} {f'{fp}/{late}':>13} "
                     f"{unstreamed:10}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", type=int, default=4, metavar="N", help="busy-loop processes during the runs")
    ap.add_argument("--seeds", default="1..5", help="seeds for the correct twins (A..B)")
    ap.add_argument("--flawed-seeds", default="1..3", help="seeds for the flawed twins (A..B)")
    ap.add_argument("--only", nargs="*", help="only these scenarios, in this order")
    ap.add_argument("--store", help="results folders (default: a new temp folder)")
    ap.add_argument("--out", default=default_out("verdicts"))
    args = ap.parse_args()

    pairs = real_engine_pairs(args.only)
    expect = dict(pairs)
    store = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="splitbrain-verdicts-"))
    print(f"{len(pairs)} scenarios, load {args.load}, results folders in {store}, JSON to {args.out}",
          file=sys.stderr)
    doc: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                           "load": args.load, "rows": []}
    rows: list[dict[str, Any]] = doc["rows"]
    with BusyLoad(args.load):
        for name, want in pairs:
            seeds = parse_seeds(args.seeds if want == "valid" else args.flawed_seeds)
            for seed in seeds:
                row = run_one(name, seed, store)
                row["expect"] = want
                rows.append(row)
                write_json(args.out, doc)  # after every run: an interrupted table keeps its rows
                mark = "" if row["verdict"] == want else "   <-- " + (
                    "FALSE ALARM" if want == "valid" and row["verdict"] == "invalid" else "unexpected")
                print(f"{name} seed {seed}: {row['verdict']} ({row['wall_s']} s, load avg "
                      f"{row['loadavg_1m']}){mark}", file=sys.stderr, flush=True)
    print(table(rows, expect, args.load))
    false_alarms = sum(1 for r in rows if r["expect"] == "valid" and r["verdict"] == "invalid")
    missed = sum(1 for r in rows if r["expect"] == "invalid" and r["verdict"] != "invalid")
    print(f"\nfalse alarms: {false_alarms}; flawed runs not caught: {missed}; JSON: {args.out}")
    return 1 if false_alarms else 0


if __name__ == "__main__":
    raise SystemExit(main())
