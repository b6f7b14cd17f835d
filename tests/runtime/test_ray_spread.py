"""A real 2-raylet cluster (marked ``ray``): ``--spread``, and ``sweep`` / ``explore`` joining it.

Two ``ray start`` processes on this machine form the cluster: the head on 127.0.0.2 and
a worker on 127.0.0.3 (Linux routes all of 127.0.0.0/8 to the loopback interface, so two
raylets get distinct node addresses without leaving the machine; Ray rewrites 127.0.0.1
itself to the machine's network address, which is why neither uses it).  A spread run
must put node actors on both raylets, each node's gRPC server on its raylet's address,
deliver crash and pause faults to the node on the other raylet, read its WAL there, and
still give a correct verdict; the same cluster without ``--spread`` keeps every node
beside the driver on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios.spec import Scenario
from tests.cli.test_run_cli import cli

pytestmark = pytest.mark.ray

HEAD, WORKER = "127.0.0.2", "127.0.0.3"
ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_start(ip: str, head_port: int, tmp: str, env: dict[str, str], *, head: bool) -> subprocess.Popen[bytes]:
    """One raylet, in its own process group so that the fixture stops exactly it.  Every
    port a raylet would otherwise take by default is chosen free, so two raylets (and other
    Ray instances on the machine) never collide."""
    args = [RAY, "start", "--block", "--node-ip-address", ip, "--num-cpus", "2",
            "--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats",
            "--dashboard-agent-listen-port", str(_free_port()), "--dashboard-agent-grpc-port", str(_free_port()),
            "--runtime-env-agent-port", str(_free_port()), "--metrics-export-port", str(_free_port())]
    if head:
        args += ["--head", "--port", str(head_port), "--temp-dir", tmp, "--include-dashboard=false",
                 "--ray-client-server-port", str(_free_port())]
    else:
        args += ["--address", f"{HEAD}:{head_port}"]
    log = open(os.path.join(tmp, f"ray-start-{ip}.log"), "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # Ray drains for up to 30 s: nothing here needs it
        p.wait()


@pytest.fixture(scope="module")
def two_raylets() -> Iterator[str]:
    """The address of a 2-raylet cluster (head 127.0.0.2, worker 127.0.0.3)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    tmp = tempfile.mkdtemp(prefix="sb-spread-")
    port = _free_port()
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a throwaway loopback cluster: no token to share
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", GRPC_VERBOSITY="ERROR",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    procs = [_ray_start(HEAD, port, tmp, env, head=True)]
    address = f"{HEAD}:{port}"
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        procs.append(_ray_start(WORKER, port, tmp, env, head=False))
        deadline = time.monotonic() + 120
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.monotonic() < deadline, "the worker raylet never joined"
            time.sleep(0.5)
        ray.shutdown()  # each run joins the cluster itself, as `splitbrain run --ray-address` does
        yield address
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        _stop(procs)
        os.environ.pop("RAY_AUTH_MODE", None)
        shutil.rmtree(tmp, ignore_errors=True)


def _scenario() -> Scenario:
    return Scenario(
        name="spread-test", summary="spread test", system="raft-kv", engines=("ray",),
        nodes=3, clients=3, duration_ms=12000, time_limit_s=120.0, seed=1,
        config={"election_timeout_ms": [300, 600], "heartbeat_ms": 50}, client={"timeout_ms": 1000},
        workload={"keys": 2, "read_ratio": 0.5, "cas_ratio": 0.0}, checkers=("linearizability", "raft-safety"),
        faults=({"at": 1000, "duration": 800, "fault": {"fault": "pause", "node": "n2"}},
                {"at": 2500, "duration": 1000, "fault": {"fault": "crash", "node": "n2"}}),
    )


def _run_here(address: str, spread: bool) -> dict[str, Any]:
    """One run of :func:`_scenario` on the cluster, in this process: what the tests read."""
    from cluster.runtime.launch import RayLauncher, RayOptions, RayReady
    from scenarios.runner import run_scenario

    seen: dict[str, str] = {}

    def on_ready(ready: RayReady) -> None:
        seen.update(ready.engine.addresses())

    out = run_scenario(_scenario(), RayLauncher(RayOptions(address=address, spread=spread, on_ready=on_ready)))
    return {"verdict": out.verdict, "results": out.results, "trace": out.trace, "addresses": seen,
            "placement": out.stats.get("placement"), "nodes": out.stats.get("nodes")}


def _run(address: str, *, spread: bool, tmp: Path) -> dict[str, Any]:
    """The run in a fresh Python process, as ``splitbrain run --ray-address`` would be: a
    test process that held another Ray session before (other test modules) must not
    decide how this one connects."""
    result = tmp / "run.json"
    code = ("import json, sys; from pathlib import Path; from tests.runtime.test_ray_spread import _run_here; "
            "Path(sys.argv[3]).write_text(json.dumps(_run_here(sys.argv[1], sys.argv[2] == '1'), default=str))")
    proc = subprocess.run([sys.executable, "-c", code, address, "1" if spread else "0", str(result)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(result.read_text()))


def _of(trace: list[dict[str, Any]], kind: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in trace if r.get("kind") == kind and all(r.get(k) == v for k, v in where.items())]


def test_spread_places_nodes_on_both_raylets_and_keeps_a_correct_verdict(two_raylets: str, tmp_path: Path) -> None:
    out = _run(two_raylets, spread=True, tmp=tmp_path)
    addresses, placement = out["addresses"], out["placement"]
    assert set(placement.values()) == {HEAD, WORKER}, placement
    assert placement["n2"] == WORKER  # dealt round-robin, the driver's raylet first
    # each node's server listens on the address of the raylet its actor runs on
    assert {nid: a.rpartition(":")[0] for nid, a in addresses.items()} == placement
    # the pause and the crash reached n2's process on the other raylet, and it came back
    # there (a new worker process on a raylet takes seconds on a small machine: the run's
    # tail leaves it time)
    assert _of(out["trace"], "pause", node="n2") and _of(out["trace"], "resume", node="n2")
    crash = _of(out["trace"], "crash", node="n2")
    assert crash and _of(out["trace"], "restart", node="n2")
    finals = {r["node"]: r["terms"] for r in _of(out["trace"], "final-log")}
    assert finals.get("n2"), "n2 did not come back on its raylet"
    longest = max(finals.values(), key=len)
    assert finals["n2"] == longest[: len(finals["n2"])], "n2's log diverged"
    assert out["nodes"]["n2"]["pid"] != crash[0]["pid"]
    assert out["verdict"] == "valid", out["results"]


def test_without_spread_everything_stays_on_loopback_beside_the_driver(two_raylets: str, tmp_path: Path) -> None:
    out = _run(two_raylets, spread=False, tmp=tmp_path)
    assert out["placement"] is None
    assert {a.rpartition(":")[0] for a in out["addresses"].values()} == {"127.0.0.1"}
    assert out["verdict"] == "valid", out["results"]


def test_sweep_on_an_existing_cluster_uses_both_raylets(two_raylets: str, tmp_path: Path) -> None:
    proc = cli("sweep", "raft-leader-partition", "--seeds", "6", "--ray-address", two_raylets, "--json",
               "--store", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert [r["verdict"] for r in data["runs"]] == ["valid"] * 6
    # one task per CPU of the cluster (2 + 2): more than the head's raylet holds
    assert data["summary"]["timing"]["workers"] == 4
    assert {r["node"] for r in data["runs"]} == {HEAD, WORKER}


def test_explore_on_an_existing_cluster_runs_one_shard_per_cpu(two_raylets: str, tmp_path: Path) -> None:
    proc = cli("explore", "quorum-partial-r1w1", "--ray-address", two_raylets, "--budget", "60s", "--json",
               "--store", str(tmp_path))
    assert proc.returncode == 1, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert data["found"] and data["workers"] == 4
    assert Path(data["scenario_file"]).is_file()
