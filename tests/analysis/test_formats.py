"""History readers against every conformance file, plus the native-format round trip.

The conformance data lives beside the repository (``../shared/conformance``, located by
:mod:`tests.conformance`) and is never copied in.  Without it these tests skip, except in CI (``CI=true``), where a
missing folder must fail rather than pass by skipping.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from pathlib import Path

import pytest

from analysis.formats import FORMATS, detect_format, parse_text, read_history, write_jsonl
from analysis.formats.jsonl import dumps_event
from analysis.history import NEMESIS, UNKNOWN, Event, History, Operation
from tests.conformance import CONFORMANCE

SHARED = CONFORMANCE

#: MANIFEST format column -> our format name
MANIFEST_FORMAT = {
    "porcupine-etcd-log": "porcupine-etcd",
    "porcupine-kv-log": "porcupine-kv",
    "jepsen-edn": "edn",
}


def _rows() -> list[dict[str, str]]:
    path = SHARED / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = _rows()


def _base() -> Path:
    if not (SHARED / "MANIFEST.tsv").is_file():
        msg = f"conformance data not found at {SHARED}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (required when CI=true)")
        pytest.skip(msg)
    return SHARED


def _read(row: dict[str, str]) -> History:
    return _read_path(str(_base() / row["path"]))


@functools.cache
def _read_path(name: str) -> History:
    """Each file is read once per session: the three parametrized tests share it."""
    path = Path(name)
    if path.stat().st_size == 0:  # etcd_095.log: only an explicit format may be empty
        return read_history(path, "porcupine-etcd")
    return read_history(path)


def test_manifest_present_and_complete() -> None:
    base = _base()
    assert len(ROWS) == 231
    assert all((base / r["path"]).is_file() for r in ROWS)
    assert {r["format"] for r in ROWS} == set(MANIFEST_FORMAT)


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS] or None)
def test_conformance_file_reads_with_manifest_counts(row: dict[str, str]) -> None:
    h = _read(row)
    ops = h.operations
    assert len(ops) == int(row["op_count"])
    assert sum(op.status != "fail" for op in ops) == int(row["ops_checked"])
    if row["format"] == "jepsen-edn":
        assert sum(op.status == "info" for op in ops) == int(row["open_ops_at_end"])
    else:
        # Porcupine leaves :info'd and never-completed operations open to the end; a
        # timed-out read (":fail :read :timed-out") instead completes in place with an
        # unknown output.  Both are "info" for us; only the former are "open at end".
        timed_out_reads = sum(
            op.status == "info" and op.f == "read" and op.ret_line is not None for op in ops
        )
        open_at_end = sum(op.status == "info" for op in ops) - timed_out_reads
        assert open_at_end == int(row["open_ops_at_end"])
    assert all(op.call_line is not None for op in ops)


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS] or None)
def test_detect_format_matches_manifest(row: dict[str, str]) -> None:
    path = _base() / row["path"]
    if path.stat().st_size == 0:
        with pytest.raises(Exception, match="empty"):
            detect_format(path)
        return
    assert detect_format(path) == MANIFEST_FORMAT[row["format"]]
    assert detect_format(str(path)) == MANIFEST_FORMAT[row["format"]]


def _projection(h: History, new_pos: dict[int, int]) -> list[tuple[object, ...]]:
    return [
        (
            op.process,
            op.f,
            op.key,
            op.value,
            op.output,
            op.status,
            new_pos[op.call],
            None if op.ret is None else new_pos[op.ret],
        )
        for op in h.operations
    ]


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS] or None)
def test_round_trip_through_jsonl(row: dict[str, str]) -> None:
    h = _read(row)
    buf = io.StringIO()
    write_jsonl(h, buf)
    text = buf.getvalue()
    h2 = parse_text(text, "jsonl", "roundtrip") if text else History((), ())
    # events written in history order; orphan client :info notes are not written
    written = sorted(
        [*h.events, *(e for e in h.nemesis if e.process == NEMESIS)], key=lambda e: e.index
    )
    new_pos = {e.index: i for i, e in enumerate(written)}
    identity = {i: i for i in range(len(written))}
    assert _projection(h2, identity) == _projection(h, new_pos)
    assert len(h2.nemesis) == sum(e.process == NEMESIS for e in h.nemesis)
    # jsonl -> jsonl is exact: same bytes, same operations down to lines and times
    buf2 = io.StringIO()
    write_jsonl(h2, buf2)
    assert buf2.getvalue() == text
    if text:
        assert parse_text(buf2.getvalue(), "auto", "roundtrip").operations == h2.operations


# --------------------------------------------------------------------- translations
ETCD = """\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:write\t3
INFO  jepsen.util - 1\t:ok\t:write\t3
INFO  jepsen.util - 2 :invoke :cas [3 4]
INFO  jepsen.util - 2 :ok :cas [3 4]
INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 3\t:fail\t:cas\t[1 2]
INFO  jepsen.util - 4\t:invoke\t:read\tnil
INFO  jepsen.util - 4\t:fail\t:read\t:timed-out
INFO  jepsen.util - 5\t:invoke\t:write\t7
INFO  jepsen.util - 5\t:info\t:write\t:timed-out
INFO  jepsen.util - 6\t:invoke\t:cas\t[4 0]
INFO  jepsen.util - 6\t:info\t:cas\t:timed-out
INFO  jepsen.util - 7\t:invoke\t:read\tnil
INFO  jepsen.util - 7\t:ok\t:read\t4
INFO  jepsen.util - 8\t:invoke\t:write\t9
"""


def test_porcupine_etcd_translation() -> None:
    h = parse_text(ETCD, "porcupine-etcd", "etcd.log")
    got = [(op.process, op.f, op.value, op.output, op.status) for op in h.operations]
    assert got == [
        (0, "read", None, None, "ok"),  # nil = key absent
        (1, "write", 3, 3, "ok"),
        (2, "cas", [3, 4], True, "ok"),  # swapped
        (3, "cas", [1, 2], False, "ok"),  # executed, compare failed: a real operation
        (4, "read", None, UNKNOWN, "info"),  # timed-out read constrains nothing
        (5, "write", 7, UNKNOWN, "info"),
        (6, "cas", [4, 0], UNKNOWN, "info"),
        (7, "read", None, 4, "ok"),
        (8, "write", 9, UNKNOWN, "info"),  # never completed
    ]
    assert h.operations[4].ret_line == 10
    assert detect_format(ETCD) == "porcupine-etcd"


def test_porcupine_etcd_skips_other_log_lines_and_empty() -> None:
    text = "INFO  jepsen.core - Running test\n" + ETCD + "WARN  jepsen.core - done\n"
    assert detect_format(text) == "porcupine-etcd"
    assert len(parse_text(text, "auto").operations) == 9
    assert parse_text("", "porcupine-etcd").operations == ()
    assert parse_text("", "porcupine-etcd-log").operations == ()  # MANIFEST alias


KV = """\
{:process 0, :type :invoke, :f :put, :key "1", :value "a"}
{:process 1, :type :invoke, :f :get, :key "1", :value nil}
{:process 0, :type :ok, :f :put, :key "1", :value "a"}
{:process 1, :type :ok, :f :get, :key "1", :value "a"}
{:process 2, :type :invoke, :f :append, :key "2", :value "x 2 0 y"}
{:process 2, :type :ok, :f :append, :key "2", :value "x 2 0 y"}
{:process 3, :type :invoke, :f :get, :key "3", :value nil}
{:process 3, :type :ok, :f :get, :key "3", :value ""}
"""


def test_porcupine_kv_translation() -> None:
    assert detect_format(KV) == "porcupine-kv"
    h = parse_text(KV, "auto", "kv.txt")
    got = [(op.process, op.f, op.key, op.value, op.output, op.status) for op in h.operations]
    assert got == [
        (0, "put", "1", "a", "a", "ok"),
        (1, "get", "1", None, "a", "ok"),
        (2, "append", "2", "x 2 0 y", "x 2 0 y", "ok"),
        (3, "get", "3", None, "", "ok"),
    ]
    assert [op.call_line for op in h.operations] == [1, 2, 5, 7]


EDN = """\
; leading comment
(
 {:process 0, :type :invoke, :f :write, :value 1, :time 50}
 {:process 0 :type :ok :f :write :value 1 :time 40 :index 1} ; time goes back: ignored
 {:type :invoke,
  :f :cas,
  :value [1 2],
  :process 1}
 ; a comment inside the collection
 {:process :nemesis, :type :info, :f :start, :value "isolated #{:n1 :n2}"}
 {:process 1, :type :fail, :f :cas, :value [1 2], :error [:timeout "a\\"b"]}
 {:process :nemesis, :type :info, :f :start, :value {:n1 #{:n2}}}
 {:process 2, :type :invoke, :f :txn, :value [[:read :x nil] [:write :y 2]]}
 {:process 2, :type :ok, :f :txn, :value [[:read :x 1] [:write :y 2]]}
 {:process 3, :type :info, :f :read, :value nil}
 {:process 4, :type :invoke, :f :read, :value nil}
 {:process 4, :type :info, :f :read, :value nil}
)
"""


def test_edn_translation() -> None:
    assert detect_format(EDN) == "edn"
    h = parse_text(EDN, "auto", "h.edn")
    got = [(op.process, op.f, op.value, op.output, op.status) for op in h.operations]
    assert got == [
        (0, "write", 1, 1, "ok"),
        (1, "cas", [1, 2], [1, 2], "fail"),  # Knossos: did not happen; checker drops it
        (
            2,
            "txn",
            [["read", "x", None], ["write", "y", 2]],
            [["read", "x", 1], ["write", "y", 2]],
            "ok",
        ),
        (4, "read", None, UNKNOWN, "info"),
    ]
    assert [op.call_line for op in h.operations] == [3, 5, 13, 16]
    assert all(op.call_time is None for op in h.operations)  # :time is never used
    fail_ev = next(e for e in h.events if e.type == "fail")
    assert dict(fail_ev.extra) == {"error": ["timeout", 'a"b']}
    # nemesis events kept apart; the orphan :info by process 3 is ignored like Knossos does
    assert [e.process for e in h.nemesis] == [NEMESIS, NEMESIS, 3]
    assert h.nemesis[0].value == "isolated #{:n1 :n2}"
    assert h.nemesis[1].value == {"n1": ["n2"]}


def test_edn_bare_sequence_and_vector() -> None:
    bare = "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value 3}\n"
    h = parse_text(bare, "edn")
    assert [(op.value, op.output) for op in h.operations] == [(None, 3)]
    assert parse_text("[]", "edn").operations == ()
    assert (
        parse_text("[{:process 0, :type :invoke, :f :acquire}]", "auto").operations[0].f
        == "acquire"
    )


def test_edn_string_escapes() -> None:
    h = parse_text(
        r'[{:process :nemesis :type :info :f :x :value "tab\there \u00e9 \\ \"q\" \n"}]', "edn"
    )
    assert h.nemesis[0].value == 'tab\there \u00e9 \\ "q" \n'


# --------------------------------------------------------------------- native format
def test_jsonl_fields_and_passthrough() -> None:
    text = (
        '\n{"process": 0, "type": "invoke", "f": "write", "value": 3, "key": "x", "time": 1234,'
        ' "node": "n1"}\n\n'
        '{"process": 0, "type": "ok", "f": "write", "value": 3, "key": "x", "time": 1300}\r\n'
        '{"process": "nemesis", "type": "info", "f": "partition", "value": ["n1", "n2"]}\n'
    )
    h = parse_text(text, "auto", "h.jsonl")
    (op,) = h.operations
    assert (op.process, op.f, op.key, op.value, op.output, op.status) == (
        0,
        "write",
        "x",
        3,
        3,
        "ok",
    )
    assert (op.call_time, op.ret_time, op.call_line, op.ret_line) == (1234, 1300, 2, 4)
    assert h.events[0].extra == (("node", "n1"),)
    assert h.nemesis[0].value == ["n1", "n2"]


def test_write_jsonl_is_byte_stable(tmp_path: Path) -> None:
    ev = Event(process=0, type="invoke", f="write", value=3, key="x", time=1234, extra=(("z", 1),))
    line = '{"f":"write","key":"x","process":0,"time":1234,"type":"invoke","value":3,"z":1}'
    assert dumps_event(ev) == line
    assert dumps_event(Event(process=1, type="invoke", f="read")) == (
        '{"f":"read","process":1,"type":"invoke"}'
    )
    p = tmp_path / "h.jsonl"
    write_jsonl([ev], p)
    assert p.read_bytes() == (line + "\n").encode()
    b = io.BytesIO()
    write_jsonl([ev], b)
    assert b.getvalue() == p.read_bytes()
    write_jsonl([ev], str(p))
    assert read_history(p).events[0] == Event(
        process=0, type="invoke", f="write", value=3, key="x", time=1234, line=1, extra=(("z", 1),)
    )


def test_write_jsonl_refuses_values_json_cannot_hold(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    with pytest.raises(TypeError):
        write_jsonl([Event(process=0, type="ok", f="read", value=UNKNOWN)], p)
    with pytest.raises(ValueError):
        write_jsonl([Event(process=0, type="ok", f="read", value=float("nan"))], p)
    with pytest.raises(ValueError, match="clashes"):
        write_jsonl([Event(process=0, type="ok", f="read", extra=(("type", 1),))], p)
    assert not p.exists()  # nothing half-written


def test_formats_tuple() -> None:
    assert FORMATS == ("jsonl", "edn", "porcupine-etcd", "porcupine-kv")


def test_operation_type_is_reexported_history() -> None:
    h = parse_text('{"process":0,"type":"invoke","f":"read"}\n', "jsonl")
    assert isinstance(h.operations[0], Operation) and h.operations[0].status == "info"
