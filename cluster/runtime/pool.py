"""Many independent jobs as Ray tasks: a bounded pool that yields results as they finish.

A sweep runs thousands of simulator runs, each a pure function of (scenario, seed); Ray
spreads them over every CPU of the cluster it is connected to (a local one, or one joined
with ``--ray-address``).  :class:`TaskPool` keeps at most ``workers`` tasks in flight, so
a long campaign never floods the scheduler with ten thousand pending tasks, and yields
each :class:`Done` in completion order.

Why an interrupted pool never calls ``ray.cancel``: in Ray's core worker a cancellation
that meets the task's own completion (its reply, or its worker's death under
``force=True``) fails a check and aborts the whole driver with a C++ stack dump
(ray-project/ray#54527 fixed one such path; a sweep interrupted by Ctrl-C still hit
another in Ray 2.60).  Nothing needs it: the tasks belong to the driver's job, so they
stop when the Ray session ends -- a private local Ray is stopped with everything in it,
and a cluster kills a disconnected driver's tasks.  The pool only stops waiting for them.

Why the pool sizes each task's CPU share itself: Ray admits a task only where its
``num_cpus`` fits, so ``workers`` beyond the CPUs Ray sees would silently run no faster.
When the user asks for more workers than CPUs (to overlap a slow disk, or on purpose),
each task asks for ``cpus / workers`` of a CPU instead of one, and exactly ``workers`` run.

The pool knows nothing of scenarios: it ships a function and its arguments (the shared
argument once, through the object store) and reports where each task ran
(:func:`here`), which is all a campaign needs to say "seed 42 ran on 10.0.0.7".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Done", "TaskPool", "cluster_cpus", "cpu_share", "here", "ray_nodes"]

T = TypeVar("T")

_RETRIES = 2
"""Ray re-runs a task whose worker process died (not one whose code raised): a simulator
run is a pure function of its inputs, so running it again is safe."""


@dataclass(frozen=True)
class Done(Generic[T]):
    """One finished job: its item, its value, or why there is none (the task raised, or
    its worker died more often than it was retried)."""

    item: T
    value: Any = None
    error: str | None = None


def here() -> str:
    """The address of the Ray node running the caller (``"local"`` outside Ray)."""
    try:
        import ray

        if not ray.is_initialized():
            return "local"
        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001 - a label, never worth failing a run for
        return "unknown"


def cluster_cpus() -> float:
    """The CPUs the connected Ray cluster offers (all alive nodes together)."""
    import ray

    return float(ray.cluster_resources().get("CPU", 0.0))


def cpu_share(workers: int) -> float:
    """The ``num_cpus`` each of ``workers`` concurrent tasks asks for: one CPU, or an equal
    share of the cluster's CPUs when the user asks for more workers than there are CPUs
    (see the module doc)."""
    cpus = cluster_cpus()
    return 1.0 if workers <= cpus or cpus <= 0 else max(0.0001, round(cpus / workers, 4))


def ray_nodes() -> list[dict[str, Any]]:
    """The alive Ray nodes: ``{"id", "ip", "cpus"}`` each, in a stable order."""
    import ray

    out = []
    for n in ray.nodes():
        if n.get("Alive"):
            out.append({"id": str(n["NodeID"]), "ip": str(n.get("NodeManagerAddress", "")),
                        "cpus": float(n.get("Resources", {}).get("CPU", 0.0))})
    return sorted(out, key=lambda n: (n["ip"], n["id"]))


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[-1] if text else ''}".strip()


class TaskPool(Generic[T]):
    """``fn(shared, item)`` for every item, as Ray tasks, at most ``workers`` at a time.

    Use :meth:`run` as an iterator; leaving it early (break, an exception, Ctrl-C) drops
    what is still in flight (:meth:`abandon`), which ends with the caller's Ray session.
    """

    def __init__(self, fn: Callable[[Any, T], Any], *, workers: int, shared: Any = None) -> None:
        import ray

        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        share = cpu_share(workers)
        self.cpus_per_task = share
        self._remote = ray.remote(fn).options(num_cpus=share, max_retries=_RETRIES)
        self._shared = ray.put(shared)
        self._pending: dict[Any, T] = {}

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def run(self, items: Iterable[T], *, poll_s: float = 0.25,
            on_idle: Callable[[], None] | None = None) -> Iterator[Done[T]]:
        """Yield every item's :class:`Done` as it finishes; ``on_idle`` is called whenever
        ``poll_s`` passes with nothing finished (progress bars tick on it)."""
        import ray

        todo = deque(items)
        try:
            while todo or self._pending:
                while todo and len(self._pending) < self.workers:
                    item = todo.popleft()
                    self._pending[self._remote.remote(self._shared, item)] = item
                ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=poll_s)
                if not ready:
                    if on_idle is not None:
                        on_idle()
                    continue
                for ref in ready:
                    item = self._pending.pop(ref)
                    try:
                        yield Done(item, ray.get(ref))
                    except ray.exceptions.RayError as e:
                        yield Done(item, error=_short(e))
        finally:
            self.abandon()

    def abandon(self) -> list[T]:
        """Stop waiting for the tasks still in flight and return their items.  They are
        not cancelled (see the module doc): they end with the Ray session, which the
        caller is about to close."""
        items = list(self._pending.values())
        self._pending = {}
        return items
