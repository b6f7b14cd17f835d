"""Log-broker generations only grow, and a consumer drops a late record of an older one.

Found by ``splitbrain explore kafka-rebalance-redelivery-correct --no-flaws``: a record pushed
in an old generation reached a paused consumer after the current generation's records; the
consumer took it as current, retired the real current generation, and dropped every later
record as stale, so its partition stopped for good.
"""

from __future__ import annotations

import random

from cluster.core.broker_model import LogBroker
from cluster.core.consumer import Consumer
from cluster.core.saga_config import SagaConfig
from cluster.core.saga_messages import Deliver, Publish, Subscribe
from cluster.core.storage import MemoryStorage
from cluster.core.types import ReadyBuilder

CFG = SagaConfig(broker="log", partitions=1)


class _Handler:
    def __init__(self) -> None:
        self.got: list[tuple[int, int]] = []

    def process(self, d: Deliver, now_ms: int, *, acked: bool) -> None:
        self.got.append((d.generation, d.offset))


def _deliver(generation: int, offset: int, committed: int = 0) -> Deliver:
    return Deliver("n1", "n2", "orchestrator", 0, offset, f"p0@{offset}", f"m{offset}", f"r{offset}", "k", (),
                   False, generation=generation, committed=committed)


def _consumer() -> tuple[Consumer, _Handler, ReadyBuilder]:
    out, handler = ReadyBuilder(), _Handler()
    return Consumer("n2", "n1", "orchestrator", CFG, session="s1", out=out, handler=handler), handler, out


def test_a_late_record_of_an_older_generation_is_dropped_and_the_current_one_goes_on() -> None:
    c, handler, out = _consumer()
    c.on_deliver(_deliver(14, 0), 100)
    c.on_deliver(_deliver(3, 0), 200)  # pushed before the rebalance, delayed past it
    c.on_deliver(_deliver(14, 1), 300)
    assert handler.got == [(14, 0), (14, 1)]
    stale = [e.data for e in out.events if e.kind == "stale-delivery"]
    assert stale == [{"partition": 0, "offset": 0, "generation": 3}]


def test_a_newer_generation_still_replaces_the_current_one() -> None:
    c, handler, _ = _consumer()
    c.on_deliver(_deliver(3, 0), 100)
    c.on_deliver(_deliver(14, 0), 200)  # a rebalance rewound to the committed offset
    c.on_deliver(_deliver(3, 1), 300)  # the old generation is retired
    assert handler.got == [(3, 0), (14, 0)]


def _generation_after_join(b: LogBroker, now_ms: int, session: str) -> int:
    b.tick(now_ms)
    b.step(Subscribe("n3", "n1", "flight", session))
    b.step(Publish("n2", "n1", "flight", "t1", "k1", "r1", ()))
    ds = [m for m in b.ready().messages if isinstance(m, Deliver)]
    return ds[-1].generation


def test_a_restarted_broker_hands_out_higher_generations_than_before() -> None:
    """Without this, a consumer that drops lower generations would drop everything a
    restarted broker (which draws its first generation afresh) sends.  Its local clock
    restarts at 0 with it, so the floor is kept on disk, not derived from the time."""
    disk = MemoryStorage()
    b = LogBroker("n1", CFG, random.Random(7))
    seen = [_generation_after_join(b, 10, "s1")]
    disk.write(b.ready().persist, True)
    for seed in (3, 1, 998, 5):  # whatever each restarted incarnation draws
        again = LogBroker("n1", CFG, random.Random(seed), disk.load())
        disk.write(again.ready().persist, True)
        seen.append(_generation_after_join(again, 10, f"s{seed}"))
        for _ in range(3):  # rebalances within the incarnation
            again.tick(10_000 + len(seen))
            seen.append(_generation_after_join(again, 10_000 + len(seen), f"s{seed}-{len(seen)}"))
        disk.write(again.ready().persist, True)
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
