"""The simulated network: per directed link cut, loss, delay, jitter, duplication, reorder.

Every random decision comes from one seeded stream, so a seed fixes every message's fate.
Links are *directed* because real partitions often are (a firewall rule drops one way;
a node can hear the leader but not answer it), and one-way cuts find bugs symmetric ones
cannot.

Healthy links are FIFO: each message gets a base latency drawn uniformly from
``base_latency_ms`` but never arrives before an earlier message on the same link, like a
TCP or gRPC stream.  Reordering is therefore an explicit fault (``reorder``): the chosen
messages get an extra random delay and skip the FIFO clamp so later ones may overtake them.
Keeping the common case FIFO matters because the cores' correctness arguments are written
against stream transports; a test that needs reordering asks for it.

Only links that differ from the healthy default are stored, so the per-message cost on a
healthy cluster is one dict lookup, one random draw and one FIFO update.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["DROP_CUT", "DROP_LOSS", "LinkState", "SimNetwork"]

DROP_CUT = "cut"
DROP_LOSS = "loss"


@dataclass(slots=True)
class LinkState:
    """Settings of one directed link; the defaults are a healthy link."""

    cut: bool = False
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    def healthy(self) -> bool:
        return not self.cut and not (
            self.loss or self.delay_ms or self.jitter_ms or self.duplicate or self.reorder
        )

    def degraded(self) -> bool:
        """Anything besides the cut flag set?"""
        return bool(self.loss or self.delay_ms or self.jitter_ms or self.duplicate or self.reorder)


def _check_prob(name: str, p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"link {name} must be between 0 and 1, got {p!r}")
    return float(p)


class SimNetwork:
    """Decides when (and whether) each message arrives.  Holds no messages itself.

    :meth:`plan` only answers "deliver at these times" or "drop, because ..."; the
    :class:`~cluster.sim.transport.Transport` carries the answer out on the scheduler's
    heap.  That keeps the network a pure function of (seed, settings, call order) and
    trivially testable.
    """

    __slots__ = ("_rng", "_random", "_lo", "_span", "_links", "cuts", "_last", "_hi")

    def __init__(self, rng: random.Random, base_latency_ms: tuple[int, int] = (1, 5)) -> None:
        lo, hi = base_latency_ms
        if lo < 0 or hi < lo:
            raise ValueError(f"base latency must satisfy 0 <= lo <= hi, got {base_latency_ms!r}")
        self._rng = rng
        self._random = rng.random
        self._lo = int(lo)
        self._hi = int(hi)
        self._span = int(hi) - int(lo) + 1
        self._links: dict[tuple[str, str], LinkState] = {}
        # The cut directions.  Membership only (never iterated), so determinism does not
        # depend on hash order.  Read at every arrival (a cut acts on messages in flight);
        # changed only through cut/restore.
        self.cuts: set[tuple[str, str]] = set()
        self._last: dict[tuple[str, str], int] = {}

    # --- settings -------------------------------------------------------------------------------

    def link(self, src: str, dst: str) -> LinkState:
        """The current settings of ``src -> dst`` (a copy; healthy if never touched)."""
        st = self._links.get((src, dst))
        return LinkState() if st is None else LinkState(
            st.cut, st.loss, st.delay_ms, st.jitter_ms, st.duplicate, st.reorder
        )

    def cut(self, src: str, dst: str) -> None:
        key = (src, dst)
        st = self._links.get(key)
        if st is None:
            st = self._links[key] = LinkState()
        st.cut = True
        self.cuts.add(key)

    def restore(self, src: str, dst: str) -> None:
        key = (src, dst)
        self.cuts.discard(key)
        st = self._links.get(key)
        if st is not None:
            st.cut = False
            if st.healthy():
                del self._links[key]

    def set_link(
        self,
        src: str,
        dst: str,
        *,
        loss: float = 0.0,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
    ) -> None:
        """Replace the degradation of ``src -> dst`` (the cut flag is left as it is)."""
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError("link delay_ms and jitter_ms must be >= 0")
        key = (src, dst)
        st = LinkState(
            key in self.cuts,
            _check_prob("loss", loss),
            float(delay_ms),
            float(jitter_ms),
            _check_prob("duplicate", duplicate),
            _check_prob("reorder", reorder),
        )
        if st.healthy():
            self._links.pop(key, None)
        else:
            self._links[key] = st

    def is_cut(self, src: str, dst: str) -> bool:
        return (src, dst) in self.cuts

    # --- the hot path ---------------------------------------------------------------------------

    def plan(self, now: int, src: str, dst: str) -> tuple[int, ...] | str:
        """Arrival times for one message sent now (a second time is a duplicate), or why
        it is dropped (:data:`DROP_CUT`, :data:`DROP_LOSS`)."""
        rnd = self._random
        key = (src, dst)
        at = now + self._lo + int(rnd() * self._span)
        links = self._links
        st = links.get(key) if links else None
        last = self._last
        if st is None:
            prev = last.get(key, 0)
            if at < prev:
                at = prev
            last[key] = at
            return (at,)
        if st.cut:
            return DROP_CUT
        if st.loss and rnd() < st.loss:
            return DROP_LOSS
        extra = st.delay_ms
        if st.jitter_ms:
            extra += (2.0 * rnd() - 1.0) * st.jitter_ms
        if extra > 0:
            at += round(extra)
        if st.reorder and rnd() < st.reorder:
            # Held back past the window in which later messages arrive, so they overtake it.
            window = 2 * (self._hi + int(st.delay_ms + st.jitter_ms)) + 10
            at += 1 + int(rnd() * window)
        else:
            prev = last.get(key, 0)
            if at < prev:
                at = prev
            last[key] = at
        if st.duplicate and rnd() < st.duplicate:
            return (at, at + int(rnd() * (self._hi + 1)))
        return (at,)
