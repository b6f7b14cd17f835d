"""How fast is the simulator?  ``python -m cluster.sim.bench [--seconds 60] [--clients 10]``.

Prints simulated ms per wall ms for a 5-node Raft KV at 10 ms ticks with a register
workload.  Kept as a module (not a test) because wall-clock numbers must never decide
whether tests pass; they are for ``bench/`` and for noticing regressions by eye.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Mapping
from typing import Any

from cluster.sim.world import Simulation

__all__ = ["RegisterOps", "bench_raft", "main"]


class RegisterOps:
    """get/put over three keys with unique written values (half reads)."""

    def __init__(self) -> None:
        self._count = 0

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        key = f"k{rng.randrange(3)}"
        if rng.random() < 0.5:
            return ("get", key, None)
        self._count += 1
        return ("put", key, process * 1_000_000 + self._count)


def bench_raft(
    *,
    seconds: float = 60.0,
    clients: int = 10,
    think_ms: tuple[int, int] = (0, 20),
    trace_messages: bool = True,
    seed: int = 1,
) -> dict[str, Any]:
    """Run a healthy 5-node Raft KV; return simulated/wall speed and what happened."""
    from cluster.core.client import ClientConfig, ClientCore
    from cluster.core.raft import RaftConfig, RaftNode

    nodes = ("n1", "n2", "n3", "n4", "n5")
    config = RaftConfig()

    def make_core(nid: str, durable: Mapping[str, Any] | None, rng: random.Random) -> RaftNode:
        return RaftNode(nid, nodes, config, rng, durable=durable)

    def make_client(cid: str, rng: random.Random) -> ClientCore:
        return ClientCore(cid, nodes, ClientConfig(), rng)

    sim = Simulation(
        seed=seed,
        node_ids=nodes,
        make_core=make_core,
        make_client=make_client,
        workload=RegisterOps(),
        clients=clients,
        tick_ms=10,
        think_ms=think_ms,
        trace_messages=trace_messages,
    )
    duration = int(seconds * 1000)
    t0 = time.perf_counter()
    sim.run(duration)
    wall = time.perf_counter() - t0
    return {
        "simulated_ms": duration,
        "wall_ms": round(wall * 1000, 1),
        "speedup": round(duration / (wall * 1000), 1),
        "operations": sum(1 for e in sim.history if e.type == "invoke"),
        "trace_records": len(sim.trace),
        "clients": clients,
        "think_ms": list(think_ms),
        "trace_messages": trace_messages,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0, help="simulated seconds")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--think", type=int, nargs=2, default=(0, 20), metavar=("LO", "HI"))
    p.add_argument("--no-trace-messages", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    print(
        bench_raft(
            seconds=a.seconds,
            clients=a.clients,
            think_ms=(a.think[0], a.think[1]),
            trace_messages=not a.no_trace_messages,
            seed=a.seed,
        )
    )


if __name__ == "__main__":
    main()
