"""The simulator's link layer: sending through the seeded network, drops, link faults.

Every message a core or client emits goes through :meth:`LinkMixin._send`, which asks
:class:`~cluster.sim.network.SimNetwork` for a delivery plan (drop, or one or two arrival
times) and puts deliveries on the event heap.  The ``Engine`` link faults (``cut``,
``restore``, ``set_link``) live here too.  Routing an arrival to a node or a client is the
driver loop's job (:meth:`Simulation._deliver <cluster.sim.world.Simulation>`).
"""

from __future__ import annotations

import heapq

from cluster.core.types import Message
from cluster.sim.world_base import _DELIVER
from cluster.sim.world_recording import RecordingMixin


class LinkMixin(RecordingMixin):
    """Sends, drops and the ``Engine`` network methods."""

    def _send(self, msg: Message) -> None:
        mid = self._mid
        self._mid = mid + 1
        plan = self.network.plan(self._now, msg.src, msg.dst)
        tracing = self.trace_messages
        if tracing:
            self.trace.append(self._wire("send", msg, mid))
        if isinstance(plan, str):
            if tracing:
                rec = self._wire("drop", msg, mid)
                rec["reason"] = plan
                self.trace.append(rec)
            return
        seq = self._seq
        self._seq = seq + 2
        heapq.heappush(self._queue, (plan[0], seq, _DELIVER, msg, mid))
        if len(plan) > 1:
            if tracing:
                rec = self._wire("dup", msg, mid)
                rec["at"] = plan[1]
                self.trace.append(rec)
            heapq.heappush(self._queue, (plan[1], seq + 1, _DELIVER, msg, mid))

    def _drop(self, msg: Message, mid: int, reason: str) -> None:
        if self.trace_messages:
            rec = self._wire("drop", msg, mid)
            rec["reason"] = reason
            self.trace.append(rec)

    # --- Engine: network ------------------------------------------------------------------------

    def cut(self, src: str, dst: str) -> None:
        if not self.network.is_cut(src, dst):
            self.network.cut(src, dst)
            self._emit("link", {"op": "cut", "src": src, "dst": dst}, hooks=False)

    def restore(self, src: str, dst: str) -> None:
        if self.network.is_cut(src, dst):
            self.network.restore(src, dst)
            self._emit("link", {"op": "restore", "src": src, "dst": dst}, hooks=False)

    def set_link(
        self,
        src: str,
        dst: str,
        *,
        loss: float = 0.0,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
    ) -> None:
        settings = {
            "loss": loss,
            "delay_ms": delay_ms,
            "jitter_ms": jitter_ms,
            "duplicate": duplicate,
            "reorder": reorder,
        }
        self.network.set_link(src, dst, **settings)
        self._emit("link", {"op": "set", "src": src, "dst": dst, **settings}, hooks=False)
