"""What the pipeline system asks of the real engine: GPUs for workers, the real model."""

from __future__ import annotations

from cluster.core.pipeline import PipelineConfig
from scenarios.runner import system_config
from scenarios.spec import for_engine, load
from scenarios.system_pipeline import node_resources
from scenarios.systems import get_system

NODES = ("n1", "n2", "n3", "n4", "n5")  # broker, docstore, two workers, vector store


def test_workers_ask_for_a_gpu_share_only_when_the_cluster_has_gpus() -> None:
    cfg = PipelineConfig(embedder="minilm")
    assert node_resources("n3", NODES, cfg, {"CPU": 2.0}) == {}
    assert node_resources("n3", NODES, cfg, {"GPU": 1.0}) == {"num_gpus": 0.5}  # two workers share one
    assert node_resources("n4", NODES, cfg, {"GPU": 4.0}) == {"num_gpus": 1.0}
    assert node_resources("n2", NODES, cfg, {"GPU": 4.0}) == {}  # the document store needs none
    assert node_resources("n3", NODES, PipelineConfig(embedder="hash"), {"GPU": 4.0}) == {}


def test_the_real_engine_uses_the_real_model_and_real_embedding_time() -> None:
    sc = for_engine(load("pipeline-worker-crash-mid-batch"), "ray")
    cfg = system_config(sc, get_system("pipeline"), real_time=True)
    assert cfg.embedder == "minilm" and cfg.embed_base_ms == 0 and cfg.embed_ms_per_chunk == 0
    assert load("pipeline-worker-crash-mid-batch").config.get("embedder", "hash") == "hash"  # the simulator's


def test_importing_one_system_first_does_not_hide_the_others() -> None:
    import subprocess
    import sys

    code = ("import scenarios.system_pipeline; from scenarios.systems import system_names; "
            "print(','.join(system_names()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert {"raft-kv", "quorum", "saga", "pipeline"} <= set(out.stdout.strip().split(","))
