"""The consumer-side log checker as a scenario checker: ``kafka`` (alias ``log-consumer``).

A scenario whose workload records ``send`` / ``poll`` operations (the native encoding of
``docs/history-format.md``, "Log histories") lists ``checks = ["kafka"]`` and imports this
module (or the runner's built-in list names it).  The trace is passed along, so each
finding says which faults, broker rebalances and node crashes were going on.  Histories
recorded by splitbrain's own clients record every rebalance in ``rebalance_log``, so a
subscribed consumer's skip is always judged (see :mod:`analysis.log_consumer`).
"""

from __future__ import annotations

from typing import Any

from analysis.history import History
from scenarios.checkers import register_checker


def _log_consumer(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.log_consumer import check

    return check(history, trace, rebalances_recorded=True)


for _name in ("kafka", "log-consumer"):
    register_checker(_name)(_log_consumer)
