"""When faults happen: at fixed times, at random, or in reaction to protocol events.

Dict forms of the schedule items (scenario files hold these)::

    {"at": 2000, "duration": 3000, "fault": {...}}                          # At
    {"on": "leader-elected", "duration": 2000, "delay": 0, "times": 1,      # OnEvent
     "fault": {...}}
    {"on": {"kind": "role", "where": {"role": "leader"}, "bind_leader": "node"}, ...}
    {"on": "node-restarted", "until": {"kind": "election", "where": {"node": "n2"}},   # healed
     "duration": null, "fault": {...}}                                       # by an event
    {"random": 0.5, "mean_duration": 2000, "kinds": ["crash", "partition:halves"],
     "start": 0, "stop": 30000, "max_concurrent": 1}                       # RandomFaults

Times are milliseconds; ``"duration": null`` means "until the run ends"; ``"times": null``
means "every time".  ``"until"`` (on ``at`` and ``on`` items) names a trigger whose first
match after the fault started heals it (``duration``, if given, still bounds it).  A fault
inside an item is built by :mod:`faults.registry`.

Schedules are data too (so a scenario file can hold them) and :func:`install` wires them to a
:class:`SchedulingEngine` -- an :class:`~faults.engine.Engine` that can also run a callback
at a given engine time and report protocol events.  Every application and heal is written to
the engine's trace as ``fault-start`` / ``fault-end`` with the same ``id``, so reports can draw
fault windows; a fault that finds nothing to hit is written as ``fault-skipped``.

Why triggers matter: the interesting bugs live at precise moments ("right after a new leader
is elected", "just after a write was acknowledged"), which random schedules hit rarely.  And
why ``until``: a window that must close after something happened ("hold this link until the
other candidate has asked") is only as good as its worst-case timing when it is written in
milliseconds; on real processes, where a restart or an RPC can take seconds on a busy
machine, only an event bounds it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from analysis import trace_kinds as K
from faults.base import Applied, BoundEngine, Fault, FaultNotApplicable, FaultSpecError
from faults.engine import Engine
from faults.process import Crash
from faults.registry import fault_from_dict

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
    """Apply ``fault`` at ``start_ms`` and heal it ``duration_ms`` later (None: never), or
    at the first event matching ``until`` after that, whichever comes first."""

    start_ms: int
    duration_ms: int | None
    fault: Fault
    until: str | EventTrigger | None = None

    def __post_init__(self) -> None:
        _check_times("'at' item", start=self.start_ms, duration=self.duration_ms)
        _check_trigger("'at' item", self.until, "until")

    def resolved_until(self) -> EventTrigger | None:
        return _resolve(self.until)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.start_ms, "duration": self.duration_ms, "fault": self.fault.to_dict()}
        if self.until is not None:
            out["until"] = _trigger_dict(self.until)
        return out


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
    "leader-elected": EventTrigger(K.ROLE, {"role": "leader"}, bind_leader="node"),
    "write-acked": EventTrigger(K.ACK, {}, bind_leader="node"),
    "lease-read": EventTrigger(K.READ, {"mode": "lease"}, bind_leader="node"),
    "election-started": EventTrigger(K.ELECTION, {}),
    "node-crashed": EventTrigger(K.CRASH, {}),
    "node-restarted": EventTrigger(K.RESTARTED, {}, bind_leader="node"),
}
"""Named triggers and the simulator event each one matches."""


def on_engine(trigger: EventTrigger, engine: object) -> EventTrigger:
    """``trigger`` as it matches on ``engine``.

    ``restarted`` means "the restarted node serves again".  The real engine records it when
    the new process is up and wired (seconds after its ``restart`` record on a busy machine);
    the simulator restarts a node in no time and records no ``restarted``: there the node
    serves again at its ``restart`` record, so that is what the trigger matches.  A trigger
    timed from ``restarted`` thus fires at the same point of the story on both engines.
    """
    if trigger.kind == K.RESTARTED and not getattr(engine, "records_restarted", False):
        return replace(trigger, kind=K.RESTART)
    return trigger


def _resolve(trigger: str | EventTrigger | None) -> EventTrigger | None:
    if trigger is None or isinstance(trigger, EventTrigger):
        return trigger
    return TRIGGERS[trigger]


def _trigger_dict(trigger: str | EventTrigger) -> str | dict[str, Any]:
    return trigger if isinstance(trigger, str) else trigger.to_dict()


def _check_trigger(where: str, trigger: str | EventTrigger | None, name: str) -> None:
    if isinstance(trigger, str) and trigger not in TRIGGERS:
        raise FaultSpecError(
            f"{where}: unknown trigger {trigger!r} in {name!r}; known: {', '.join(sorted(TRIGGERS))}"
            " (or an object with 'kind' and 'where')"
        )


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
    A fault that finds nothing to hit does not count against ``times``.  ``skip`` lets the
    first ``skip`` matching events pass ("crash the worker after its third batch":
    ``skip = 2``).  ``until`` heals the fault at the first matching event after it started
    (``duration_ms``, if not None, still bounds it).
    """

    trigger: str | EventTrigger
    fault: Fault
    duration_ms: int | None
    delay_ms: int = 0
    times: int | None = 1
    skip: int = 0
    until: str | EventTrigger | None = None

    def __post_init__(self) -> None:
        where = "'on' item"
        if isinstance(self.trigger, str) and self.trigger not in TRIGGERS:
            raise FaultSpecError(
                f"{where}: unknown trigger {self.trigger!r}; known: {', '.join(sorted(TRIGGERS))}"
                " (or an object with 'kind' and 'where')"
            )
        _check_trigger(where, self.until, "until")
        _check_times(where, start=self.delay_ms, duration=self.duration_ms, start_name="delay")
        if self.times is not None and self.times < 1:
            raise FaultSpecError(f"{where}: field 'times' must be >= 1 or null (unlimited)")
        if self.skip < 0:
            raise FaultSpecError(f"{where}: field 'skip' must be >= 0, got {self.skip!r}")

    def resolved_trigger(self) -> EventTrigger:
        return TRIGGERS[self.trigger] if isinstance(self.trigger, str) else self.trigger

    def resolved_until(self) -> EventTrigger | None:
        return _resolve(self.until)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "on": _trigger_dict(self.trigger),
            "duration": self.duration_ms,
            "delay": self.delay_ms,
            "times": self.times,
            "fault": self.fault.to_dict(),
        }
        if self.skip:
            out["skip"] = self.skip
        if self.until is not None:
            out["until"] = _trigger_dict(self.until)
        return out


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
        engine.record(K.FAULT_SKIPPED, {"fault": fault.name, "reason": str(err)})
        return None
    data: dict[str, object] = {
        "fault": fault.name,
        "description": fault.describe(applied),
        "targets": list(applied.targets),
        "id": applied.token,
    }
    if applied.groups:
        data["groups"] = [list(g) for g in applied.groups]
    engine.record(K.FAULT_START, dict(data))
    return ActiveFault(fault=fault, engine=view, applied=applied, record=data)


def heal_fault(active: ActiveFault) -> None:
    """Heal once (later calls are no-ops) and record ``fault-end`` with the same id."""
    if active.healed:
        return
    active.healed = True
    active.fault.heal(active.engine, active.applied)
    active.engine.record(K.FAULT_END, dict(active.record))


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


class _Until:
    """Heals an item's active faults at the first event matching its ``until`` trigger.

    One hook per item, installed with it (hooks are never removed); a fault is watched from
    the moment it started, so an event before that, or while it was still pending after its
    trigger's delay, does not heal it.  Like every trigger it acts as a separate engine step,
    never inside the event dispatch.
    """

    def __init__(self, inst: Installation, trigger: EventTrigger) -> None:
        self.inst = inst
        self.trigger = on_engine(trigger, inst.engine)
        self.watching: list[Callable[[], None]] = []
        inst.engine.add_event_hook(self.hook)

    def watch(self, end: Callable[[], None]) -> None:
        self.watching.append(end)

    def hook(self, kind: str, data: Mapping[str, Any]) -> None:
        if not self.watching or self.inst.stopped or not self.trigger.matches(kind, data):
            return
        ends, self.watching = self.watching, []
        engine = self.inst.engine
        for end in ends:
            engine.schedule(engine.now_ms(), end)


def _ending(inst: Installation, active: ActiveFault, after: Callable[[], None] | None = None,
            ) -> Callable[[], None]:
    """Heal ``active`` and then run ``after``, once, whichever of its ends (its duration, its
    ``until`` event) comes first."""
    done = False

    def end() -> None:
        nonlocal done
        if done:
            return
        done = True
        inst.heal(active)
        if after is not None:
            after()

    return end


def _schedule_end(inst: Installation, end: Callable[[], None], duration_ms: int | None,
                  until: _Until | None) -> None:
    if duration_ms is not None:
        inst.engine.schedule(inst.engine.now_ms() + duration_ms, end)
    if until is not None:
        until.watch(end)


def _install_at(item: At, inst: Installation) -> None:
    engine = inst.engine
    until_trigger = item.resolved_until()
    until = _Until(inst, until_trigger) if until_trigger is not None else None

    def fire() -> None:
        if inst.stopped:
            return
        active = inst.started(start_fault(engine, item.fault))
        if active is not None:
            _schedule_end(inst, _ending(inst, active), item.duration_ms, until)

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
    skipped: int = 0


_BOUND_LABELS = {K.ROLE: "the leader", K.ACK: "the leader that acknowledged a write",
                 K.READ: "the leader serving a lease read", K.VOTE: "the node that just voted",
                 K.RESTARTED: "the restarted node", K.RESTART: "the restarted node"}


def _install_on_event(item: OnEvent, inst: Installation) -> None:
    engine = inst.engine
    trigger = on_engine(item.resolved_trigger(), engine)
    label = _BOUND_LABELS.get(trigger.kind, f"the node of the {trigger.kind!r} event")
    state = _TriggerState()
    until_trigger = item.resolved_until()
    until = _Until(inst, until_trigger) if until_trigger is not None else None

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

        def idle() -> None:
            state.busy = False

        _schedule_end(inst, _ending(inst, active, idle), item.duration_ms, until)

    def hook(kind: str, data: Mapping[str, Any]) -> None:
        if inst.stopped or state.busy:
            return
        if item.times is not None and state.fired >= item.times:
            return
        if not trigger.matches(kind, data):
            return
        if state.skipped < item.skip:
            state.skipped += 1
            if state.skipped == item.skip and failpoint is not None:
                _arm(engine, failpoint, trigger, item)  # the next match is the one
            return
        bound = None
        if trigger.bind_leader is not None:
            value = data.get(trigger.bind_leader)
            bound = value if isinstance(value, str) else None
        state.busy = True
        # never act inside the engine's event dispatch: run as a separate step, even at delay 0
        engine.schedule(engine.now_ms() + item.delay_ms, lambda: fire(bound))

    engine.add_event_hook(hook)
    failpoint = _failpoint_id(item, trigger, engine)
    if failpoint is not None and item.skip == 0:
        _arm(engine, failpoint, trigger, item)


def _failpoint_id(item: OnEvent, trigger: EventTrigger, engine: Engine) -> str | None:
    """On a real engine, "crash the node that emitted the event" is also armed inside the
    nodes (``arm_failpoint``): the node freezes the moment it emits the event, so the crash
    lands right after the protocol step, as in the simulator, instead of whenever the event
    reaches the driver.  The simulator has no such method and needs none.  With ``skip``,
    it is armed once the skipped events are seen (a node cannot count for the driver)."""
    if getattr(engine, "arm_failpoint", None) is None or not isinstance(item.fault, Crash) or item.delay_ms > 50:
        return None
    own_node = (item.fault.node == "leader" and trigger.bind_leader == "node") or (
        trigger.where.get("node") == item.fault.node
    )
    if not own_node:
        return None
    return f"fp-{trigger.kind}-{id(item):x}"


def _arm(engine: Engine, fp_id: str, trigger: EventTrigger, item: OnEvent) -> None:
    engine.arm_failpoint(fp_id, trigger.kind, dict(trigger.where), item.delay_ms)  # type: ignore[attr-defined]


# --- plain data -> schedule items ---------------------------------------------------------------


def from_dict(data: Mapping[str, Any]) -> Fault | ScheduleItem:
    """Build a schedule item (has "at", "on" or "random") or a fault (has "fault": name)."""
    if not isinstance(data, Mapping):
        raise FaultSpecError(f"expected an object/dict, got {data!r}")
    if any(k in data for k in ("at", "on", "random")):
        return item_from_dict(data)
    return fault_from_dict(data)


def item_from_dict(data: Mapping[str, Any]) -> ScheduleItem:
    """Build an ``At``, ``OnEvent`` or ``RandomFaults`` from its dict form (see module doc)."""
    if not isinstance(data, Mapping):
        raise FaultSpecError(f"a schedule item must be an object, got {data!r}")
    if "at" in data:
        where = "'at' item"
        _only(data, ("at", "duration", "until", "fault"), where)
        return At(
            start_ms=_int(data, "at", where),
            duration_ms=_opt_int(data, "duration", where),
            fault=fault_from_dict(_required(data, "fault", where)),
            until=_opt_trigger(data, "until", where),
        )
    if "on" in data:
        where = "'on' item"
        _only(data, ("on", "duration", "delay", "times", "skip", "until", "fault"), where)
        return OnEvent(
            trigger=_trigger(data["on"], "on", where),
            fault=fault_from_dict(_required(data, "fault", where)),
            duration_ms=_opt_int(data, "duration", where),
            delay_ms=_int(data, "delay", where, default=0),
            times=_opt_int(data, "times", where, default=1),
            skip=_int(data, "skip", where, default=0),
            until=_opt_trigger(data, "until", where),
        )
    if "random" in data:
        where = "'random' item"
        _only(data, ("random", "mean_duration", "kinds", "start", "stop", "max_concurrent"), where)
        kinds = _required(data, "kinds", where)
        if not isinstance(kinds, list | tuple) or not all(isinstance(k, str) for k in kinds):
            raise FaultSpecError(
                f"{where}: field 'kinds' must be a list of fault names, got {kinds!r}"
            )
        rate = data["random"]
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise FaultSpecError(f"{where}: field 'random' must be a rate per second, got {rate!r}")
        return RandomFaults(
            rate_per_s=float(rate),
            mean_duration_ms=_int(data, "mean_duration", where),
            kinds=tuple(kinds),
            start_ms=_int(data, "start", where, default=0),
            stop_ms=_opt_int(data, "stop", where),
            max_concurrent=_int(data, "max_concurrent", where, default=1),
        )
    raise FaultSpecError(
        f"a schedule item needs one of 'at', 'on' or 'random'; got keys {', '.join(data) or 'none'}"
    )


def items_from_list(data: list[Any] | tuple[Any, ...]) -> tuple[ScheduleItem, ...]:
    """A scenario's ``faults`` list; errors are prefixed with the item's index."""
    out = []
    for i, raw in enumerate(data):
        try:
            out.append(item_from_dict(raw))
        except FaultSpecError as err:
            raise FaultSpecError(f"faults[{i}]: {err}") from None
    return tuple(out)


# --- helpers ----------------------------------------------------------------------


def _opt_trigger(data: Mapping[str, Any], key: str, where: str) -> str | EventTrigger | None:
    raw = data.get(key)
    return None if raw is None else _trigger(raw, key, where)


def _trigger(raw: Any, key: str, where: str) -> str | EventTrigger:
    """A trigger field (``on``, ``until``): a trigger name, or an object with ``kind``,
    ``where`` and ``bind_leader``."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, Mapping):
        raise FaultSpecError(f"{where}: field {key!r} must be a trigger name or object, got {raw!r}")
    trigger_where = f"{where} trigger" if key == "on" else f"{where} {key!r} trigger"
    _only(raw, ("kind", "where", "bind_leader"), trigger_where)
    kind = _required(raw, "kind", trigger_where)
    match = raw.get("where", {})
    bind = raw.get("bind_leader")
    if not isinstance(kind, str):
        raise FaultSpecError(f"{trigger_where}: field 'kind' must be a string, got {kind!r}")
    if not isinstance(match, Mapping):
        raise FaultSpecError(f"{trigger_where}: field 'where' must be an object, got {match!r}")
    if bind is not None and not isinstance(bind, str):
        raise FaultSpecError(
            f"{trigger_where}: field 'bind_leader' must be a string or null, got {bind!r}"
        )
    return EventTrigger(kind=kind, where=dict(match), bind_leader=bind)


def _only(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise FaultSpecError(f"{where}: unknown field {key!r}; known: {', '.join(allowed)}")


def _required(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise FaultSpecError(f"{where}: missing field {key!r}")
    return data[key]


def _int(data: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    if key not in data and default is not None:
        return default
    value = _required(data, key, where)
    return _as_int(value, key, where)


def _opt_int(
    data: Mapping[str, Any], key: str, where: str, default: int | None = None
) -> int | None:
    value = data.get(key, default)
    return None if value is None else _as_int(value, key, where)


def _as_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{where}: field {key!r} must be a whole number of ms, got {value!r}")
    return value
