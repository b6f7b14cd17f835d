"""Checkers of the pipeline system, registered by name (imported by ``scenarios.checkers``).

* ``pipeline`` -- :mod:`analysis.pipeline_check`: every document ends in the vector store at
  its latest version with the right chunks (nothing lost, stale or duplicated), no embedding
  ever overwrote a newer one, and a cost line (embeddings computed vs needed).

The pipeline also uses ``delivery`` (outbox rows delivered and processed, acks after the
effect), registered in :mod:`scenarios.checkers_extra`.
"""

from __future__ import annotations

from typing import Any

from analysis.history import History
from scenarios.checkers import register_checker


@register_checker("pipeline")
def _pipeline(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.pipeline_check import check_trace

    return check_trace(trace, history)
