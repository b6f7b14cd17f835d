"""Fault models as data, schedules that say when they happen, and a registry to name them.

Importing the package registers the built-in fault models (partition, clock, process,
link); a user's fault module registers itself the same way, with ``@register``.

Typical use::

    from faults import install, items_from_list
    install(items_from_list(scenario["faults"]), sim)

See ``docs/faults.md`` for the vocabulary and how to add a fault model.
"""

from faults.base import (
    SELECTORS,
    Applied,
    BoundEngine,
    Fault,
    FaultBase,
    FaultError,
    FaultNotApplicable,
    FaultSpecError,
)
from faults.clock import ClockSkew, ClockStrobe
from faults.link import LinkFault
from faults.partition import KINDS as PARTITION_KINDS
from faults.partition import Partition
from faults.process import Crash, CrashRestartLoop, Pause
from faults.registry import (
    RegistrationError,
    fault_from_dict,
    get,
    known,
    register,
    to_dict,
    unregister,
)
from faults.schedule import (
    TRIGGERS,
    ActiveFault,
    At,
    EventTrigger,
    Installation,
    OnEvent,
    RandomFaults,
    ScheduleItem,
    SchedulingEngine,
    from_dict,
    heal_fault,
    install,
    item_from_dict,
    items_from_list,
    start_fault,
)

__all__ = [
    "PARTITION_KINDS",
    "SELECTORS",
    "TRIGGERS",
    "ActiveFault",
    "Applied",
    "At",
    "BoundEngine",
    "ClockSkew",
    "ClockStrobe",
    "Crash",
    "CrashRestartLoop",
    "EventTrigger",
    "Fault",
    "FaultBase",
    "FaultError",
    "FaultNotApplicable",
    "FaultSpecError",
    "Installation",
    "LinkFault",
    "OnEvent",
    "Partition",
    "Pause",
    "RandomFaults",
    "RegistrationError",
    "ScheduleItem",
    "SchedulingEngine",
    "fault_from_dict",
    "from_dict",
    "get",
    "heal_fault",
    "install",
    "item_from_dict",
    "items_from_list",
    "known",
    "register",
    "start_fault",
    "to_dict",
    "unregister",
]
