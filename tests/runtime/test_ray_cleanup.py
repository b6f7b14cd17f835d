"""Nothing outlives a run: processes, listening ports, temp dirs (success and Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, os, sys
from cluster.runtime.launch import RayLauncher, RayOptions
from scenarios.spec import Scenario
import scenarios.runner as runner

out_path, duration = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3 and sys.argv[3] == "checker-error":
    def boom(*args, **kwargs):
        raise RuntimeError("checker exploded")

    runner.check_run = boom

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
    out, todo = [], [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c); todo.append(c)
    return out

def ready(info):
    from cluster.runtime.brokers.process import tagged_pids

    eng = info.engine
    ports = [int(a.rsplit(":", 1)[1]) for a in eng.addresses().values()]
    ports += list(eng.metrics_ports().values()) + [info.client_metrics_port]
    pids = descendants(os.getpid())
    broker = info.broker
    if broker is not None and broker.node is not None:
        ports += [p for p in getattr(broker.node, "ports", (broker.node.port,))]
        pids += tagged_pids(broker.node.tag)  # RabbitMQ's epmd and beam (daemonized)
    with open(out_path, "w") as f:
        json.dump({"pids": sorted(set(pids)), "ports": ports, "tmp": info.tmp}, f)

if len(sys.argv) > 3 and sys.argv[3] == "saga":
    from scenarios.spec import load

    sc = load("outbox-relay-crash-correct").with_overrides(duration_ms=duration)
else:
    sc = Scenario(name="cleanup", summary="cleanup", nodes=3, clients=2, duration_ms=duration,
                  config={"election_timeout_ms": [300, 600], "heartbeat_ms": 50},
                  checkers=("linearizability",))
out = runner.run_scenario(sc, RayLauncher(RayOptions(on_ready=ready)))
print("VERDICT", out.verdict)
'''


def _listening(ports: list[int]) -> set[int]:
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A":  # LISTEN
                port = int(parts[1].rsplit(":", 1)[1], 16)
                if port in ports:
                    found.add(port)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _run(tmp_path: Path, duration: int, interrupt: bool, mode: str = "normal") -> None:
    info_path = tmp_path / "info.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(info_path), str(duration), mode],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not info_path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert info_path.exists(), proc.communicate(timeout=30)[0].decode()[-3000:]
        time.sleep(0.5)
        info = json.loads(info_path.read_text())
        assert len(info["pids"]) >= 5  # gcs, raylet, 3 nodes, client host, ...
        assert _listening(info["ports"])
        if interrupt:
            proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=90)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    if mode == "checker-error":
        assert proc.returncode != 0 and "checker exploded" in output, output[-3000:]
    elif not interrupt:
        assert proc.returncode == 0, output[-3000:]
        assert "VERDICT" in output
    else:
        assert proc.returncode != 0
    time.sleep(1.0)
    left = [p for p in info["pids"] if _alive(p)]
    assert not left, f"processes left behind: {left}"
    assert not _listening(info["ports"]), "ports still listening"
    assert not Path(info["tmp"]).exists(), "temp dir left behind"


@pytest.mark.ray
def test_clean_after_success(tmp_path: Path) -> None:
    _run(tmp_path, 1500, interrupt=False)


@pytest.mark.ray
def test_clean_after_a_checker_error(tmp_path: Path) -> None:
    _run(tmp_path, 1500, interrupt=False, mode="checker-error")


@pytest.mark.ray
def test_clean_after_ctrl_c(tmp_path: Path) -> None:
    _run(tmp_path, 60_000, interrupt=True)


@pytest.mark.ray
@pytest.mark.broker
def test_clean_after_ctrl_c_of_a_saga_run_with_a_private_rabbitmq(tmp_path: Path) -> None:
    """The broker the run started (beam, epmd) and its ports go too, with the nodes."""
    _run(tmp_path, 60_000, interrupt=True, mode="saga")


def test_unreachable_address_fails_fast_with_one_line() -> None:
    from cluster.runtime.errors import EngineSetupError
    from cluster.runtime.launch import connect

    t = time.monotonic()
    with pytest.raises(EngineSetupError) as err:
        connect("127.0.0.1:1")
    assert time.monotonic() - t < 30
    assert "\n" not in str(err.value) and "127.0.0.1:1" in str(err.value)
