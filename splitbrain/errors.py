"""Exit codes and the one error type every command turns into "exit 3, one line"."""

from __future__ import annotations

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_USAGE = 3
EXIT_INTERNAL = 4  # an unexpected exception: a bug in splitbrain, never a verdict

VERDICT_EXIT = {"valid": EXIT_VALID, "invalid": EXIT_INVALID, "unknown": EXIT_UNKNOWN}


class UsageError(Exception):
    """Bad input from the user: a missing file, an unknown name, a malformed spec."""


def input_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the user's input is wrong" (not a bug in splitbrain)."""
    from analysis.history import HistoryError
    from analysis.models.base import ModelError
    from analysis.records import RecordsError
    from scenarios.results import RunFolderError

    errs: list[type[BaseException]] = [HistoryError, ModelError, RecordsError, RunFolderError, UsageError]
    try:
        from faults.registry import FaultSpecError

        errs.append(FaultSpecError)
    except ImportError:  # pragma: no cover - during bootstrap
        pass
    try:
        from cluster.runtime.brokers.errors import BrokerSetupError
        from cluster.runtime.errors import EngineSetupError

        errs += [BrokerSetupError, EngineSetupError]
    except ImportError:  # pragma: no cover
        pass
    try:
        from scenarios.progress import ProgressError
        from scenarios.spec import ScenarioError

        errs += [ScenarioError, ProgressError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)

