"""A crashed node restarts on a *different* port, and the cluster follows it (marked ``ray``).

``RayEngine._restart`` rebinds a restarted node's gRPC server to its old port when it is
free; when it is not, the node binds a fresh port and the engine re-sends every peer's
address book (``SetPeers``) and the client host's (``set_addresses``).  This test forces
that path: the moment n1 is crashed, the test binds and listens on n1's old port, so the
new incarnation cannot have it.

The scenario is built so that afterwards *everything* must go through the new port:
n2's and n3's clocks run at 1/20 speed, so their election timers never fire during the
run and n1 is the only node that ever campaigns.  n1 leads from the start, is crashed at
1.2 s and restarted at 1.8 s; nobody leads until the restarted n1 is elected again.  Its
vote replies (and later its append acknowledgements) from n2 and n3 travel on streams they
dial to n1's address, and clients can only get ``ok`` from n1: stale addresses would leave
n1 without votes and the clients without answers.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from typing import Any

import pytest

from scenarios.spec import Scenario

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

CRASH_AT_MS = 1200
DOWN_MS = 600


def _scenario() -> Scenario:
    slow = {"offset_ms": 0, "rate": 0.05}  # 300-600 local ms = 6-12 real s: never fires
    return Scenario(
        name="runtime-restart-port", summary="restart on a new port", system="raft-kv",
        engines=("ray",), nodes=3, clients=3, duration_ms=9000, time_limit_s=60.0, seed=1,
        config={"election_timeout_ms": [300, 600], "heartbeat_ms": 50},
        client={"timeout_ms": 1000},
        workload={"keys": 2, "read_ratio": 0.3, "cas_ratio": 0.0, "think_ms": [5, 20]},
        checkers=("linearizability", "raft-safety"),
        faults=(
            {"at": 0, "fault": {"fault": "clock-skew", "node": "n2", **slow}},
            {"at": 0, "fault": {"fault": "clock-skew", "node": "n3", **slow}},
            {"at": CRASH_AT_MS, "duration": DOWN_MS, "fault": {"fault": "crash", "node": "n1"}},
        ),
    )


class PortThief:
    """On n1's crash, bind and listen on its old port (retrying while the dying process
    still holds it), so that the restarted n1 must bind another one."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.old_port = 0
        self.sock: socket.socket | None = None
        self.bound_at_ms: int | None = None
        self.tries = 0

    def on_ready(self, info: Any) -> None:
        self.engine = info.engine
        self.engine.add_event_hook(self._hook)

    def _hook(self, kind: str, rec: Mapping[str, Any]) -> None:
        if kind == "crash" and rec.get("node") == "n1" and not self.old_port:
            self.old_port = int(self.engine.addresses()["n1"].rsplit(":", 1)[1])
            self._grab()

    def _grab(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # SO_REUSEADDR (not SO_REUSEPORT): binds over TIME_WAIT leftovers of the killed
        # server, yet a listening socket without SO_REUSEPORT makes gRPC's bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", self.old_port))
            s.listen(16)
        except OSError:
            s.close()
            self.tries += 1
            if self.tries < 100:  # the SIGKILLed process may take a moment to release it
                self.engine.schedule(self.engine.now_ms() + 10, self._grab)
            return
        self.sock = s
        self.bound_at_ms = self.engine.now_ms()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()


def _of(trace: list[dict[str, Any]], kind: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in trace if r.get("kind") == kind and all(r.get(k) == v for k, v in where.items())]


def test_restart_on_a_new_port_peers_and_clients_follow() -> None:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    thief = PortThief()
    try:
        out = run_scenario(_scenario(), RayLauncher(RayOptions(on_ready=thief.on_ready)))
    finally:
        thief.close()
    trace = out.trace

    # The path under test was taken: the old port was held before n1 came back, and the
    # new incarnation serves on another one.
    restart = _of(trace, "restart", node="n1")
    assert len(restart) == 1, restart
    t_restart = restart[0]["t"]
    assert thief.old_port and thief.bound_at_ms is not None, "could not take n1's old port"
    assert thief.bound_at_ms <= t_restart
    new_port = int(thief.engine.addresses()["n1"].rsplit(":", 1)[1])
    assert new_port != thief.old_port
    assert not out.stats["engine_errors"], out.stats["engine_errors"]
    # The new incarnation is the warm spare spawned before the run (a crash scenario):
    # the restart did not wait for a process to boot.
    restarted = _of(trace, "restarted", node="n1")
    assert len(restarted) == 1 and restarted[0]["spare"] is True and restarted[0]["incarnation"] == 1, restarted

    # n2 and n3 never campaign, so every leader is n1; it was elected again after the
    # restart, in a later term: n2's and n3's votes reached it at its new address.
    leaders = _of(trace, "role", role="leader")
    assert leaders and {r["node"] for r in leaders} == {"n1"}, leaders
    before = [r for r in leaders if r["t"] < CRASH_AT_MS]
    after = [r for r in leaders if r["t"] > t_restart]
    assert before and after, leaders
    assert after[0]["term"] > before[-1]["term"]

    # It commits new entries after the restart: n2's or n3's append acknowledgements
    # reached it through the new port too.
    commits_before = [r["index"] for r in _of(trace, "commit", node="n1") if r["t"] < CRASH_AT_MS]
    commits_after = [r["index"] for r in _of(trace, "commit", node="n1") if r["t"] > after[0]["t"]]
    # (A loaded CI machine takes seconds to restart an actor: the margins are modest.)
    assert commits_after and max(commits_after) > max(commits_before, default=0) + 2, (commits_before[-3:],
                                                                                       commits_after)

    # Clients were told the new address: writes acknowledged by the restarted n1.
    acked = [r for r in _of(trace, "client-complete", type="ok", node="n1")
             if r["t"] > after[0]["t"] and r["f"] in ("put", "cas")]
    assert len(acked) >= 3, f"only {len(acked)} writes acknowledged by n1 after its restart"

    # ... and followers replicated the new term's entries.
    finals = {r["node"]: r["terms"] for r in _of(trace, "final-log")}
    assert after[0]["term"] in finals.get("n2", []) or after[0]["term"] in finals.get("n3", [])
    assert out.verdict == "valid", out.results
