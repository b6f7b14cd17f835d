"""Benchmark the consumer-side log checker (``--model kafka``) on generated histories.

A correct log history of about ``--ops`` send and poll operations (analysis/log_generate.py:
producers, a consumer group with crashes, rebalances and failed commits, an auditor with
final polls) is written as native JSON lines and as Jepsen EDN, then read and checked
from the text, as ``splitbrain check`` would.  A second run checks the same history with
one polled record in fifty dropped, so the invalid path (findings, context, explanations)
is timed too.  Prints a table; writes JSON to ``--out`` (default
splitbrain-bench/log_consumer.json in the temp folder, never the repository).

Run: .venv/bin/python bench/log_consumer.py [--ops 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from analysis.formats.jsonl import dumps_event  # noqa: E402
from analysis.history import Event  # noqa: E402
from analysis.log_consumer import check  # noqa: E402
from analysis.log_generate import log_history  # noqa: E402
from analysis.log_history import gc_paused, parse_log_text  # noqa: E402
from bench.output import default_out, write_json  # noqa: E402


def generate(target: int, seed: int) -> list[Event]:
    """A correct history with at least ``target`` send and poll operations."""
    n = int(target * 1.25)
    while True:
        events = log_history(n, seed=seed, keys=8, producers=4, consumers=4, groups=2)
        ops = sum(1 for ev in events if ev.type == "invoke" and ev.f in ("send", "poll"))
        if ops >= target:
            return events
        n = int(n * target / max(ops, 1)) + 100


def drop_records(events: list[Event], every: int) -> list[Event]:
    """Drop every ``every``-th polled record (an ok poll's), to make anomalies."""
    out, n = [], 0
    for ev in events:
        if ev.type == "ok" and ev.f == "poll" and ev.value:
            res = ev.value if isinstance(ev.value, dict) else ev.value[0][1]
            kept: dict[str, list[Any]] = {}
            for k, recs in res.items():
                keep = []
                for rec in recs:
                    n += 1
                    if n % every:
                        keep.append(rec)
                kept[k] = keep
            ev = replace(ev, value=kept if isinstance(ev.value, dict) else [["poll", kept]])
        out.append(ev)
    return out


def to_jsonl(events: list[Event]) -> str:
    return "".join(dumps_event(ev) + "\n" for ev in events)


def _edn(v: Any, tag: bool = False) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        if tag:
            return ":" + v
        return str(int(v)) if v.isdigit() else json.dumps(v)
    if isinstance(v, list):
        mop = bool(v) and v[0] in ("send", "poll") and isinstance(v[0], str)
        return "[" + " ".join(_edn(x, tag=mop and i == 0) for i, x in enumerate(v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_edn(k, tag=not k.isdigit())} {_edn(x)}" for k, x in v.items()) + "}"
    return str(v)


def to_edn(events: list[Event]) -> str:
    """Jepsen's history.edn shape: one map per line, keywords for :type, :f and micro-ops."""
    lines = []
    for i, ev in enumerate(events):
        value = ev.value
        if ev.f == "send" and isinstance(value, list) and value and not isinstance(value[0], list):
            value = [["send", *value]]
        if ev.f == "poll" and not isinstance(value, list):
            value = [["poll", value]] if isinstance(value, dict) else [["poll"]]
        extra = "".join(
            f", :{'rebalance-log' if k == 'rebalance_log' else 'seek-to-beginning?' if k == 'seek_to_beginning' else k} "
            + (_edn(x) if k != "error" else ":" + str(x).replace(" ", "-"))
            for k, x in ev.extra
        )
        lines.append(f"{{:index {i}, :time {ev.time}, :type :{ev.type}, :process {ev.process}, "
                     f":f :{ev.f}, :value {_edn(value)}{extra}}}")
    return "\n".join(lines) + "\n"


def timed(text: str, fmt: str, repeat: int) -> dict[str, Any]:
    best_read = best_check = float("inf")
    result: dict[str, Any] = {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        with gc_paused():
            lh = parse_log_text(text, fmt, "bench")
        t1 = time.perf_counter()
        result = check(lh)
        t2 = time.perf_counter()
        best_read, best_check = min(best_read, t1 - t0), min(best_check, t2 - t1)
    tracemalloc.start()
    check(parse_log_text(text, fmt, "bench"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    st = result["stats"]
    ops = st["send_ops"]["ok"] + st["send_ops"]["info"] + st["send_ops"]["fail"] + sum(st["poll_ops"].values())
    return {
        "format": fmt,
        "bytes": len(text.encode()),
        "send_poll_ops": ops,
        "records_polled": st["records_polled"],
        "verdict": result["verdict"],
        "anomalies": result["violation_count"],
        "read_s": best_read,
        "check_s": best_check,
        "total_s": best_read + best_check,
        "ops_per_s": ops / (best_read + best_check),
        "peak_mib": peak / 2**20,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=100_000, help="send + poll operations (default 100000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings (default 3)")
    ap.add_argument("--out", default=default_out("log_consumer"))
    args = ap.parse_args()
    t = time.perf_counter()
    events = generate(args.ops, args.seed)
    gen_s = time.perf_counter() - t
    rows = []
    for label, evs in (("correct", events), ("1/50 records dropped", drop_records(events, 50))):
        for fmt, text in (("jsonl", to_jsonl(evs)), ("edn", to_edn(evs))):
            row = timed(text, fmt, args.repeat)
            row["history"] = label
            rows.append(row)
    print(f"generated {len(events)} events in {gen_s:.1f}s; best of {args.repeat}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'history':<22} {'format':<6} {'MB':>6} {'ops':>7} {'records':>8} {'verdict':>8} "
          f"{'anomalies':>9} {'read s':>7} {'check s':>7} {'total s':>7} {'ops/s':>7} {'peak MiB':>8}")
    for r in rows:
        print(f"{r['history']:<22} {r['format']:<6} {r['bytes'] / 1e6:>6.1f} {r['send_poll_ops']:>7} "
              f"{r['records_polled']:>8} {r['verdict']:>8} {r['anomalies']:>9} {r['read_s']:>7.2f} "
              f"{r['check_s']:>7.2f} {r['total_s']:>7.2f} {r['ops_per_s']:>7.0f} {r['peak_mib']:>8.0f}")
    out = write_json(args.out, {"machine": platform.platform(), "python": platform.python_version(),
                                "load_average": os.getloadavg(), "events": len(events),
                                "generate_s": gen_s, "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
