"""The simulator as a whole: determinism, network faults, pauses, crashes, clocks, clients."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from analysis.history import History
from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientRequest, CoreEvent
from cluster.sim.workload import Op
from cluster.spec import RecordsOn
from tests.sim import Ping, RandomRegister, core, make_sim, scripted


def _chaos(seed: int) -> tuple[str, str]:
    """A run touching every mechanism, returned as (history, trace) JSON lines."""
    sim = make_sim(seed=seed, clients=4, workload=RandomRegister(), ping=True, announce_put=True,
                   lose_unsynced="prefix")
    sim.set_link("n2", "n3", loss=0.2, delay_ms=5, jitter_ms=3, duplicate=0.2, reorder=0.2)
    sim.schedule(100, lambda: sim.cut("n1", "n3"))
    sim.schedule(200, lambda: sim.restore("n1", "n3"))
    sim.schedule(150, lambda: sim.pause("n2"))
    sim.schedule(250, lambda: sim.resume("n2"))
    sim.schedule(300, lambda: sim.crash("n1"))
    sim.schedule(360, lambda: sim.restart("n1"))
    sim.schedule(120, lambda: sim.set_clock("n3", offset_ms=50, rate=1.5))
    sim.schedule(400, lambda: sim.jump_clock("n3", -200))
    sim.run(300)
    sim.run(300)  # runs compose
    return sim.history_jsonl(), sim.trace_jsonl()


def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    a, b, c = _chaos(7), _chaos(7), _chaos(8)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]
    kinds = {line.split('"kind":"')[1].split('"')[0] for line in a[1].splitlines()}
    for k in ("send", "deliver", "drop", "dup", "store", "crash", "restart", "pause", "resume",
              "clock", "link", "client-invoke", "client-complete", "apply", "role"):
        assert k in kinds, k


def test_chunked_runs_equal_one_run() -> None:
    one = make_sim(clients=3, workload=RandomRegister(), ping=True)
    one.run(500)
    two = make_sim(clients=3, workload=RandomRegister(), ping=True)
    for _ in range(5):
        two.run(100)
    assert one.now_ms() == two.now_ms() == 500
    assert one.trace_jsonl() == two.trace_jsonl()
    assert one.history_jsonl() == two.history_jsonl()


def test_adding_a_client_does_not_perturb_the_network_stream() -> None:
    a = make_sim(ping=True, clients=0)
    b = make_sim(ping=True, clients=0)
    b.network.plan(0, "x", "y")  # an extra draw elsewhere changes the network...
    a.run(200)
    b.run(200)
    assert core(a, "n2").got != [] and a.trace_jsonl() != b.trace_jsonl()
    # ...but client streams are separate: node rngs never depend on the client count.
    c0, c3 = make_sim(clients=0), make_sim(clients=3, workload=RandomRegister())
    assert core(c0, "n1").first_draw == core(c3, "n1").first_draw


# --- network ------------------------------------------------------------------------------------


def _wire(sim: Any, kind: str, src: str, dst: str) -> list[dict[str, Any]]:
    return [r for r in sim.trace if r["kind"] == kind and r.get("src") == src and r.get("dst") == dst]


def test_loss_is_observed() -> None:
    sim = make_sim(ping=True)
    sim.set_link("n1", "n2", loss=0.5)
    sim.run(2000)
    got = [n for src, n in core(sim, "n2").got if src == "n1"]
    sent = len(_wire(sim, "send", "n1", "n2"))
    assert 0.3 * sent < len(got) < 0.7 * sent
    assert {r["reason"] for r in _wire(sim, "drop", "n1", "n2")} == {"loss"}
    assert len([n for src, n in core(sim, "n2").got if src == "n3"]) >= 190


def test_delay_is_observed() -> None:
    sim = make_sim(ping=True)
    sim.set_link("n1", "n2", delay_ms=80)
    sim.run(1000)
    sent = {r["mid"]: r["t"] for r in _wire(sim, "send", "n1", "n2")}
    lat = [r["t"] - sent[r["mid"]] for r in _wire(sim, "deliver", "n1", "n2")]
    assert lat and min(lat) >= 81
    other = {r["mid"]: r["t"] for r in _wire(sim, "send", "n1", "n3")}
    assert max(r["t"] - other[r["mid"]] for r in _wire(sim, "deliver", "n1", "n3")) <= 5


def test_duplicates_are_observed() -> None:
    sim = make_sim(ping=True)
    sim.set_link("n1", "n2", duplicate=1.0)
    sim.run(500)
    got = [n for src, n in core(sim, "n2").got if src == "n1"]
    assert len(got) > len(set(got))
    assert len(_wire(sim, "dup", "n1", "n2")) == len(_wire(sim, "send", "n1", "n2"))


def test_reorder_is_observed_and_healthy_links_stay_fifo() -> None:
    sim = make_sim(ping=True)
    sim.set_link("n1", "n2", reorder=0.3)
    sim.set_link("n1", "n3", jitter_ms=20)  # jitter alone does not reorder
    sim.run(2000)
    reordered = [n for src, n in core(sim, "n2").got if src == "n1"]
    fifo = [n for src, n in core(sim, "n3").got if src == "n1"]
    assert reordered != sorted(reordered)
    assert fifo == sorted(fifo)


def test_one_way_cut_drops_only_that_direction_until_restored() -> None:
    sim = make_sim(ping=True)
    sim.run(100)
    sim.cut("n1", "n2")
    mark = (len(core(sim, "n2").got), len(core(sim, "n1").got))
    sim.run(200)
    n2_new = core(sim, "n2").got[mark[0]:]
    n1_new = core(sim, "n1").got[mark[1]:]
    assert not any(src == "n1" for src, _ in n2_new)
    assert any(src == "n2" for src, _ in n1_new)
    assert {r["reason"] for r in _wire(sim, "drop", "n1", "n2")} == {"cut"}
    sim.restore("n1", "n2")
    sim.run(100)
    assert any(src == "n1" for src, _ in core(sim, "n2").got[len(n2_new) + mark[0]:])


def test_cut_drops_messages_already_in_flight() -> None:
    sim = make_sim(ping=True)
    sim.set_link("n1", "n2", delay_ms=50)
    sim.run(100)
    sim.cut("n1", "n2")
    before = len(core(sim, "n2").got)
    sim.run(100)
    assert [s for s, _ in core(sim, "n2").got[before:]] == ["n3"] * (len(core(sim, "n2").got) - before)
    in_flight = [r for r in _wire(sim, "drop", "n1", "n2") if r["t"] > 100]
    assert any(r["reason"] == "cut" for r in in_flight)


# --- pause --------------------------------------------------------------------------------------


def test_pause_stops_ticks_queues_messages_and_delivers_them_in_order_on_resume() -> None:
    sim = make_sim(ping=True)
    sim.run(100)
    sim.pause("n2")
    assert sim.node_state("n2") == "paused"
    ticks, got = len(core(sim, "n2").ticks), len(core(sim, "n2").got)
    sim.run(200)
    assert len(core(sim, "n2").ticks) == ticks and len(core(sim, "n2").got) == got
    assert not [r for r in _wire(sim, "send", "n2", "n1") if r["t"] > 100]
    sim.resume("n2")
    queued = core(sim, "n2").got[got:]
    assert len(queued) >= 30
    from_n1 = [n for s, n in queued if s == "n1"]
    assert from_n1 == sorted(from_n1)
    late = [r["t"] for r in _wire(sim, "deliver", "n1", "n2") if r["t"] > 100]
    assert late and set(late) == {300}  # queued arrivals are processed at resume time
    resumed = [r for r in sim.trace if r["kind"] == "resume"]
    assert resumed and resumed[0]["queued"] == len(queued)
    sim.run(100)
    assert len(core(sim, "n2").ticks) >= ticks + 9


def test_a_resumed_node_sees_the_time_before_it_handles_its_backlog() -> None:
    sim = make_sim(ping=True)
    sim.run(100)
    sim.pause("n2")
    sim.run(200)
    n2 = core(sim, "n2")
    before = len(n2.inputs)
    sim.resume("n2")
    woke = n2.inputs[before:]
    assert woke[0] == "tick" and n2.ticks[-1] == 300  # the clock first, at the resume time
    assert woke[1:] == ["step"] * (len(woke) - 1) and len(woke) > 30  # then the backlog
    sim.run(100)
    grid = [t for t in n2.ticks if t > 300]
    assert grid and all(t % 10 == n2.ticks[0] % 10 for t in grid)  # back on its own tick grid


# --- crash and restart ----------------------------------------------------------------------------


def test_crash_keeps_synced_loses_unsynced_and_restart_rebuilds_from_durable() -> None:
    sim = make_sim(clients=1, workload=scripted({0: [("put", "x", 1), ("putu", "y", 2)]}, 1))
    sim.run(200)
    assert [e.type for e in sim.history] == ["invoke", "ok", "invoke", "ok"]
    assert sim.storage["n1"].pending == 1
    first = core(sim, "n1")
    sim.crash("n1")
    assert "n1" not in sim.nodes and sim.node_state("n1") == "crashed"
    assert [r["lost_writes"] for r in sim.trace if r["kind"] == "crash"] == [1]
    sim.run(50)
    sim.restart("n1")
    again = core(sim, "n1")
    assert again is not first
    assert again.durable == {"x": 1}
    assert again.first_draw != first.first_draw  # a fresh rng stream per incarnation
    sim.run(50)
    assert again.ticks  # ticking resumed


def test_messages_to_a_crashed_node_are_dropped() -> None:
    sim = make_sim(ping=True)
    sim.run(50)
    sim.crash("n2")
    sim.run(100)
    assert any(r["reason"] == "down" for r in _wire(sim, "drop", "n1", "n2"))
    assert not [r for r in _wire(sim, "send", "n2", "n1") if r["t"] > 50]


def test_prefix_mode_keeps_a_seeded_prefix_of_unsynced_writes() -> None:
    ops: list[Op] = [("putu", f"u{i}", i) for i in range(10)]
    kept = set()
    for seed in range(8):
        sim = make_sim(seed=seed, clients=1, workload=scripted({0: ops}, 1), lose_unsynced="prefix",
                       think_ms=(0, 0))
        sim.run(300)
        assert sim.storage["n1"].pending == 10
        sim.crash("n1")
        sim.restart("n1")
        durable = core(sim, "n1").durable
        assert durable is not None
        k = len(durable)
        assert durable == {f"u{i}": i for i in range(k)}  # a prefix, in write order
        kept.add(k)
    assert len(kept) > 1 and any(0 < k < 10 for k in kept)


def test_persist_happens_before_send_and_events_after() -> None:
    sim = make_sim(clients=1, workload=scripted({0: [("put", "x", 1)]}, 1), announce_put=True)

    class Recording(MemoryStorage):
        def write(self, ops: Any, sync: bool) -> None:
            sim.trace.append({"t": sim.now_ms(), "kind": "test-write", "ops": len(ops)})
            super().write(ops, sync)
            assert self.load() == {"x": 1}

    sim._nodes["n1"].storage = Recording()
    sim.run(100)
    kinds = [r["kind"] for r in sim.trace if r.get("node", r.get("src")) == "n1" or r["kind"] == "test-write"]
    w = kinds.index("test-write")
    assert kinds[w + 1] == "store"
    sends = [i for i, r in enumerate(sim.trace) if r["kind"] == "send" and r["src"] == "n1"]
    write_at = next(i for i, r in enumerate(sim.trace) if r["kind"] == "test-write")
    apply_at = next(i for i, r in enumerate(sim.trace) if r["kind"] == "apply")
    assert sends and all(write_at < i < apply_at for i in sends)
    reply = next(r for r in sim.trace if r["kind"] == "send" and r["msg"] == "ClientReply")
    pings = [r for r in sim.trace if r["kind"] == "send" and r["msg"] == "Ping"]
    assert all(p["mid"] < reply["mid"] for p in pings)  # messages before replies


# --- clocks -------------------------------------------------------------------------------------


def test_clock_offset_drift_and_jump_reach_the_wall_reading_and_only_drift_the_monotonic_one() -> None:
    sim = make_sim()
    sim.run(100)
    n1 = core(sim, "n1")
    n = len(n1.ticks)
    sim.set_clock("n1", offset_ms=1000)
    sim.run(100)
    wall, mono = n1.walls[n:], n1.ticks[n:]
    assert all(b - a == 10 for a, b in zip(wall, wall[1:], strict=False)) and wall[0] >= 1100
    assert all(w - m == 1000 for w, m in zip(wall, mono, strict=True))  # the offset is wall-only
    assert sim.local_ms("n1") == 1200
    sim.set_clock("n1", rate=2.0)
    n = len(n1.ticks)
    sim.run(100)
    assert all(b - a == 20 for a, b in zip(n1.ticks[n:], n1.ticks[n + 1:], strict=False))  # drift: both
    assert all(b - a == 20 for a, b in zip(n1.walls[n:], n1.walls[n + 1:], strict=False))
    sim.jump_clock("n1", -500)
    n = len(n1.ticks)
    sim.run(30)
    assert n1.walls[n] < n1.walls[n - 1]  # an NTP step back reaches the wall clock
    assert n1.ticks[n] > n1.ticks[n - 1]  # never the monotonic one
    other = core(sim, "n2").ticks
    assert other[-1] < 330  # other nodes keep true time
    assert [r["kind"] for r in sim.trace if r["kind"] == "clock"] == ["clock"] * 3


def test_healing_a_clock_that_was_ahead_steps_the_wall_clock_back_but_timers_keep_running() -> None:
    """Issue 19: a +10 s skew healed stepped the clock every timer ran on back by 10 s, and the
    node went silent for 10 s.  The monotonic reading handed to ``tick`` never goes back."""
    sim = make_sim()
    sim.run(100)
    sim.set_clock("n1", offset_ms=10_000)
    sim.run(200)
    sim.set_clock("n1", offset_ms=0, rate=1.0)
    sim.run(200)
    n1 = core(sim, "n1")
    assert all(b > a for a, b in zip(n1.ticks, n1.ticks[1:], strict=False))
    assert min(b - a for a, b in zip(n1.walls, n1.walls[1:], strict=False)) < -9_000
    assert n1.ticks[-1] - n1.ticks[0] == pytest.approx(480, abs=10)


# --- clients ------------------------------------------------------------------------------------


def test_info_completion_retires_the_process_id() -> None:
    sim = make_sim(clients=2, workload=RandomRegister(), silent=True, client_timeout_ms=50)
    sim.run(500)
    procs: dict[int, list[int]] = {0: [], 1: []}
    for e in sim.history:
        if e.type == "invoke":
            assert isinstance(e.process, int)
            procs[e.process % 2].append(e.process)
    for slot, seen in procs.items():
        assert seen[:3] == [slot, slot + 2, slot + 4]
        assert len(seen) == len(set(seen))  # never reused
    assert {e.type for e in sim.history} == {"invoke", "info"}
    h = History.from_events(sim.history)
    assert all(op.status == "info" for op in h.operations)
    requests = [r for r in sim.trace if r["kind"] == "send" and r["msg"] == "ClientRequest"]
    assert {r["src"] for r in requests} >= {"c0", "c2", "c1", "c3"}


def test_history_is_valid_with_times_in_ns_and_values_per_jepsen() -> None:
    sim = make_sim(clients=3, workload=RandomRegister(), ping=True)
    sim.run(1000)
    h = History.from_events(sim.history)
    assert h.counts()["ok"] > 20
    for ev in sim.history:
        assert ev.time is not None and ev.time % 1_000_000 == 0 and ev.line is None
    puts = [op for op in h.operations if op.f == "put" and op.status == "ok"]
    assert all(op.output == op.value for op in puts)


def test_open_operations_stay_open_at_the_end() -> None:
    sim = make_sim(clients=1, workload=scripted({0: [("get", "x", None)]}, 1), silent=True,
                   client_timeout_ms=10_000)
    sim.run(100)
    assert [e.type for e in sim.history] == ["invoke"]


def test_client_requests_travel_the_network_and_can_be_cut() -> None:
    sim = make_sim(clients=1, workload=scripted({0: [("get", "x", None)]}, 1), client_timeout_ms=50)
    sim.cut("c0", "n1")
    sim.run(200)
    assert [e.type for e in sim.history] == ["invoke", "info"]
    assert any(r["kind"] == "drop" and r["src"] == "c0" for r in sim.trace)


# --- engine odds and ends -----------------------------------------------------------------------


def test_leader_is_highest_term_leader_and_snapshot_reports_state() -> None:
    sim = make_sim()
    assert sim.leader() is None
    core(sim, "n1").role, core(sim, "n1").term = "leader", 2
    core(sim, "n3").role, core(sim, "n3").term = "leader", 5
    assert sim.leader() == "n3"
    sim.crash("n3")
    assert sim.leader() == "n1"
    snap = sim.snapshot_nodes()
    assert snap["n3"]["state"] == "crashed" and snap["n3"]["role"] is None
    assert snap["n1"]["role"] == "leader" and snap["n1"]["term"] == 2
    assert snap["n1"]["log_len"] is None


def test_schedule_runs_in_order_clamps_the_past_and_can_cancel() -> None:
    sim = make_sim()
    seen: list[tuple[str, int]] = []
    sim.schedule(50, lambda: seen.append(("a", sim.now_ms())))
    h = sim.schedule(50, lambda: seen.append(("x", sim.now_ms())))
    sim.schedule(50, lambda: seen.append(("b", sim.now_ms())))
    sim.cancel(h)
    sim.run(60)
    sim.schedule(10, lambda: seen.append(("late", sim.now_ms())))
    sim.run(1)
    assert seen == [("a", 50), ("b", 50), ("late", 60)]


def test_hooks_see_core_events_completions_and_crashes() -> None:
    sim = make_sim(clients=1, workload=scripted({0: [("put", "x", 1)]}, 1))
    seen: list[tuple[str, Any]] = []
    sim.add_event_hook(lambda kind, data: seen.append((kind, data.get("node"))))
    events: list[str] = []
    sim.run(100, on_event=lambda ev: events.append(ev.kind))
    sim.crash("n2")
    assert ("apply", "n1") in seen and ("client-complete", "n1") in seen and ("crash", "n2") in seen
    assert events == ["apply"]


def test_should_stop_ends_a_run_early() -> None:
    sim = make_sim(ping=True)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return True

    sim.run(100_000, should_stop=stop)
    assert calls["n"] == 1 and sim.now_ms() < 100_000


def test_record_and_unknown_nodes() -> None:
    sim = make_sim()
    sim.record("fault-start", {"fault": "x", "id": 1})
    assert sim.trace[-1] == {"t": 0, "kind": "fault-start", "fault": "x", "id": 1}
    with pytest.raises(ValueError, match="unknown node"):
        sim.crash("n9")


def test_pings_carry_summary_fields() -> None:
    sim = make_sim(ping=True)
    sim.run(20)
    send = next(r for r in sim.trace if r["kind"] == "send")
    assert send["msg"] == Ping.__name__ and send["term"] == 0
    sim = make_sim(clients=1, workload=scripted({0: [("get", "x", None)]}, 1))
    sim.run(50)
    req = next(r for r in sim.trace if r["kind"] == "send" and r["msg"] == ClientRequest.__name__)
    assert req["op"] == "get" and req["seq"] == 1


def test_a_run_defers_full_collections_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    sim = make_sim()
    during: list[tuple[int, ...]] = []
    sim.schedule(5, lambda: during.append(gc.get_threshold()))
    sim.run(10)
    assert during[0][:2] == before[:2] and during[0][2] >= 1000
    assert gc.get_threshold() == before

    def boom() -> None:
        raise RuntimeError("a callback failed")

    sim.schedule(15, boom)
    with pytest.raises(RuntimeError):
        sim.run(10)
    assert gc.get_threshold() == before


def test_event_records_that_declare_kinds_are_asked_about_those_alone() -> None:
    def records(_core: object, event: Any) -> list[tuple[str, dict[str, Any]]]:
        asked.append(event.kind)
        return [("seen", {"of": event.kind})]

    ops: dict[int, list[Op]] = {0: [("put", "x", 1), ("put", "y", 2)]}
    for kinds, want in ((frozenset({"apply"}), ["apply", "apply"]), (frozenset({"role"}), [])):
        asked: list[str] = []
        sim = make_sim(clients=1, workload=scripted(ops, 1))
        sim.set_event_records(RecordsOn(kinds, records))
        sim.run(200)
        assert asked == want
        trace = [r["kind"] for r in sim.trace]
        # each record directly follows the event it was read for
        assert [trace[i - 1] for i, k in enumerate(trace) if k == "seen"] == want
    # called directly, as an engine that knows nothing of kinds would, it gives none for the rest
    sim = make_sim()
    only_apply = RecordsOn(frozenset({"apply"}), records)
    assert list(only_apply(sim.nodes["n1"], CoreEvent("n1", "role", {}))) == []
