"""Compact transactional histories for tests, in Elle's shorthand.

``"ax1 ry12"`` is a transaction that appends 1 to x and reads y = [1, 2]; ``"rx"`` reads
x = []; ``"wx1"`` writes register x = 1; ``"rx_"`` reads register x = nil.
"""

from __future__ import annotations

from typing import Any

from analysis.history import Event, History
from analysis.isolation.txn import TxnHistory, from_history


def mops(s: str, model: str = "list-append") -> list[list[Any]]:
    out: list[list[Any]] = []
    for tok in s.split():
        f, k, rest = tok[0], tok[1], tok[2:]
        if f == "a":
            out.append(["append", k, int(rest)])
        elif f == "w":
            out.append(["w", k, int(rest)])
        elif rest == "_":
            out.append(["r", k, None])
        elif model == "rw-register":
            out.append(["r", k, int(rest)])
        else:
            out.append(["r", k, [int(c) for c in rest]])
    return out


def request(m: list[list[Any]]) -> list[list[Any]]:
    return [[f, k, None] if f == "r" else [f, k, v] for f, k, v in m]


def events(
    *txns: str | tuple[str, str] | tuple[str, str, int],
    layout: str = "concurrent",
    model: str = "list-append",
) -> list[Event]:
    """Events for transactions given as ``"ax1 ry1"`` or ``(text, status[, process])``.

    ``layout="concurrent"``: every invocation, then every completion, one process each,
    so nothing is ordered in real time.  ``"sequential"``: each completes before the next
    begins."""
    specs = []
    for i, t in enumerate(txns):
        if isinstance(t, str):
            specs.append((t, "ok", i))
        elif len(t) == 2:
            specs.append((t[0], t[1], i))
        else:
            specs.append(t)  # type: ignore[arg-type]
    inv = [Event(p, "invoke", "txn", request(mops(s, model))) for s, _st, p in specs]
    done = [
        Event(p, st, "txn", mops(s, model) if st == "ok" else request(mops(s, model)))
        for s, st, p in specs
    ]
    if layout == "sequential":
        return [e for pair in zip(inv, done, strict=True) for e in pair]
    return inv + done


def history(*txns: Any, model: str = "list-append", layout: str = "concurrent") -> TxnHistory:
    return from_history(History.from_events(events(*txns, layout=layout, model=model)), model)


def data_types(result: dict[str, Any]) -> list[str]:
    """Anomaly types found, without the process/realtime variants."""
    return [t for t in result["anomaly_types"] if not t.endswith(("-process", "-realtime"))]
