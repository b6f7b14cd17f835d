"""What a campaign of many seeds found: rates with honest intervals, grouped failures.

A campaign's per-seed records (``runs.jsonl`` in its folder; one dict per seed with
``seed``, ``verdict``, ``signature``, ``sim_ms``, ``wall_s``, ``node``...) are folded here into
its summary.  Pure functions over plain records, so a summary can be recomputed from a
folder at any time, and the terminal, ``--json`` and the HTML page all show the same numbers.

**Why a Wilson interval.**  "Caught at 3 of 3 seeds" and "caught at 997 of 1000" are both
high rates, but only one is evidence.  The 95% Wilson score interval says how sure the
count lets us be, and unlike the textbook ``p +- 1.96 sqrt(p(1-p)/n)`` it stays inside
[0, 1] and does not collapse to a zero-width interval at 0 or n: 0 false alarms in 500
runs gives [0, 0.76%], an upper bound a user can quote.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from analysis.verdicts import overall

__all__ = ["SLOWEST", "Z95", "summarize", "wilson"]

Z95 = 1.959963984540054
SLOWEST = 5


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials ((0, 1) for n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"count": k, "runs": n, "rate": (k / n) if n else None, "ci95": [round(lo, 6), round(hi, 6)],
            "method": "wilson"}


def summarize(runs: Sequence[dict[str, Any]], *, expect: str, planned: int, interrupted: bool = False,
              wall_s: float | None = None, workers: int | None = None) -> dict[str, Any]:
    """The summary of a campaign's finished runs.

    ``expect`` is what the design should give (``valid`` for a correct design, whose
    ``invalid`` runs are false alarms; ``invalid`` for a flawed one, whose ``invalid``
    runs are detections and ``valid`` runs misses).  Runs that ended ``unknown`` (a
    checker out of budget, or a run that raised -- ``error`` says so) count as not
    detected and are listed on their own.
    """
    done = len(runs)
    counts = {v: 0 for v in ("valid", "invalid", "unknown")}
    for r in runs:
        counts[str(r["verdict"])] = counts.get(str(r["verdict"]), 0) + 1
    invalid = [r for r in runs if r["verdict"] == "invalid"]
    summary: dict[str, Any] = {
        "verdict": overall([{"verdict": r["verdict"]} for r in runs]) if runs else "unknown",
        "expect": expect,
        "planned": planned,
        "done": done,
        "interrupted": interrupted,
        "verdicts": counts,
        "detection": _rate(len(invalid), done),
        "false_alarms": len(invalid) if expect == "valid" else 0,
        "false_alarm_seeds": [r["seed"] for r in invalid][:100] if expect == "valid" else [],
        "misses": counts["valid"] if expect == "invalid" else 0,
        "missed_seeds": sorted(r["seed"] for r in runs if r["verdict"] == "valid")[:100] if expect == "invalid" else [],
        "unknown_seeds": sorted(r["seed"] for r in runs if r["verdict"] == "unknown")[:100],
        "errors": [{"seed": r["seed"], "error": r["error"]} for r in runs if r.get("error")][:20],
        "signatures": signature_groups(runs),
        "slowest": slowest(runs),
        "nodes": _by_node(runs),
    }
    cpu = sum(float(r.get("cpu_s") or 0.0) for r in runs)
    sim_ms = sum(int(r.get("sim_ms") or 0) for r in runs)
    timing: dict[str, Any] = {"cpu_s": round(cpu, 3), "simulated_s": round(sim_ms / 1000, 3),
                              "run_wall_s": round(sum(float(r.get("wall_s") or 0.0) for r in runs), 3)}
    if wall_s is not None:
        timing["wall_s"] = round(wall_s, 3)
        timing["runs_per_min"] = round(done / wall_s * 60, 2) if wall_s > 0 else None
    if workers is not None:
        timing["workers"] = workers
    summary["timing"] = timing
    return summary


def signature_groups(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing runs grouped by signature, most frequent first, each with its count, its
    smallest seed as the example, and that seed's results folder when one was saved."""
    groups: dict[str, dict[str, Any]] = {}
    members: dict[str, list[tuple[int, str | None]]] = {}
    for r in runs:
        sig = r.get("signature")
        if not sig:
            continue
        text = str(sig["text"])
        if text not in groups:
            groups[text] = {**sig, "verdict": r["verdict"]}
            members[text] = []
        members[text].append((int(r["seed"]), r.get("dir")))
    out = []
    for text, g in groups.items():
        seeds = sorted(members[text])
        saved = [(s, d) for s, d in seeds if d]
        example_seed, example_dir = (saved or seeds)[0]
        out.append({**g, "count": len(seeds), "example_seed": example_seed, "example_dir": example_dir,
                    "seeds": [s for s, _ in seeds][:50]})
    return sorted(out, key=lambda g: (-g["count"], g["text"]))


def slowest(runs: Iterable[dict[str, Any]], n: int = SLOWEST) -> list[dict[str, Any]]:
    top = sorted(runs, key=lambda r: -float(r.get("wall_s") or 0.0))[:n]
    return [{"seed": r["seed"], "wall_s": r.get("wall_s"), "sim_ms": r.get("sim_ms"), "verdict": r["verdict"],
             "node": r.get("node")} for r in top]


def _by_node(runs: Iterable[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs:
        node = str(r.get("node") or "unknown")
        out[node] = out.get(node, 0) + 1
    return dict(sorted(out.items()))
