"""Benchmark `splitbrain check`: reading, checking and the whole process, per family,
before and after, against Porcupine's recorded times.

Families:

* ``porcupine-etcd``, ``porcupine-kv``, ``knossos`` -- every conformance history
  (``shared/conformance/MANIFEST.tsv``), with Porcupine's recorded check time for each
  (``porcupine_time_s``: Go, in-process, no process start).
* ``heavy-kv-log-100k``, ``heavy-kv-log-200k`` -- generated Porcupine key-value logs
  (one EDN map per line, the ``kv`` model, 1,000 keys, 10 clients): the format Porcupine
  reads, so the one its timings are for.  Porcupine's times "in all" from the issues are
  the anchors: 2.2 s for 100k operations (issue 17) and 1.8 s for 200k (issue 20).
  There is no Go toolchain here: the ratio is to those recorded numbers, not to a run.
* ``heavy-jsonl-200k`` -- splitbrain's native JSON lines, kv-register, 1,000 keys.
* ``heavy-one-key-20k`` -- one key, 20,000 operations, kv-register: a long key, where
  the WGL search alone is slow and the distinct-value witness is not.

For each source tree (``--tree``, and ``--baseline`` for "before", e.g. ``/work/main``)
it measures, one tree right after the other on the same files:

* parse s / check s -- ``read_history`` and ``check`` in one Python process per tree
  (wall seconds, summed over the family), and their CPU seconds (``p+c cpu``);
* whole s -- ``python -m splitbrain check FILE`` once per file (wall seconds, summed;
  it includes ~0.13 s of interpreter start and imports per file, which Porcupine's
  in-process numbers do not), and the CPU seconds of those processes;
* /porc -- each against Porcupine's seconds for the family.

Prints a table per family and writes JSON to ``--out`` (default:
splitbrain-bench/checker.json in the system temp folder, never the repository).  The load average
(``os.getloadavg``) is recorded before and after each tree: on a shared machine, wall
times move with it.

Run: .venv/bin/python bench/checker.py --baseline /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.output import default_out, write_json  # noqa: E402
from tests.conformance import CONFORMANCE, format_for, manifest_rows, model_for  # noqa: E402

ANCHORS = {"heavy-kv-log-100k": 2.2, "heavy-kv-log-200k": 1.8}  # Porcupine, seconds in all (issues 17, 20)

# Runs inside the measured tree: only APIs both old and new trees have.
WORKER = r"""
import json, sys, time
from analysis.formats import read_history
from analysis.linearizability import check
from analysis.models import get_model
for line in sys.stdin:
    job = json.loads(line)
    t0, c0 = time.perf_counter(), time.process_time()
    h = read_history(job["file"], job["format"])
    t1, c1 = time.perf_counter(), time.process_time()
    v = check(h, get_model(job["model"], **job["options"]), timeout_s=job["timeout"])
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"file": job["file"], "parse_s": t1 - t0, "check_s": t2 - t1, "parse_cpu_s": c1 - c0,
                      "check_cpu_s": c2 - c1, "verdict": v.verdict, "ops": len(h.operations)}), flush=True)
"""


def family_of(path: str) -> str:
    if path.startswith("porcupine/jepsen"):
        return "porcupine-etcd"
    if path.startswith("porcupine/kv"):
        return "porcupine-kv"
    return "knossos"


def conformance_jobs() -> list[dict[str, Any]]:
    jobs = []
    for row in manifest_rows():
        name, opts = model_for(row)
        jobs.append({
            "family": family_of(row["path"]),
            "file": str(CONFORMANCE / row["path"]),
            "format": format_for(row),
            "model": name,
            "options": opts,
            "expected": "valid" if row["expected_verdict"] == "linearizable" else "invalid",
            "porcupine_s": float(row["porcupine_time_s"] or 0),
        })
    return jobs


def heavy_jobs(workdir: Path) -> list[dict[str, Any]]:
    from analysis.formats.jsonl import write_jsonl
    from analysis.generate import register_history

    jobs = []
    for fam, n in (("heavy-kv-log-100k", 100_000), ("heavy-kv-log-200k", 200_000)):
        path = workdir / f"{fam}.txt"
        if not path.exists():
            path.write_text(kv_log(n, keys=1000, concurrency=10, seed=n))
        jobs.append({"family": fam, "file": str(path), "format": "porcupine-kv", "model": "kv",
                     "options": {}, "expected": "valid", "porcupine_s": ANCHORS[fam]})
    for fam, kw in [
        ("heavy-jsonl-200k", dict(n_ops=200_000, keys=1000, concurrency=10, seed=2)),
        ("heavy-one-key-20k", dict(n_ops=20_000, keys=1, concurrency=10, seed=3)),
    ]:
        path = workdir / f"{fam}.jsonl"
        if not path.exists():
            write_jsonl(register_history(**kw), path)  # type: ignore[arg-type]
        jobs.append({"family": fam, "file": str(path), "format": "jsonl", "model": "kv-register",
                     "options": {}, "expected": "valid", "porcupine_s": 0.0})
    return jobs


def kv_log(n_ops: int, *, keys: int, concurrency: int, seed: int) -> str:
    """A linearizable Porcupine key-value log: each op takes effect at one instant inside
    its window.  Puts and appends write unique short strings, so values stay small."""
    import random

    rng = random.Random(seed)
    t_free = [0.0] * concurrency
    ops = []
    for i in range(n_ops):
        p = rng.randrange(concurrency)
        start = t_free[p] + rng.random()
        effect = start + rng.random()
        end = effect + rng.random()
        t_free[p] = end + 0.001
        f = rng.choice(["get", "get", "put", "append"])
        ops.append((effect, i, start, end, p, f, f"k{rng.randrange(keys)}"))
    state: dict[str, str] = {}
    out: dict[int, str] = {}
    for _effect, i, _s, _e, _p, f, key in sorted(ops):
        if f == "get":
            out[i] = state.get(key, "")
        elif f == "put":
            state[key] = f"v{i}"
        else:
            state[key] = state.get(key, "") + f".{i}"
    events = sorted([(s, 0, i) for _x, i, s, _e, _p, _f, _k in ops] + [(e, 1, i) for _x, i, _s, e, _p, _f, _k in ops])
    by_id = {op[1]: op for op in ops}
    lines = []
    for _t, kind, i in events:
        _x, _i, _s, _e, p, f, key = by_id[i]
        if f == "get":
            v = out[i] if kind else None
        else:
            v = f"v{i}" if f == "put" else f".{i}"
        value = "nil" if v is None else json.dumps(v)
        lines.append(f'{{:process {p}, :type {":ok" if kind else ":invoke"}, :f :{f}, :key "{key}", :value {value}}}')
    return "\n".join(lines) + "\n"


def measure_tree(tree: Path, jobs: list[dict[str, Any]], whole: bool, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    load_before = os.getloadavg()
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", WORKER],
        input="".join(json.dumps({**j, "timeout": timeout}) + "\n" for j in jobs),
        capture_output=True, text=True, cwd=tree, env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker failed in {tree}:\n{proc.stderr[-2000:]}")
    inproc = {r["file"]: r for r in map(json.loads, proc.stdout.splitlines())}
    results = []
    for j in jobs:
        r = {**j, **inproc[j["file"]]}
        if whole:
            argv = [sys.executable, "-m", "splitbrain", "check", j["file"], "--model", j["model"],
                    "--format", j["format"], "--timeout", str(timeout)]
            if j["options"]:
                argv += ["--init", json.dumps(j["options"]["init"])]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            cp = subprocess.run(argv, capture_output=True, text=True, cwd=tree, env=env)
            r["whole_s"] = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            r["whole_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            r["whole_exit"] = cp.returncode
        results.append(r)
    return {"tree": str(tree), "started": started, "load_before": load_before, "load_after": os.getloadavg(),
            "results": results}


def summarise(run: dict[str, Any]) -> dict[str, dict[str, float]]:
    fams: dict[str, dict[str, float]] = {}
    for r in run["results"]:
        f = fams.setdefault(r["family"], {"files": 0, "ops": 0, "parse_s": 0.0, "check_s": 0.0, "parse_cpu_s": 0.0,
                                          "check_cpu_s": 0.0, "whole_s": 0.0, "whole_cpu_s": 0.0,
                                          "porcupine_s": 0.0, "mismatches": 0})
        f["files"] += 1
        f["ops"] += r["ops"]
        for k in ("parse_s", "check_s", "parse_cpu_s", "check_cpu_s"):
            f[k] += r[k]
        f["whole_s"] += r.get("whole_s", 0.0)
        f["whole_cpu_s"] += r.get("whole_cpu_s", 0.0)
        f["porcupine_s"] += r["porcupine_s"]
        f["mismatches"] += r["verdict"] != r["expected"]
    return fams


def _ratio(x: float, p: float) -> str:
    return f"{x / p:.1f}x" if p > 0 else "-"


def print_table(label: str, fams: dict[str, dict[str, float]], whole: bool) -> None:
    """Wall seconds move with the machine's load; CPU seconds much less, so both are shown."""
    print(f"\n{label}")
    print(f"{'family':<18} {'files':>5} {'ops':>7} | {'parse s':>7} {'check s':>7} {'p+c cpu':>7} {'/porc':>6} | "
          f"{'whole s':>7} {'cpu s':>6} {'/porc':>6} {'cpu/porc':>8} | {'porcupine s':>11} {'wrong':>5}")
    for name, f in fams.items():
        pc_cpu = f["parse_cpu_s"] + f["check_cpu_s"]
        p = f["porcupine_s"]
        if whole:
            w = f"{f['whole_s']:>7.2f} {f['whole_cpu_s']:>6.2f} {_ratio(f['whole_s'], p):>6} {_ratio(f['whole_cpu_s'], p):>8}"
        else:
            w = f"{'-':>7} {'-':>6} {'-':>6} {'-':>8}"
        print(f"{name:<18} {int(f['files']):>5} {int(f['ops']):>7} | {f['parse_s']:>7.2f} {f['check_s']:>7.2f} "
              f"{pc_cpu:>7.2f} {_ratio(pc_cpu, p):>6} | {w} | {p:>11.3f} {int(f['mismatches']):>5}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default=str(ROOT), help="the source tree to measure ('after'; default: this one)")
    ap.add_argument("--baseline", help="a source tree measured first, as 'before' (e.g. /work/main)")
    ap.add_argument("--out", default=default_out("checker"),
                    help="where to write the JSON results (default: the temp folder)")
    ap.add_argument("--workdir", help="folder for the generated histories (default: a temp folder)")
    ap.add_argument("--only", choices=("conformance", "heavy"), help="measure one set of families")
    ap.add_argument("--no-whole", action="store_true", help="skip the one-process-per-file measurement")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-history check budget, seconds")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="splitbrain-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    jobs: list[dict[str, Any]] = []
    if args.only != "heavy":
        if not manifest_rows():
            print(f"conformance data not found at {CONFORMANCE}", file=sys.stderr)
            return 3
        jobs += conformance_jobs()
    if args.only != "conformance":
        jobs += heavy_jobs(workdir)
    trees = [("before", Path(args.baseline))] if args.baseline else []
    trees.append(("after", Path(args.tree)))
    runs = {}
    for label, tree in trees:
        runs[label] = measure_tree(tree, jobs, not args.no_whole, args.timeout)
        fams = summarise(runs[label])
        runs[label]["families"] = fams
        lb, la = runs[label]["load_before"], runs[label]["load_after"]
        print_table(f"{label}: {tree}  (load average {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f} -> "
                    f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f})", fams, not args.no_whole)
    if "before" in runs:
        print("\nafter / before")
        keys = ("parse_s", "check_s", "parse_cpu_s", "check_cpu_s", "whole_s", "whole_cpu_s")
        print(f"{'family':<18} " + " ".join(f"{k[:-2]:>11}" for k in keys))
        for name, a in runs["after"]["families"].items():
            b = runs["before"]["families"][name]
            print(f"{name:<18} " + " ".join(f"{_ratio(a[k], b[k]):>11}" for k in keys))
    out = write_json(args.out, {"machine": platform.platform(), "python": platform.python_version(),
                                "cpus": os.cpu_count(), "anchors": ANCHORS, "runs": runs})
    wrong = sum(int(f["mismatches"]) for f in runs["after"]["families"].values())
    print(f"\nwrote {out}; wrong verdicts (after): {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
