"""Reading the nodes' Prometheus endpoints from the driver: at the end of a run, every few
seconds during it, and as one aggregated endpoint for the whole cluster.

Every node process (and the client host) serves its own metrics
(:mod:`cluster.runtime.metrics`).  A crash takes a process's counters with it, so the
driver scrapes every live node every :data:`SCRAPE_EVERY_S` seconds and keeps, for each
incarnation, its last scrape; the results then show a crashed incarnation's last numbers
next to the live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["NODE_UP", "SCRAPE_EVERY_S", "node_up_series", "rss_mb", "scrape_all", "scrape_periodically",
           "serve_aggregate"]

SCRAPE_EVERY_S = 2.0


Target = int | str
"""A metrics endpoint: a port on 127.0.0.1, or ``host:port`` (a node of a spread run)."""


def _fetch(target: Target) -> str:
    where = f"127.0.0.1:{target}" if isinstance(target, int) else target
    with urllib.request.urlopen(f"http://{where}/metrics", timeout=2.0) as r:
        return str(r.read().decode())


def _parse(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def scrape_all(ports: Mapping[str, Target], client_port: int | None) -> dict[str, dict[str, float]]:
    """``{target: {"series{labels}": value}}`` for every node endpoint (and the clients')."""
    out: dict[str, dict[str, float]] = {}
    targets: dict[str, Target] = dict(ports)
    if client_port:
        targets["clients"] = client_port
    for name, port in sorted(targets.items()):
        with contextlib.suppress(OSError, ValueError):
            out[name] = _parse(_fetch(port))
    return out


async def scrape_periodically(ports: Callable[[], Mapping[str, Target]], incarnation: Callable[[str], int],
                              into: dict[tuple[str, int], dict[str, float]]) -> None:
    """Keep each live node incarnation's latest metrics (what a crash would otherwise
    erase).  ``ports()`` gives the live nodes' metrics ports; runs until cancelled."""
    delay = 0.5  # the first one early: a crash in the first seconds must not erase everything
    while True:
        await asyncio.sleep(delay)
        delay = SCRAPE_EVERY_S
        live = ports()
        incs = {nid: incarnation(nid) for nid in live}
        got = await asyncio.to_thread(scrape_all, live, None)
        for nid, data in got.items():
            if incarnation(nid) == incs[nid]:
                into[(nid, incs[nid])] = data


NODE_UP = "splitbrain_node_up"


def node_up_series(up: dict[str, bool]) -> dict[str, float]:
    """``splitbrain_node_up{node}`` as scraped series: 1 while the node's process serves,
    0 while it is crashed, restarting or paused.  A crashed node's own endpoint is gone
    with it, so without this it would silently drop out of every aggregate."""
    return {f'{NODE_UP}{{node="{n}"}}': 1.0 if ok else 0.0 for n, ok in sorted(up.items())}


def serve_aggregate(port: int, ports: Callable[[], Mapping[str, Target]], client_port: int | None,
                    up: Callable[[], dict[str, bool]] | None = None) -> Any:
    """One Prometheus endpoint for the whole cluster on 127.0.0.1:``port``: every node's
    series (they carry a ``node`` label) merged per metric family on each scrape, plus
    ``splitbrain_node_up{node}`` from the driver (``up()``: node -> serving).  Returns the
    HTTP server (``shutdown()`` and ``server_close()`` it)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.parser import text_string_to_metric_families

    class _Aggregate:
        def collect(self) -> Any:
            merged: dict[str, Any] = {}
            if up is not None:
                node_up = GaugeMetricFamily(NODE_UP, "1 while the node's process is up (0: crashed, "
                                            "restarting or paused)", labels=["node"])
                for node, ok in sorted(up().items()):
                    node_up.add_metric([node], 1.0 if ok else 0.0)
                merged[NODE_UP] = node_up
            targets: dict[str, Target] = dict(ports())
            if client_port:
                targets["clients"] = client_port
            for _name, p in sorted(targets.items()):
                try:
                    text = _fetch(p)
                except OSError:
                    continue
                for fam in text_string_to_metric_families(text):
                    have = merged.get(fam.name)
                    if have is None:
                        merged[fam.name] = fam
                    else:
                        have.samples.extend(fam.samples)
            return list(merged.values())

    reg = CollectorRegistry()
    reg.register(_Aggregate())  # type: ignore[arg-type]
    server, _ = start_http_server(port, addr="127.0.0.1", registry=reg)
    return server


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process, in MiB (Linux ``/proc``)."""
    out: dict[str, float] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for nid, pid in pids.items():
        try:
            with open(f"/proc/{pid}/statm") as f:
                out[nid] = round(int(f.read().split()[1]) * page / 2**20, 1)
        except (OSError, ValueError, IndexError):
            continue
    return out
