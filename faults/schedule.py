"""When faults happen: at fixed times, at random, or in reaction to protocol events.

Schedules are data too (so a scenario file can hold them) and :func:`install` wires them to a
:class:`SchedulingEngine` -- an :class:`~faults.engine.Engine` that can also run a callback
at a given engine time and report protocol events.  Every application and heal is written to
the engine's trace as ``fault-start`` / ``fault-end`` with the same ``id``, so reports can draw
fault windows; a fault that finds nothing to hit is written as ``fault-skipped``.

Why triggers matter: the interesting bugs live at precise moments ("right after a new leader
is elected", "just after a write was acknowledged"), which random schedules hit rarely.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from faults.base import Applied, BoundEngine, Fault, FaultNotApplicable, FaultSpecError
from faults.engine import Engine
from faults.process import Crash

# --- the engine side --------------------------------------------------------------------------

EventHook = Callable[[str, Mapping[str, Any]], None]


class SchedulingEngine(Engine, Protocol):
    """What :func:`install` needs beyond :class:`Engine` (the simulator provides both)."""

    def schedule(self, at_ms: int, fn: Callable[[], None]) -> object:
        """Run ``fn`` when engine time reaches ``at_ms`` (after the current step, if now)."""

    def add_event_hook(self, fn: EventHook) -> None:
        """Call ``fn(kind, data)`` for every protocol event ("role", "ack", "read", ...)."""


# --- schedule items -------------------------------------------------------------------------------


@dataclass(frozen=True)
class At:
    """Apply ``fault`` at ``start_ms`` and heal it ``duration_ms`` later (None: never)."""

    start_ms: int
    duration_ms: int | None
    fault: Fault

    def __post_init__(self) -> None:
        _check_times("'at' item", start=self.start_ms, duration=self.duration_ms)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.start_ms, "duration": self.duration_ms, "fault": self.fault.to_dict()}


@dataclass(frozen=True)
class RandomFaults:
    """Start faults as a Poisson process between ``start_ms`` and ``stop_ms``.

    Each arrival picks one of ``kinds`` (a fault name built with its defaults, or
    ``"name:kind"`` such as ``"partition:isolate-leader"``) and a duration drawn from an
    exponential with mean ``mean_duration_ms``.  At most ``max_concurrent`` of this item's
    faults are active at once (an arrival beyond that is dropped).  Every fault is healed by
    ``stop_ms`` so the run ends with a quiet period in which liveness can be checked.
    Timing and kind choices come from a generator seeded once from ``engine.rng`` at install,
    so they do not shift when the simulator draws more or fewer random numbers elsewhere.
    """

    rate_per_s: float
    mean_duration_ms: int
    kinds: tuple[str, ...]
    start_ms: int = 0
    stop_ms: int | None = None
    max_concurrent: int = 1

    def __post_init__(self) -> None:
        where = "'random' item"
        if not self.rate_per_s > 0:
            raise FaultSpecError(f"{where}: field 'random' (rate per second) must be > 0")
        if self.mean_duration_ms <= 0:
            raise FaultSpecError(f"{where}: field 'mean_duration' must be > 0")
        if not self.kinds:
            raise FaultSpecError(f"{where}: field 'kinds' must name at least one fault")
        if self.max_concurrent < 1:
            raise FaultSpecError(f"{where}: field 'max_concurrent' must be >= 1")
        _check_times(where, start=self.start_ms, duration=None)
        if self.stop_ms is not None and self.stop_ms <= self.start_ms:
            raise FaultSpecError(f"{where}: field 'stop' must be after 'start'")
        self.templates()  # fail now, not mid-run, on an unknown kind

    def templates(self) -> tuple[Fault, ...]:
        """The faults ``kinds`` name, built with default fields."""
        from faults.registry import fault_from_dict

        out = []
        for kind in self.kinds:
            name, _, sub = kind.partition(":")
            spec: dict[str, Any] = {"fault": name}
            if sub:
                spec["kind"] = sub
            try:
                out.append(fault_from_dict(spec))
            except FaultSpecError as err:
                raise FaultSpecError(f"'random' item: kinds: {err}") from None
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "random": self.rate_per_s,
            "mean_duration": self.mean_duration_ms,
            "kinds": list(self.kinds),
            "start": self.start_ms,
            "stop": self.stop_ms,
            "max_concurrent": self.max_concurrent,
        }


@dataclass(frozen=True)
class EventTrigger:
    """Match protocol events of ``kind`` whose data contains every item of ``where``.

    ``bind_leader`` names the event field (usually ``"node"``) whose value the fault's
    ``"leader"`` selector is pinned to, so "isolate the leader" hits the node the event was
    about even if leadership has moved by the time the fault applies.
    """

    kind: str
    where: Mapping[str, Any] = field(default_factory=dict)
    bind_leader: str | None = None

    def matches(self, kind: str, data: Mapping[str, Any]) -> bool:
        return kind == self.kind and all(k in data and data[k] == v for k, v in self.where.items())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": dict(self.where), "bind_leader": self.bind_leader}


TRIGGERS: dict[str, EventTrigger] = {
    "leader-elected": EventTrigger("role", {"role": "leader"}, bind_leader="node"),
    "write-acked": EventTrigger("ack", {}, bind_leader="node"),
    "lease-read": EventTrigger("read", {"mode": "lease"}, bind_leader="node"),
    "election-started": EventTrigger("election", {}),
    "node-crashed": EventTrigger("crash", {}),
}
"""Named triggers and the simulator event each one matches."""


def register_triggers(triggers: Mapping[str, EventTrigger]) -> None:
    """Add a system's named triggers (scenario files and ``explore`` refer to them by name).

    Re-registering the same trigger is a no-op; giving an existing name a different meaning
    is an error, so two systems can never silently fight over a trigger name.
    """
    for name, trigger in triggers.items():
        known = TRIGGERS.get(name)
        if known is not None and known != trigger:
            raise ValueError(f"trigger {name!r} is already registered as {known!r}")
        TRIGGERS[name] = trigger


@dataclass(frozen=True)
class OnEvent:
    """Apply ``fault`` ``delay_ms`` after a matching event, heal it ``duration_ms`` later.

    Fires at most ``times`` times (None: every time).  While its fault is pending or active,
    further matching events are ignored, so one trigger never stacks copies of its own fault.
    A fault that finds nothing to hit does not count against ``times``.
    """

    trigger: str | EventTrigger
    fault: Fault
    duration_ms: int | None
    delay_ms: int = 0
    times: int | None = 1

    def __post_init__(self) -> None:
        where = "'on' item"
        if isinstance(self.trigger, str) and self.trigger not in TRIGGERS:
            raise FaultSpecError(
                f"{where}: unknown trigger {self.trigger!r}; known: {', '.join(sorted(TRIGGERS))}"
                " (or an object with 'kind' and 'where')"
            )
        _check_times(where, start=self.delay_ms, duration=self.duration_ms, start_name="delay")
        if self.times is not None and self.times < 1:
            raise FaultSpecError(f"{where}: field 'times' must be >= 1 or null (unlimited)")

    def resolved_trigger(self) -> EventTrigger:
        return TRIGGERS[self.trigger] if isinstance(self.trigger, str) else self.trigger

    def to_dict(self) -> dict[str, Any]:
        trigger = self.trigger if isinstance(self.trigger, str) else self.trigger.to_dict()
        return {
            "on": trigger,
            "duration": self.duration_ms,
            "delay": self.delay_ms,
            "times": self.times,
            "fault": self.fault.to_dict(),
        }


ScheduleItem = At | RandomFaults | OnEvent


def _check_times(where: str, *, start: int, duration: int | None, start_name: str = "at") -> None:
    if start < 0:
        raise FaultSpecError(f"{where}: field {start_name!r} must be >= 0, got {start!r}")
    if duration is not None and duration <= 0:
        raise FaultSpecError(f"{where}: field 'duration' must be > 0 or null, got {duration!r}")


# --- running faults -------------------------------------------------------------------------------


@dataclass
class ActiveFault:
    """A fault that is applied and not yet healed, with the engine view it was applied on."""

    fault: Fault
    engine: Engine
    applied: Applied
    record: dict[str, object]
    healed: bool = False


def start_fault(
    engine: Engine, fault: Fault, bind_leader: str | None = None, bound_label: str | None = None
) -> ActiveFault | None:
    """Apply ``fault`` now and record ``fault-start``; None (and ``fault-skipped``) if it can't.

    Usable without a schedule, e.g. by a hypothesis rule that injects faults directly.
    """
    view: Engine = BoundEngine(engine, bind_leader, bound_label) if bind_leader is not None else engine
    try:
        applied = fault.apply(view)
    except FaultNotApplicable as err:
        engine.record("fault-skipped", {"fault": fault.name, "reason": str(err)})
        return None
    data: dict[str, object] = {
        "fault": fault.name,
        "description": fault.describe(applied),
        "targets": list(applied.targets),
        "id": applied.token,
    }
    if applied.groups:
        data["groups"] = [list(g) for g in applied.groups]
    engine.record("fault-start", dict(data))
    return ActiveFault(fault=fault, engine=view, applied=applied, record=data)


def heal_fault(active: ActiveFault) -> None:
    """Heal once (later calls are no-ops) and record ``fault-end`` with the same id."""
    if active.healed:
        return
    active.healed = True
    active.fault.heal(active.engine, active.applied)
    active.engine.record("fault-end", dict(active.record))


class Installation:
    """Handle returned by :func:`install`: what is active now, and a way to heal it all."""

    def __init__(self, engine: SchedulingEngine) -> None:
        self.engine = engine
        self.active: list[ActiveFault] = []
        self.stopped = False

    def started(self, active: ActiveFault | None) -> ActiveFault | None:
        if active is not None:
            self.active.append(active)
        return active

    def heal(self, active: ActiveFault) -> None:
        heal_fault(active)
        if active in self.active:
            self.active.remove(active)

    def heal_all(self) -> None:
        """Stop every schedule and heal what is active, newest first (end-of-run cleanup)."""
        self.stopped = True
        for active in reversed(list(self.active)):
            self.heal(active)


def install(
    items: Iterable[ScheduleItem | Mapping[str, Any]], engine: SchedulingEngine
) -> Installation:
    """Wire schedule items (objects or their dict forms) to ``engine``."""
    from faults.registry import item_from_dict

    inst = Installation(engine)
    for raw in items:
        item = item_from_dict(raw) if isinstance(raw, Mapping) else raw
        if isinstance(item, At):
            _install_at(item, inst)
        elif isinstance(item, RandomFaults):
            _install_random(item, inst)
        elif isinstance(item, OnEvent):
            _install_on_event(item, inst)
        else:
            raise FaultSpecError(f"not a schedule item: {item!r}")
    return inst


def _heal_later(inst: Installation, active: ActiveFault, at_ms: int) -> None:
    inst.engine.schedule(at_ms, lambda: inst.heal(active))


def _install_at(item: At, inst: Installation) -> None:
    engine = inst.engine

    def fire() -> None:
        if inst.stopped:
            return
        active = inst.started(start_fault(engine, item.fault))
        if active is not None and item.duration_ms is not None:
            _heal_later(inst, active, engine.now_ms() + item.duration_ms)

    engine.schedule(item.start_ms, fire)


def _install_random(item: RandomFaults, inst: Installation) -> None:
    engine = inst.engine
    rng = random.Random(engine.rng.getrandbits(64))
    templates = item.templates()
    mean_gap_ms = 1000.0 / item.rate_per_s
    mine: list[ActiveFault] = []

    def gap() -> int:
        return max(1, round(rng.expovariate(1.0 / mean_gap_ms)))

    def arrive() -> None:
        if inst.stopped:
            return
        now = engine.now_ms()
        # draw everything first so the random stream does not depend on what was applicable
        fault = templates[rng.randrange(len(templates))]
        duration = max(1, round(rng.expovariate(1.0 / item.mean_duration_ms)))
        next_at = now + gap()
        end = now + duration if item.stop_ms is None else min(now + duration, item.stop_ms)
        mine[:] = [a for a in mine if not a.healed]
        if len(mine) < item.max_concurrent and end > now:
            active = inst.started(start_fault(engine, fault))
            if active is not None:
                mine.append(active)
                _heal_later(inst, active, end)
        if item.stop_ms is None or next_at < item.stop_ms:
            engine.schedule(next_at, arrive)

    first = item.start_ms + gap()
    if item.stop_ms is None or first < item.stop_ms:
        engine.schedule(first, arrive)


@dataclass
class _TriggerState:
    fired: int = 0
    busy: bool = False


_BOUND_LABELS = {"role": "the leader", "ack": "the leader that acknowledged a write",
                 "read": "the leader serving a lease read", "vote": "the node that just voted"}


def _install_on_event(item: OnEvent, inst: Installation) -> None:
    engine = inst.engine
    trigger = item.resolved_trigger()
    label = _BOUND_LABELS.get(trigger.kind, f"the node of the {trigger.kind!r} event")
    state = _TriggerState()

    def fire(bound: str | None) -> None:
        if inst.stopped:
            state.busy = False
            return
        active = inst.started(start_fault(engine, item.fault, bind_leader=bound, bound_label=label))
        if active is None:
            state.busy = False
            return
        state.fired += 1
        if failpoint is not None and item.times is not None and state.fired >= item.times:
            engine.disarm_failpoint(failpoint)  # type: ignore[attr-defined]
        if item.duration_ms is not None:
            end = engine.now_ms() + item.duration_ms

            def heal() -> None:
                inst.heal(active)
                state.busy = False

            engine.schedule(end, heal)

    def hook(kind: str, data: Mapping[str, Any]) -> None:
        if inst.stopped or state.busy:
            return
        if item.times is not None and state.fired >= item.times:
            return
        if not trigger.matches(kind, data):
            return
        bound = None
        if trigger.bind_leader is not None:
            value = data.get(trigger.bind_leader)
            bound = value if isinstance(value, str) else None
        state.busy = True
        # never act inside the engine's event dispatch: run as a separate step, even at delay 0
        engine.schedule(engine.now_ms() + item.delay_ms, lambda: fire(bound))

    engine.add_event_hook(hook)
    failpoint = _arm_failpoint(item, trigger, engine)


def _arm_failpoint(item: OnEvent, trigger: EventTrigger, engine: Engine) -> str | None:
    """On a real engine, "crash the node that emitted the event" is also armed inside the
    nodes (``arm_failpoint``): the node freezes the moment it emits the event, so the crash
    lands right after the protocol step, as in the simulator, instead of whenever the event
    reaches the driver.  The simulator has no such method and needs none."""
    arm = getattr(engine, "arm_failpoint", None)
    if arm is None or not isinstance(item.fault, Crash) or item.delay_ms > 50:
        return None
    own_node = (item.fault.node == "leader" and trigger.bind_leader == "node") or (
        trigger.where.get("node") == item.fault.node
    )
    if not own_node:
        return None
    fp_id = f"fp-{trigger.kind}-{id(item):x}"
    arm(fp_id, trigger.kind, dict(trigger.where), item.delay_ms)
    return fp_id
