"""Errors of the real engine that mean "it cannot start as asked", not "splitbrain broke".

Each is one line naming what to fix (an unreachable Ray address, a second connection in one
process); the command line turns them into "exit 3".  Broker setup problems have their own
(:class:`cluster.runtime.brokers.errors.BrokerSetupError`).
"""

from __future__ import annotations

__all__ = ["EngineSetupError"]


class EngineSetupError(RuntimeError):
    """The real engine cannot start as asked; the message says what to check."""
