"""Server processes in the simulator: the per-core drain, ticks, crash/pause/restart, clocks.

``_drain`` is the order crash safety rests on (persist -> send -> reply -> record).  The
lifecycle faults (``crash``, ``restart``, ``pause``, ``resume``) and clock faults
(``set_clock``, ``jump_clock``) of the ``Engine`` interface act on a node's
:class:`~cluster.sim.world_base._Node` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cluster.core.types import Core, Message
from cluster.sim.world_base import _TICK, CRASHED, PAUSED, UP, _Node
from cluster.sim.world_links import LinkMixin


class NodeMixin(LinkMixin):
    """Driving cores: inputs, drains, ticks, and the ``Engine`` process and clock faults."""

    # --- the driver loop ------------------------------------------------------------------------

    def _drain(self, node: _Node, core: Core) -> None:
        """Persist, then send, then reply, then record: the order crash safety rests on."""
        r = core.ready()
        if r.persist:
            node.storage.write(r.persist, r.sync)
            if self.trace_messages:
                self.trace.append(
                    {"t": self._now, "kind": "store", "node": node.id, "ops": len(r.persist), "sync": r.sync}
                )
        if r.messages:
            send = self._send
            for m in r.messages:
                send(m)
        if r.replies:
            send = self._send
            for m in r.replies:
                send(m)
        if r.events:
            self._record_events(r.events)

    def _step(self, node: _Node, msg: Message, mid: int) -> None:
        core = node.core
        assert core is not None
        if self.trace_messages:
            self.trace.append(self._wire("deliver", msg, mid))
        core.step(msg)
        self._drain(node, core)

    def _tick(self, node: _Node) -> None:
        core = node.core
        assert core is not None
        core.tick(node.clock.read_ms(self._now))
        self._drain(node, core)

    def _schedule_tick(self, node: _Node) -> None:
        """Next tick of ``node`` at its phase on the tick grid, strictly after now."""
        tick = self.tick_ms
        at = self._now + (node.phase - self._now) % tick
        if at <= self._now:
            at += tick
        self._push(at, _TICK, node, node.gen)

    def _start_node(self, node: _Node, durable: Mapping[str, Any] | None) -> None:
        name = f"node:{node.id}" if node.incarnation == 0 else f"node:{node.id}:{node.incarnation}"
        core = self._make_core(node.id, durable, self._stream(name))
        node.core = core
        node.state = UP
        node.gen += 1
        self._drain(node, core)
        if node.core is core and node.state is UP:
            self._schedule_tick(node)

    # --- Engine: clocks -------------------------------------------------------------------------

    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        n = self._node(node)
        n.clock.set(self._now, offset_ms, rate)
        self._emit_clock(n)

    def jump_clock(self, node: str, delta_ms: float) -> None:
        n = self._node(node)
        n.clock.jump(delta_ms)
        self._emit_clock(n, delta_ms=delta_ms)

    def _emit_clock(self, n: _Node, **extra: Any) -> None:
        self._emit(
            "clock",
            {"node": n.id, **n.clock.describe(), "local_ms": n.clock.read_ms(self._now), **extra},
        )

    # --- Engine: processes ----------------------------------------------------------------------

    def crash(self, node: str) -> None:
        """Drop the core and its inbox; unsynced writes are lost (all, or all but a seeded
        prefix with ``lose_unsynced="prefix"``).  Messages arriving while down are dropped."""
        n = self._node(node)
        if n.state is CRASHED:
            return
        n.core = None
        n.state = CRASHED
        n.gen += 1
        dropped = len(n.inbox)
        n.inbox.clear()
        lost = n.storage.crash(self._crash_rng if self.lose_unsynced == "prefix" else None)
        self._emit("crash", {"node": node, "lost_writes": lost, "dropped_queued": dropped})

    def restart(self, node: str) -> None:
        """Rebuild the core from durable storage with a fresh rng stream; ticks resume."""
        n = self._node(node)
        if n.state is not CRASHED:
            return
        n.incarnation += 1
        self._emit("restart", {"node": node, "incarnation": n.incarnation})
        self._start_node(n, n.storage.load())

    def pause(self, node: str) -> None:
        """Freeze: no ticks, no processing; arrivals queue until :meth:`resume`."""
        n = self._node(node)
        if n.state is not UP:
            return
        n.state = PAUSED
        n.gen += 1
        self._emit("pause", {"node": node})

    def resume(self, node: str) -> None:
        """Process what queued up, in arrival order, then tick again on the node's grid."""
        n = self._node(node)
        if n.state is not PAUSED:
            return
        n.state = UP
        n.gen += 1
        self._emit("resume", {"node": node, "queued": len(n.inbox)})
        gen = n.gen
        while n.inbox and n.state is UP and n.gen == gen:
            msg, mid = n.inbox.popleft()
            self._step(n, msg, mid)
        if n.state is UP and n.gen == gen:
            self._schedule_tick(n)
