"""An Elle-style transactional isolation checker.

Reads list-append or rw-register transactional histories, infers the dependencies
between transactions (ww, wr, rw, process and real-time order), finds the smallest
cycles of each anomaly type (G0, G1c, G-single, G2-item and their process/realtime
variants) plus the anomalies that need no cycle (G1a, G1b, internal, duplicates,
garbage reads, incompatible orders), and says which consistency models the history
rules out.  ``docs/isolation.md`` is the user guide.

    from analysis.isolation import check, read_txn_history
    result = check(read_txn_history("h.edn", "list-append"), consistency_model="serializable")

Modules, by the state each owns: :mod:`.txn` (the transactions read from a file),
:mod:`.list_append` / :mod:`.rw_register` (a data model's indexes and inference),
:mod:`.graph` (edges, components, the bounded path search), :mod:`.cycles` (the
per-anomaly search), :mod:`.lattice` (models and what rules them out), :mod:`.story`
(sentences), :mod:`.svg` (a drawing of one cycle), :mod:`.checker` (the pipeline) and
:mod:`.generate` (histories of serial executions, for tests and benchmarks).
"""

from analysis.isolation.checker import check
from analysis.isolation.lattice import DEFAULT_MODEL, MODELS
from analysis.isolation.txn import DATA_MODELS, TxnHistory, parse_text, read_txn_history

__all__ = [
    "DATA_MODELS",
    "DEFAULT_MODEL",
    "MODELS",
    "TxnHistory",
    "check",
    "parse_text",
    "read_txn_history",
]
