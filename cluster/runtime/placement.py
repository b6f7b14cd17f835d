"""Where a real run's actors live: beside the driver, or spread over a cluster (``--spread``).

By default every node actor and the client actor are pinned to the driver's Ray node and
every server binds 127.0.0.1: nothing of a run is reachable from another machine, and
the driver signals node processes (crash = SIGKILL, pause = SIGSTOP) by pid.

With ``spread`` the nodes are dealt round-robin over the cluster's alive Ray nodes, the
driver's own first (``n1`` beside the driver, ``n2`` on the next node, ...), each pinned
with a hard node affinity so that a restarted node comes back on the machine that holds
its data directory.  Such a node must be reachable from its peers and clients on other
machines, so its gRPC and metrics servers bind the address of the Ray node it runs on
(:func:`cluster.runtime.node.ray_node_address`; never the wildcard address).  Things the
driver used to do to local processes and files go through a small *agent* actor on each
other Ray node: delivering a node's signals, reading a node's WAL for the final view,
removing its data directory at the end.

What stays beside the driver, and why:

* the client actor: it records the history, whose timestamps must come from the one
  clock every node's trace uses (the driver machine's, for the nodes beside it);
* a broker node.  A private broker (RabbitMQ or Tansu started by the run) is a process
  the driver starts, kills and pauses with signals, listening on 127.0.0.1 only with
  default credentials and no TLS; exposing it to the network would be unsafe, and the
  nodes that talk to it must then stay beside it too, so a run with a private broker is
  not spread at all (``note`` says so).  A modelled broker (an actor) is pinned beside
  the driver; with the user's own broker (``amqp_url`` / ``kafka_bootstrap``) the other
  nodes spread and reach it at the address the user gave.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Placement", "RayNode"]


@dataclass(frozen=True)
class RayNode:
    id: str
    ip: str
    resources: Mapping[str, float]


class _NodeAgent:
    """A Ray actor on one node of the cluster doing, there, what the driver cannot do from
    its own machine (one at a time, in the order asked: a SIGSTOP never overtakes the
    SIGKILL sent before it)."""

    def signal(self, pid: int, sig: int) -> None:
        if pid > 0 and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def load_image(self, path: str) -> dict[str, Any]:
        from cluster.runtime.disk import load_image

        return dict(load_image(path))

    def remove(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)


def _ray_nodes() -> list[RayNode]:
    import ray

    return [RayNode(str(n["NodeID"]), str(n.get("NodeManagerAddress", "")), dict(n.get("Resources", {})))
            for n in ray.nodes() if n.get("Alive")]


class Placement:
    """The Ray node of every cluster node of one run, and the agents on the other Ray nodes."""

    def __init__(self, driver: RayNode, assignment: Mapping[str, RayNode], *, spread: bool,
                 note: str | None = None) -> None:
        self.driver = driver
        self.assignment = dict(assignment)
        self.spread = spread
        self.note = note
        self._agents: dict[str, Any] = {}

    @classmethod
    def plan(cls, nodes: Iterable[str], *, spread: bool, beside_driver: Iterable[str] = (),
             needs: Mapping[str, Mapping[str, float]] | None = None, not_spread_because: str | None = None
             ) -> Placement:
        """Place ``nodes``: all beside the driver, or (``spread``) round-robin over the
        alive Ray nodes, the driver's first.  ``beside_driver`` nodes stay with the driver;
        a node with resource ``needs`` (a GPU share) goes only where they fit."""
        import ray

        alive = _ray_nodes()
        me = ray.get_runtime_context().get_node_id()
        driver = next((n for n in alive if n.id == me), RayNode(me, "127.0.0.1", {}))
        nodes = list(nodes)
        if not spread or not_spread_because:
            return cls(driver, dict.fromkeys(nodes, driver), spread=False, note=not_spread_because if spread else None)
        order = [driver, *sorted((n for n in alive if n.id != me), key=lambda n: (n.ip, n.id))]
        keep = set(beside_driver)
        needs = needs or {}
        out: dict[str, RayNode] = {}
        turn = 0
        for nid in nodes:
            if nid in keep:
                out[nid] = driver
                continue
            want = needs.get(nid) or {}
            fits = [n for n in order if all(n.resources.get(k, 0.0) >= v for k, v in want.items())] or [driver]
            out[nid] = fits[turn % len(fits)]
            turn += 1
        return cls(driver, out, spread=True)

    def strategy(self, node: str | None = None) -> Any:
        """A hard affinity to ``node``'s Ray node (the driver's for None: the client actor)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        where = self.driver if node is None else self.assignment[node]
        return NodeAffinitySchedulingStrategy(where.id, soft=False)

    def is_local(self, node: str) -> bool:
        return self.assignment.get(node, self.driver).id == self.driver.id

    def describe(self) -> dict[str, str]:
        """``{node: the address of the Ray node it runs on}`` (for the run's stats)."""
        return {nid: n.ip for nid, n in sorted(self.assignment.items())}

    def ray_nodes_used(self) -> list[str]:
        return sorted({n.ip for n in self.assignment.values()})

    def _agent(self, node: str) -> Any:
        import ray

        where = self.assignment[node]
        agent = self._agents.get(where.id)
        if agent is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            agent = ray.remote(num_cpus=0, max_restarts=0)(_NodeAgent).options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(where.id, soft=False)).remote()
            self._agents[where.id] = agent
        return agent

    def start_agents(self) -> None:
        """Start the agent of every other Ray node in use now, so a crash fault later is
        one message away, not an actor start away."""
        for nid in self.assignment:
            if not self.is_local(nid):
                self._agent(nid)

    def signal(self, node: str, pid: int, sig: int) -> None:
        """Send ``sig`` to ``pid`` on ``node``'s machine (see ``RayEngine``'s ``signaller``)."""
        if self.is_local(node):
            if pid > 0 and pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            return
        self._agent(node).signal.remote(pid, int(sig))

    def load_image(self, node: str, path: str) -> Mapping[str, Any]:
        """A node's durable image, read where its disk is."""
        import ray

        if self.is_local(node):
            from cluster.runtime.disk import load_image

            return load_image(path)
        return dict(ray.get(self._agent(node).load_image.remote(path), timeout=30))

    def close(self, data_dirs: Mapping[str, str]) -> None:
        """Remove the data directories on the other Ray nodes and stop their agents."""
        import ray

        waits = []
        for nid, path in data_dirs.items():
            if nid in self.assignment and not self.is_local(nid):
                with contextlib.suppress(Exception):
                    waits.append(self._agent(nid).remove.remote(path))
        with contextlib.suppress(Exception):
            ray.wait(waits, num_returns=len(waits), timeout=10)
        for agent in self._agents.values():
            with contextlib.suppress(Exception):
                ray.kill(agent, no_restart=True)
        self._agents.clear()
