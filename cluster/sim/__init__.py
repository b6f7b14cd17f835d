"""The deterministic simulator: virtual time, a seeded network, seeded clocks, crashes.

Same seed, same history and trace, byte for byte.  See :mod:`cluster.sim.world`.
"""

from cluster.sim.network import LinkState, SimNetwork
from cluster.sim.trace import history_jsonl, to_jsonl, write_history, write_jsonl
from cluster.sim.workload import ScriptedWorkload, Workload
from cluster.sim.world import CRASHED, PAUSED, UP, SimClient, Simulation

__all__ = [
    "CRASHED",
    "PAUSED",
    "UP",
    "LinkState",
    "ScriptedWorkload",
    "SimClient",
    "SimNetwork",
    "Simulation",
    "Workload",
    "history_jsonl",
    "to_jsonl",
    "write_history",
    "write_jsonl",
]
