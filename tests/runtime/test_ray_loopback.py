"""Nothing a run starts listens beyond loopback (issue 11, section 4).

A run in a child process samples ``ss -ltnp`` once its cluster is up and its clients
run, and keeps every listening socket owned by one of the run's processes: the child
itself (the Ray driver), its descendants (Ray's GCS, raylet, agents, the node and
client actors) and every process carrying the run's tag (``SPLITBRAIN_RUN``; a broker's
processes carry its ``SPLITBRAIN_BROKER_TAG``).  Each must be bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, os, re, subprocess, sys, time
from cluster.runtime.launch import RayLauncher, RayOptions
from cluster.runtime.leftovers import BROKER_TAG_ENV, RUN_TAG_ENV, OWNER_FILE, tagged
from scenarios.spec import Scenario, load
import scenarios.runner as runner

out_path, mode = sys.argv[1], sys.argv[2]

def descendants(root):
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(p))
    out, todo = {root}, [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.add(c); todo.append(c)
    return out

def ready(info):
    time.sleep(1.0)  # let every agent and worker bind what it binds
    owner = json.loads(open(os.path.join(info.tmp, OWNER_FILE)).read())
    pids = descendants(os.getpid()) | set(tagged(RUN_TAG_ENV, owner["tag"]))
    broker = info.broker
    if broker is not None and broker.node is not None:
        pids |= set(tagged(BROKER_TAG_ENV, broker.node.tag))
    listeners = []
    for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines():
        local = line.split()[3]
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            if pid in pids:
                cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")[:80] if os.path.exists(f"/proc/{pid}") else "?"
                listeners.append({"local": local, "pid": pid, "cmd": cmd})
    with open(out_path, "w") as f:
        json.dump({"listeners": listeners, "pids": sorted(pids)}, f)

if mode == "saga":
    sc = load("outbox-relay-crash-correct").with_overrides(duration_ms=3000)
else:
    sc = Scenario(name="loopback", summary="loopback", nodes=3, clients=2, duration_ms=3000,
                  config={"election_timeout_ms": [300, 600], "heartbeat_ms": 50}, checkers=("linearizability",))
out = runner.run_scenario(sc, RayLauncher(RayOptions(on_ready=ready, metrics_port=int(sys.argv[3]))))
print("VERDICT", out.verdict)
'''

LOOPBACK = ("127.0.0.1:", "[::ffff:127.0.0.1]:", "[::1]:")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sample(tmp_path: Path, mode: str) -> list[dict[str, object]]:
    out = tmp_path / "listeners.json"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out), mode, str(_free_port())], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=300)
    assert out.exists(), (proc.stdout + proc.stderr)[-3000:]
    assert "VERDICT" in proc.stdout, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert len(data["pids"]) >= 5
    return list(data["listeners"])


def _check(listeners: list[dict[str, object]]) -> None:
    assert len(listeners) >= 6, listeners  # GCS, raylet, the driver, 3 nodes (gRPC + metrics), the client host
    wide = [x for x in listeners if not str(x["local"]).startswith(LOOPBACK)]
    assert not wide, f"listeners beyond loopback: {wide}"


@pytest.mark.ray
def test_a_raft_run_listens_on_loopback_only(tmp_path: Path) -> None:
    _check(_sample(tmp_path, "raft"))


@pytest.mark.ray
@pytest.mark.broker
def test_a_saga_run_with_its_private_rabbitmq_listens_on_loopback_only(tmp_path: Path) -> None:
    _check(_sample(tmp_path, "saga"))
