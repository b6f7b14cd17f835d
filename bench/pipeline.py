"""End-to-end pipeline benchmark over real brokers: publish -> consume -> effect -> ack.

For RabbitMQ (private node, or --amqp-url) and a Kafka-protocol broker (private Tansu, or
--kafka-bootstrap) it measures:

* events/s: unique effects per second, from the first publish to the last first-time
  effect (the consumer applies an effect once per idempotency key, like an idempotent
  consumer core would);
* latency: from the start of the publish (stand-in for the outbox commit) to the
  consumer's first effect for that message, p50/p99/max;
* publish/s: the publisher's own rate with a broker confirm per message ("each") or per
  batch of 100 ("batch": a RabbitMQ transaction / one Kafka flush); "noconfirm"
  (RabbitMQ only, not in the default set) shows what confirms cost;
* with --crash-every N (default 1000): after every N new effects the consumer "crashes"
  (connection dropped with its current batch of up to 100 applied but not acked) and a
  new one takes over; duplicates = redelivered messages whose effect was already
  applied.  On Kafka each crash also pays a group rejoin (~3 s on Tansu).

Prints a table and writes JSON to ``--out`` (default splitbrain-bench/pipeline.json in the
temp folder).  Exit code 3 if a broker is not
installed or not reachable (the message says what to install).

Run:  .venv/bin/python bench/pipeline.py [--messages 5000] [--brokers rabbitmq,kafka]
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.output import default_out, write_json  # noqa: E402
from cluster.runtime.brokers import (  # noqa: E402
    BrokerSetupError,
    Endpoint,
    KafkaConsumer,
    OutMessage,
    broker_endpoint,
    normalize_kind,
    open_consumer,
    open_publisher,
)

_STAMP = struct.Struct("!qq")  # message index, publish-start time (ns, perf_counter)


@dataclass(frozen=True)
class Row:
    broker: str
    publish: str
    crash_every: int
    messages: int
    effects: int
    duplicates: int
    crashes: int
    seconds: float
    events_per_s: float
    publish_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def run_one(
    ep: Endpoint,
    *,
    messages: int,
    publish_mode: str,
    crash_every: int,
    timeout: float,
    session_timeout_ms: int = 6000,
) -> Row:
    """One measured run on a fresh topic/queue."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    group = f"g-{topic}"
    opts: dict[str, object] = {"partitions": 4} if ep.kind == "kafka" else {}
    if publish_mode == "noconfirm":
        opts["confirm"] = False
    pub = open_publisher(ep.kind, ep.address, topic, **opts)
    consumer_opts: dict[str, object] = (
        {"prefetch": 200} if ep.kind == "rabbitmq" else {"session_timeout_ms": session_timeout_ms}
    )
    con = open_consumer(ep.kind, ep.address, topic, group=group, **consumer_opts)
    if isinstance(con, KafkaConsumer):
        con.wait_assigned(30.0)  # a first join is slow on Tansu; not part of the pipeline

    publish_seconds = 0.0
    publish_error: list[BaseException] = []

    def publisher() -> None:
        nonlocal publish_seconds
        t0 = time.perf_counter()
        try:
            if publish_mode in ("each", "noconfirm"):
                for i in range(messages):
                    body = _STAMP.pack(i, time.perf_counter_ns())
                    pub.publish(f"agg-{i % 64}", body, idempotency_key=f"m{i}")
            else:
                for start in range(0, messages, 100):
                    now = time.perf_counter_ns()
                    pub.publish_many(
                        [
                            OutMessage(
                                f"agg-{i % 64}", _STAMP.pack(i, now), idempotency_key=f"m{i}"
                            )
                            for i in range(start, min(messages, start + 100))
                        ]
                    )
        except BaseException as exc:  # reported by the main thread
            publish_error.append(exc)
        publish_seconds = time.perf_counter() - t0

    seen: set[int] = set()
    latencies: list[float] = []
    duplicates = crashes = since_crash = 0
    t_start = time.perf_counter()
    t_last = t_start
    thread = threading.Thread(target=publisher, name="bench-publisher", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while len(seen) < messages and time.monotonic() < deadline:
        if publish_error:
            raise publish_error[0]
        batch = con.poll(0.2, max_messages=100)
        if not batch:
            continue
        now = time.perf_counter_ns()
        before = len(seen)
        for d in batch:
            index, stamp = _STAMP.unpack(d.payload)
            if index in seen:
                duplicates += 1
                continue
            seen.add(index)  # the effect
            latencies.append((now - stamp) / 1e6)
        t_last = time.perf_counter()
        since_crash += len(seen) - before
        if crash_every and since_crash >= crash_every and len(seen) < messages:
            con.reopen()  # crash: this batch's effects are applied but never acked
            crashes += 1
            since_crash = 0
            if isinstance(con, KafkaConsumer):
                con.wait_assigned(30.0)
            continue
        con.ack_many(batch)
    thread.join(timeout=30)
    con.close()
    pub.close()
    if publish_error:
        raise publish_error[0]
    latencies.sort()
    elapsed = max(t_last - t_start, 1e-9)
    return Row(
        broker=ep.kind if ep.node is None else f"{ep.kind} ({type(ep.node).__name__})",
        publish=publish_mode,
        crash_every=crash_every,
        messages=messages,
        effects=len(seen),
        duplicates=duplicates,
        crashes=crashes,
        seconds=round(elapsed, 3),
        events_per_s=round(len(seen) / elapsed, 1),
        publish_per_s=round(messages / max(publish_seconds, 1e-9), 1),
        p50_ms=round(percentile(latencies, 0.50), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        max_ms=round(latencies[-1] if latencies else float("nan"), 2),
    )


def print_table(rows: list[Row]) -> None:
    head = (
        "broker",
        "publish",
        "crash/N",
        "effects",
        "dups",
        "crashes",
        "events/s",
        "publish/s",
        "p50 ms",
        "p99 ms",
        "max ms",
    )
    body = [
        (
            r.broker,
            r.publish,
            str(r.crash_every or "-"),
            f"{r.effects}/{r.messages}",
            str(r.duplicates),
            str(r.crashes),
            f"{r.events_per_s:,.0f}",
            f"{r.publish_per_s:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--brokers", default="rabbitmq,kafka", help="comma list: rabbitmq, kafka")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--crash-every", type=int, default=1000, help="0: only runs without crashes")
    ap.add_argument(
        "--publish",
        default="each,batch",
        help="comma list: each (confirm per message), batch (per 100), "
        "noconfirm (RabbitMQ without confirms: what confirms cost)",
    )
    ap.add_argument("--amqp-url", help="use this RabbitMQ instead of a private node")
    ap.add_argument("--kafka-bootstrap", help="use this Kafka-protocol broker instead of Tansu")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    ap.add_argument(
        "--session-timeout-ms",
        type=int,
        default=6000,
        help="Kafka consumer session timeout; Tansu makes each (re)join wait about half",
    )
    ap.add_argument("--out", default=default_out("pipeline"))
    args = ap.parse_args(argv)

    rows: list[Row] = []
    try:
        kinds = [normalize_kind(k.strip()) for k in args.brokers.split(",") if k.strip()]
        modes = [m.strip() for m in args.publish.split(",") if m.strip()]
        for m in modes:
            if m not in ("each", "batch", "noconfirm"):
                ap.error(f"unknown publish mode {m!r} (each, batch, noconfirm)")
        crash_modes = [0] + ([args.crash_every] if args.crash_every > 0 else [])
        for kind in kinds:
            with ExitStack() as stack:
                ep = stack.enter_context(
                    broker_endpoint(
                        kind, amqp_url=args.amqp_url, kafka_bootstrap=args.kafka_bootstrap
                    )
                )
                for mode in modes:
                    if mode == "noconfirm" and kind != "rabbitmq":
                        continue  # Kafka has no unconfirmed mode worth measuring here
                    for crash_every in crash_modes:
                        row = run_one(
                            ep,
                            messages=args.messages,
                            publish_mode=mode,
                            crash_every=crash_every,
                            timeout=args.timeout,
                            session_timeout_ms=args.session_timeout_ms,
                        )
                        rows.append(row)
                        print(
                            f"  {row.broker} publish={mode} crash_every={crash_every or '-'}: "
                            f"{row.events_per_s:,.0f} events/s, p99 {row.p99_ms:.1f} ms",
                            flush=True,
                        )
    except BrokerSetupError as exc:
        print(f"bench/pipeline: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    print()
    print_table(rows)
    out = write_json(args.out, {
        "benchmark": "pipeline",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "params": {"messages": args.messages, "session_timeout_ms": args.session_timeout_ms,
                   "crash_every": args.crash_every, "publish": modes, "brokers": kinds},
        "results": [asdict(r) for r in rows],
    })
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
