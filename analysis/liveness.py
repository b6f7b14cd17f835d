"""Liveness of a log: every committed event is handled -- processed or dead-lettered -- in time.

Safety checkers cannot see a consumer that stops: a partition blocked forever behind one
event that always fails passes every "nothing went wrong" check, because nothing happens at
all.  This checker asks the liveness question instead: once the faults have healed and a
quiet period of ``bound_ms`` has passed, has every event committed to the log (more than
``bound_ms`` before the end) been dealt with?  If not, the partition is named with where it
stopped: "events/0 is stuck behind offset 17 since 4.2 s".

Any system can use it by writing these trace records (``docs/results.md``, "Liveness"):

* a **committed** event: ``broker-append`` {topic, partition, offset, msg_id} (a simulated
  broker appended it) or ``produced`` {topic, partition, offset, msg_id} (a producer was told
  where it landed: on a real broker, the only witness);
* a **handled** event: ``handled`` {topic, partition, offset, msg_id, outcome}, once a
  consumer is done with that position for good (``processed``, ``dead-lettered``, ``parked``,
  or ``duplicate`` for a redelivery it had already handled);
* evidence, optional: ``consume`` {topic, partition, offset} (a delivery reached a consumer)
  and ``process-failed`` {topic, partition, offset, attempt}.

Every topic with committed events is judged, so a system that opts in writes ``handled`` for
every topic it consumes.  Two findings:

* ``no-stuck-partition`` -- the partition's consumer stopped: an event and everything after it
  in its partition were never handled;
* ``no-skipped-event`` -- an event was never handled although later events of its partition
  were (at-most-once: its offset was committed without processing it).

The quiet period is :func:`analysis.idempotency.settle_window`'s: it starts when the last
fault and its after-effects (a clock stepped back re-reads the time it already passed) are
over, and a node still down at the end means there was none.  Without one, unhandled
events are only reported as unsettled (not judged).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis import trace_kinds as K
from analysis.idempotency import SETTLE_MS, Findings, settle_window

__all__ = ["check_trace"]

Stream = tuple[str, int]


def _pos(r: dict[str, Any]) -> tuple[Stream, int] | None:
    off = r.get("offset")
    if r.get("topic") is None or off is None or int(off) < 0:
        return None
    return (str(r["topic"]), int(r.get("partition", 0))), int(off)


def check_trace(records: Iterable[dict[str, Any]], bound_ms: int = SETTLE_MS) -> dict[str, Any]:
    recs = list(records)
    f = Findings("liveness", recs)
    cutoff, quiet = settle_window(recs, bound_ms)
    committed: dict[Stream, dict[int, tuple[int, Any]]] = {}  # stream -> offset -> (t, msg_id)
    handled: dict[Stream, dict[int, tuple[int, str]]] = {}  # stream -> offset -> (t, outcome)
    delivered: dict[tuple[Stream, int], int] = {}  # first delivery time
    failures: dict[tuple[Stream, int], int] = {}
    outcomes: dict[str, int] = {}
    for r in recs:
        kind = r.get("kind")
        if kind not in (K.BROKER_APPEND, K.PRODUCED, K.HANDLED, K.CONSUME, K.PROCESS_FAILED):
            continue
        at = _pos(r)
        if at is None:
            continue
        stream, off = at
        t = int(r.get("t", 0))
        if kind in (K.BROKER_APPEND, K.PRODUCED):
            mine = committed.setdefault(stream, {})
            if off not in mine or t < mine[off][0]:
                mine[off] = (t, r.get("msg_id"))
        elif kind == K.HANDLED:
            done = handled.setdefault(stream, {})
            if off not in done:
                outcome = str(r.get("outcome", "processed"))
                done[off] = (t, outcome)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        elif kind == K.CONSUME:
            delivered.setdefault((stream, off), t)
        else:
            failures[(stream, off)] = failures.get((stream, off), 0) + 1
    stuck = skipped = 0
    for stream in sorted(committed):
        name = f"{stream[0]}/{stream[1]}"
        events = committed[stream]
        done = handled.get(stream, {})
        due = sorted(o for o, (t, _) in events.items() if t <= cutoff and o not in done)
        if not due:
            continue
        if not quiet:
            f.unsettled.extend(f"{name}@{o}" for o in due[:5])
            continue
        top = max(done, default=-1)
        lost = [o for o in due if o < top]
        for o in lost:
            skipped += 1
            t_c, mid = events[o]
            f.add("no-skipped-event", t_c,
                  f"event {mid} at {name} offset {o} (committed at {t_c} ms) was never processed or "
                  f"dead-lettered, although later events of the partition were (up to offset {top}). "
                  f"{_delivery_note(delivered.get((stream, o)), failures.get((stream, o), 0))}"
                  "Its offset was committed without handling it: at-most-once delivery.",
                  key=str(mid), stream=name, offset=o, anomaly="lost-message")
        blocked = [o for o in due if o > top]
        if blocked and f.unfinished and not failures.get((stream, blocked[0])):
            # The system was still working at the end and nothing failed at the head of the
            # queue: a consumer behind on a backlog, not (yet) a stuck one.
            f.unsettled.extend(f"{name}@{o}" for o in blocked[:5])
        elif blocked:
            stuck += 1
            head = blocked[0]
            t_c, mid = events[head]
            progress = max((t for o, (t, _) in done.items() if o < head), default=t_c)
            since = max(t_c, progress, delivered.get((stream, head), t_c))
            later = [o for o in events if o > head]
            behind = (f", and the {len(later)} later event(s) of the partition (offsets {min(later)}-"
                      f"{max(later)}) are waiting behind it" if later else "")
            f.add("no-stuck-partition", since,
                  f"{name} is stuck behind offset {head} since {since / 1000:.1f} s: event {mid}, committed "
                  f"at {t_c} ms, was never processed or dead-lettered{behind}. "
                  f"{_delivery_note(delivered.get((stream, head)), failures.get((stream, head), 0))}"
                  f"Nothing moved for the last {(_end(recs) - since) / 1000:.1f} s, {bound_ms / 1000:g} s of "
                  "them with every fault healed: an event that can never succeed needs a retry budget "
                  "and a dead-letter queue, or it blocks its partition forever.",
                  key=str(mid), stream=name, offset=head, anomaly="stuck-partition")
    n_committed = sum(len(v) for v in committed.values())
    n_handled = sum(len(v) for v in handled.values())
    shown = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
    return f.result(
        f"Every one of the {n_committed} committed events that was due was handled within the "
        f"{bound_ms / 1000:g} s bound ({shown or 'none handled'}); no partition stuck, none skipped.",
        {"committed": n_committed, "handled": n_handled, "outcomes": outcomes, "stuck": stuck,
         "skipped": skipped, "bound_ms": bound_ms, "quiet": quiet},
    )


def _end(recs: list[dict[str, Any]]) -> int:
    return max((int(r.get("t", 0)) for r in recs), default=0)


def _delivery_note(first_delivery: int | None, failed: int) -> str:
    if first_delivery is None:
        return "It never reached a consumer. "
    tried = f" and failed processing {failed} time(s)" if failed else ""
    return f"It first reached the consumer at {first_delivery} ms{tried}. "
