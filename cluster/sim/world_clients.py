"""Client slots in the simulator: Jepsen processes, operations, and the history.

Each slot runs one operation at a time: think, draw an operation from the workload,
invoke it on a fresh or current client core, tick the client while it is busy, and record
the completion in ``history``.  An indeterminate (``info``) completion retires the process
and continues the slot as a new one with a new client id, as Jepsen does.
"""

from __future__ import annotations

from typing import Any

from analysis.history import Event
from cluster.sim.world_base import _CTICK, _NS_PER_MS, _OP, _Slot
from cluster.sim.world_links import LinkMixin


class ClientMixin(LinkMixin):
    """Client slots: new clients, operations, completions, and the history they write."""

    def _think_delay(self, slot: _Slot) -> int:
        lo, hi = self._think
        return lo if lo == hi else slot.think_rng.randint(lo, hi)

    def _new_client(self, slot: _Slot) -> None:
        slot.client_id = f"c{slot.process}"
        if slot.client_id in self._nodes:
            raise ValueError(f"client id {slot.client_id!r} clashes with a node id; rename the node")
        slot.client = self._make_client(slot.client_id, self._stream(f"client:{slot.process}"))
        self._client_by_id[slot.client_id] = slot

    def _start_op(self, slot: _Slot) -> None:
        op = self._workload.next_op(slot.process, self._workload_rng)
        if op is None:
            slot.done = True
            return
        f, key, value = op
        slot.f, slot.key, slot.value = f, key, value
        now = self._now
        self.history.append(
            Event(slot.process, "invoke", f, value, key, now * _NS_PER_MS, len(self.history))
        )
        self.trace.append(
            {
                "t": now,
                "kind": "client-invoke",
                "process": slot.process,
                "client": slot.client_id,
                "f": f,
                "key": key,
                "value": value,
            }
        )
        client = slot.client
        assert client is not None
        client.invoke(f, key, value, now)
        self._drain_client(slot)
        if client.busy:
            self._push(now + self.tick_ms, _CTICK, slot, slot.gen)

    def _drain_client(self, slot: _Slot) -> None:
        client = slot.client
        assert client is not None
        r = client.ready()
        if r.messages:
            for m in r.messages:
                self._send(m)
        done = client.take_completion()
        if done is not None:
            self._complete(slot, done)

    def _complete(self, slot: _Slot, done: Any) -> None:
        status = str(done.status)
        value = done.value if status == "ok" else slot.value
        now = self._now
        self.history.append(
            Event(slot.process, status, slot.f, value, slot.key, now * _NS_PER_MS, len(self.history))
        )
        self._emit(
            "client-complete",
            {
                "process": slot.process,
                "client": slot.client_id,
                "f": slot.f,
                "key": slot.key,
                "type": status,
                "value": value,
                "attempts": getattr(done, "attempts", None),
                "node": getattr(done, "node", None),
            },
        )
        slot.gen += 1  # stops this operation's client ticks
        if status == "info":
            # Jepsen: a process whose operation is indeterminate is considered crashed and
            # never invokes again; the slot continues as a fresh process with a fresh client
            # id, so server-side (client_id, seq) dedup never confuses the two.
            del self._client_by_id[slot.client_id]
            slot.process += self._clients_n
            self._new_client(slot)
        self._push(now + self._think_delay(slot), _OP, slot, slot.gen)

    def clients(self) -> list[dict[str, Any]]:
        """Per client slot: current process id, client id, busy, done."""
        return [
            {
                "slot": s.index,
                "process": s.process,
                "client": s.client_id,
                "busy": bool(s.client is not None and s.client.busy),
                "done": s.done,
            }
            for s in self._slots
        ]
