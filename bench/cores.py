"""How fast are the pure cores alone?  Record every input a scenario feeds its cores, then
replay those inputs against fresh cores and time only the cores.

The simulator's wall time mixes the cores with the event queue, the network model, trace
recording and history bookkeeping; this isolates the first, so a change to a core can be
measured without the simulator's noise (and without a change to the simulator moving the
number).  Replay is exact: a core is deterministic given its constructor arguments (the
durable image and the rng's state are captured) and its inputs, so the replayed cores
produce the same outputs, which the script checks by hashing every ``Ready`` of two
untimed replays (the hash is printed, so two versions of a core can be compared too).

Times are CPU seconds of this process (``time.process_time``), best of ``--repeat``, which
a busy machine disturbs less than wall time.  The last line says whether the compiled
cores ran (``cluster/native.py``); ``SPLITBRAIN_PURE=1`` measures pure Python, and the
hashes must be the same in both modes.  Prints a table; writes JSON only with --out.

Run: ``python bench/cores.py [--scenario NAME ...] [--repeat 5] [--duration-ms 30000]
[--out FILE]``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scenarios.runner as runner  # noqa: E402
from cluster import native  # noqa: E402
from cluster.core.types import Core, Message, Ready  # noqa: E402
from scenarios.spec import load  # noqa: E402

SATURATING = "raft-kv-saturating"
"""bench/sim.py's saturating case: raft-healthy-random, 10 clients thinking 0-20 ms, 30 s."""
DEFAULT_SCENARIOS = (SATURATING, "raft-healthy-random", "quorum-healthy-random",
                     "saga-healthy-queue", "pipeline-worker-crash-mid-batch-correct")

Input = tuple[str, Any]  # ("tick", (now_ms, wall_ms)) | ("step", message) | ("ready", None)


@dataclass
class Incarnation:
    """One core's life: how it was built and every call it received, in order."""

    node_id: str
    durable: Mapping[str, Any] | None
    rng_state: Any
    calls: list[Input] = field(default_factory=list)


class _Recorder:
    """Stands in for a core: forwards every call to it and writes the call down."""

    def __init__(self, core: Core, life: Incarnation) -> None:
        self._core = core
        self._life = life
        self.node_id = core.node_id

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self._life.calls.append(("tick", (now_ms, wall_ms)))
        self._core.tick(now_ms, wall_ms)

    def step(self, message: Message) -> None:
        self._life.calls.append(("step", message))
        self._core.step(message)

    def ready(self) -> Ready:
        self._life.calls.append(("ready", None))
        return self._core.ready()

    def __getattr__(self, name: str) -> Any:  # inspection (role, log, ...) goes to the core
        return getattr(self._core, name)


def record(name: str, duration_ms: int | None) -> tuple[Callable[..., Core], list[Incarnation]]:
    """Run scenario ``name`` once in the simulator; return its core factory and every
    incarnation's recorded inputs."""
    if name == SATURATING:
        base = load("raft-healthy-random")
        sc = base.with_overrides(clients=10, duration_ms=30_000,
                                 workload={**base.workload, "think_ms": [0, 20]})
    else:
        sc = load(name)
    if duration_ms is not None:
        sc = sc.with_overrides(duration_ms=duration_ms)
    lives: list[Incarnation] = []
    real_factory = runner.core_factory
    made: dict[str, Callable[..., Core]] = {}

    def recording_factory(*args: Any, **kwargs: Any) -> Callable[..., Core]:
        make = real_factory(*args, **kwargs)
        made["make"] = make

        def make_recorded(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Any:
            life = Incarnation(node_id, None if durable is None else dict(durable), rng.getstate())
            lives.append(life)
            return _Recorder(make(node_id, durable, rng), life)

        return make_recorded

    runner.core_factory = recording_factory  # type: ignore[assignment]
    try:
        runner.simulate(sc, trace_messages=False)
    finally:
        runner.core_factory = real_factory
    return made["make"], lives


def replay(make: Callable[..., Core], lives: list[Incarnation],
           digest: Any = None) -> tuple[float, dict[str, float]]:
    """Build each incarnation afresh and feed it its inputs.  Returns CPU seconds in total
    and per core class.  With ``digest`` (a hashlib object) every non-empty Ready is hashed
    into it, which a timed run does not do (the hashing would dominate)."""
    per_class: dict[str, float] = {}
    total = 0.0
    for life in lives:
        rng = random.Random()
        rng.setstate(life.rng_state)
        t = time.process_time()
        core = make(life.node_id, life.durable, rng)
        tick, step, ready = core.tick, core.step, core.ready
        for kind, arg in life.calls:
            if kind == "step":
                step(arg)
            elif kind == "tick":
                tick(*arg)
            else:
                r = ready()
                if digest is not None and not r.is_empty():
                    digest.update(repr(r).encode())
        spent = time.process_time() - t
        total += spent
        cls = type(core).__name__
        per_class[cls] = per_class.get(cls, 0.0) + spent
    return total, per_class


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", nargs="*", default=list(DEFAULT_SCENARIOS))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--duration-ms", type=int, default=None, help="override each scenario's duration")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'scenario':<42} {'inputs':>8} {'cpu s':>7} {'us/input':>9}  ready hash    per core class (cpu s)")
    for name in args.scenario:
        make, lives = record(name, args.duration_ms)
        inputs = sum(len(life.calls) for life in lives)
        # The recording keeps every input alive; freeze it so the collector's full passes do
        # not scan it on each replay (a real run frees its messages as it goes).
        gc.collect()
        gc.freeze()
        digests = [hashlib.sha256(), hashlib.sha256()]
        for d in digests:
            replay(make, lives, d)
        if digests[0].hexdigest() != digests[1].hexdigest():
            raise SystemExit(f"{name}: two replays disagree, so a core is not deterministic")
        runs = [replay(make, lives) for _ in range(args.repeat)]
        best, per_class = min(runs, key=lambda r: r[0])
        row = {"scenario": name, "inputs": inputs, "cpu_s": round(best, 4),
               "us_per_input": round(best / max(1, inputs) * 1e6, 3),
               "ready_sha256": digests[0].hexdigest(),
               "per_class_cpu_s": {k: round(v, 4) for k, v in sorted(per_class.items())}}
        rows.append(row)
        del make, lives
        gc.unfreeze()
        gc.collect()
        classes = ", ".join(f"{k} {v:.3f}" for k, v in row["per_class_cpu_s"].items())
        print(f"{name:<42} {inputs:>8} {best:>7.3f} {row['us_per_input']:>9.2f}  "
              f"{row['ready_sha256'][:12]}  {classes}", flush=True)
    load_avg = os.getloadavg() if hasattr(os, "getloadavg") else None
    mode = native.status()
    print(f"\nload average {load_avg}; best of {args.repeat}; CPU time of the cores alone; "
          f"{mode['mode']}{' (' + mode['reason'] + ')' if mode['reason'] else ''} cores (cluster/native.py)")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                   "load_average": load_avg, "repeat": args.repeat, "native": mode, "rows": rows},
                                  indent=2))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
