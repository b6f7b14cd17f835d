"""Checkers of the saga system, registered by name (imported by ``scenarios.checkers``).

* ``idempotency`` -- :mod:`analysis.idempotency`: per key at most once; acknowledged bookings
  applied exactly once.
* ``delivery``    -- :mod:`analysis.delivery`: outbox rows delivered and processed exactly
  once, no phantom publish, acks after processing, broker order.
* ``saga``        -- :mod:`analysis.saga_check`: every saga all-applied or fully compensated.
"""

from __future__ import annotations

from typing import Any

from analysis.history import History
from scenarios.checkers import register_checker


@register_checker("idempotency")
def _idempotency(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.idempotency import check_trace

    return check_trace(trace, history)


@register_checker("delivery")
def _delivery(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.delivery import check_trace

    return check_trace(trace)


@register_checker("saga")
def _saga(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.saga_check import check_trace

    return check_trace(trace, history)
