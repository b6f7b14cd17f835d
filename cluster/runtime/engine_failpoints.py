"""The driver's side of failpoints (``control.proto``: ``Failpoint``), for :class:`RayEngine`.

A mixin, kept apart from the engine's fault vocabulary because it is a different job: it
arms "freeze the moment you emit X" inside every node process, and thaws a node that froze
when no fault came to kill it.  Why failpoints exist: docs/runtime.md ("Failpoints").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from protos import control_pb2

__all__ = ["FailpointMixin"]

_RPC_TIMEOUT_S = 2.0
_THAW_AFTER_S = 0.25


class FailpointMixin:
    """Needs the engine's ``_nodes``, ``_rpc``, ``_emit``, ``_handles`` and ``closed``."""

    if TYPE_CHECKING:
        _nodes: dict[str, Any]
        _handles: list[asyncio.TimerHandle]
        closed: bool

        def _rpc(self, n: Any, call: Callable[[Any], Awaitable[Any]]) -> None: ...

        def _emit(self, kind: str, data: dict[str, Any], *, hooks: bool = True) -> None: ...

    _failpoints: dict[str, control_pb2.Failpoint]

    def arm_failpoint(self, fp_id: str, kind: str, where: Mapping[str, Any], delay_ms: int) -> None:
        """Every node freezes itself the moment it emits a matching event (see
        :meth:`NodeHost.freeze`); the trigger that armed it crashes the node a few ms later,
        when the event reaches the driver.  Re-armed on every node incarnation."""
        fp = control_pb2.Failpoint(id=fp_id, kind=kind, where_json=json.dumps(dict(where)).encode(),
                                   delay_ms=delay_ms, armed=True)
        self._failpoints[fp_id] = fp
        def push(c: Any) -> Awaitable[Any]:
            return c.SetFailpoint(fp, timeout=_RPC_TIMEOUT_S)  # type: ignore[no-any-return]

        for n in self._nodes.values():
            if n.external is None:
                self._rpc(n, push)

    def disarm_failpoint(self, fp_id: str) -> None:
        fp = self._failpoints.pop(fp_id, None)
        if fp is None:
            return
        off = control_pb2.Failpoint(id=fp_id, armed=False)
        for n in self._nodes.values():
            if n.external is None:
                self._rpc(n, lambda c: c.SetFailpoint(off, timeout=_RPC_TIMEOUT_S))

    def disarm_all_failpoints(self) -> None:
        for fp_id in list(self._failpoints):
            self.disarm_failpoint(fp_id)

    def _watch_frozen(self, n: Any, incarnation: int, fp_id: str) -> None:
        """A node froze on a failpoint.  If no fault kills it in time (its trigger was
        busy or used up), thaw it: it was then only paused for a moment."""
        fp = self._failpoints.get(fp_id)
        delay = (fp.delay_ms if fp is not None else 0) / 1000.0 + _THAW_AFTER_S

        def check() -> None:
            if self.closed or n.incarnation != incarnation or n.state != "up":
                return
            self._emit("failpoint-thaw", {"node": n.id, "failpoint": fp_id}, hooks=False)
            self._rpc(n, lambda c: c.Thaw(control_pb2.ThawRequest(), timeout=_RPC_TIMEOUT_S))
            if fp_id in self._failpoints:  # it was one-shot on the node: arm it again
                fp2 = self._failpoints[fp_id]
                self._rpc(n, lambda c: c.SetFailpoint(fp2, timeout=_RPC_TIMEOUT_S))

        self._handles.append(asyncio.get_running_loop().call_later(delay, check))
