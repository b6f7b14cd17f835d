"""The embedding worker's model as a Ray actor, placed on a GPU when the cluster has one.

Placement rule (why): a GPU worker wants the whole device (``num_gpus=1`` each, or an equal
fraction when there are more workers than GPUs) and runs on CUDA; a CPU worker gets its share
of the cores as *threads* (``OMP_NUM_THREADS`` and ``torch.set_num_threads``), because
workers that each use every core fight over them (measured on a 2-core machine: two
threads per worker under load ran ~10x slower than one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Placement:
    device: str
    threads: int
    options: dict[str, Any]


def placement(workers: int, gpus: float, cpus: float) -> list[Placement]:
    """Ray options per worker given the cluster's GPUs and CPUs (pure; tested without Ray)."""
    workers = max(1, workers)
    if gpus >= 1:
        share = 1.0 if gpus >= workers else gpus / workers
        return [Placement("cuda", 1, {"num_gpus": share, "num_cpus": 1}) for _ in range(workers)]
    threads = max(1, int(cpus) // workers)
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1"}
    return [Placement("cpu", threads, {"num_cpus": threads, "runtime_env": {"env_vars": env}})
            for _ in range(workers)]


class EmbedActor:
    """Holds one loaded model; ``embed`` returns normalised float32 rows."""

    def __init__(self, device: str, batch_size: int, threads: int) -> None:
        from cluster.runtime.embed.model import SentenceEmbedder

        self.embedder = SentenceEmbedder(device=device, batch_size=batch_size, threads=threads)

    def embed(self, texts: Sequence[str]) -> Any:
        return self.embedder.embed(texts)

    def info(self) -> dict[str, Any]:
        import torch

        return {"pid": os.getpid(), "device": self.embedder.device, "threads": torch.get_num_threads()}


def start_embed_actors(workers: int, batch_size: int, *, ray_address: str | None = None) -> list[Any]:
    """Start ``workers`` actors (starting or joining Ray) and wait until each model is loaded."""
    import ray

    from cluster.runtime.embed.model import EmbedUnavailable, missing

    reason = missing()
    if reason:
        raise EmbedUnavailable(reason)
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    res = ray.cluster_resources()
    plan = placement(workers, float(res.get("GPU", 0)), float(res.get("CPU", os.cpu_count() or 1)))
    remote: Any = ray.remote(EmbedActor)
    actors = [remote.options(**p.options).remote(p.device, batch_size, p.threads) for p in plan]
    ray.get([a.info.remote() for a in actors])
    return actors
