"""Bad input: every problem is a HistoryError that names the file and, where there is
one, the line.  No other exception type may escape the readers for bad content."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.formats import detect_format, parse_text, read_history
from analysis.history import HistoryError

INVOKE = '{"process":0,"type":"invoke","f":"read"}\n'

# (format, text, expected line or None, fragment of the message)
CASES: dict[str, tuple[str, str, int | None, str]] = {
    # jsonl
    "jsonl-unknown-type": (
        "jsonl",
        INVOKE + '{"process":0,"type":"maybe","f":"read"}\n',
        2,
        "unknown event type 'maybe'",
    ),
    "jsonl-unparsable": ("jsonl", INVOKE + '{"process":0,"type":"ok"\n', 2, "not valid JSON"),
    "jsonl-not-object": ("jsonl", INVOKE + "[1, 2]\n", 2, "expected a JSON object, got list"),
    "jsonl-scalar": ("jsonl", INVOKE + "17\n", 2, "expected a JSON object, got int"),
    "jsonl-process-bool": (
        "jsonl",
        '{"process":true,"type":"invoke","f":"r"}\n',
        1,
        "'process' must be an integer or a string",
    ),
    "jsonl-process-list": (
        "jsonl",
        '{"process":[0],"type":"invoke","f":"r"}\n',
        1,
        "'process' must be",
    ),
    "jsonl-f-int": ("jsonl", '{"process":0,"type":"invoke","f":3}\n', 1, "'f' must be a string"),
    "jsonl-type-int": ("jsonl", '{"process":0,"type":1,"f":"r"}\n', 1, "'type' must be a string"),
    "jsonl-key-int": (
        "jsonl",
        '{"process":0,"type":"invoke","f":"r","key":1}\n',
        1,
        "'key' must be a string",
    ),
    "jsonl-time-float": (
        "jsonl",
        '{"process":0,"type":"invoke","f":"r","time":1.5}\n',
        1,
        "'time' must be an integer",
    ),
    "jsonl-missing-f": ("jsonl", '{"process":0,"type":"invoke"}\n', 1, "missing field 'f'"),
    "jsonl-duplicate": (
        "jsonl",
        '{"process":0,"process":1,"type":"invoke","f":"r"}\n',
        1,
        "duplicate field",
    ),
    "jsonl-nan": ("jsonl", '{"process":0,"type":"invoke","f":"r","value":NaN}\n', 1, "NaN"),
    "jsonl-deep": ("jsonl", "[" * 100_000 + "\n", 1, "nested too deeply"),
    "jsonl-huge-int": (
        "jsonl",
        '{"process":' + "9" * 5000 + ',"type":"invoke","f":"r"}\n',
        1,
        "not valid JSON",
    ),
    "jsonl-orphan": ("jsonl", '{"process":0,"type":"info","f":"r"}\n', 1, "no open invocation"),
    "jsonl-time-backwards": (
        "jsonl",
        '{"process":0,"type":"invoke","f":"r","time":5}\n{"process":0,"type":"ok","f":"r","time":4}\n',
        2,
        "time goes backwards",
    ),
    # edn
    "edn-truncated": (
        "edn",
        "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f ",
        2,
        "unexpected end of file at line 2",
    ),
    "edn-truncated-string": (
        "edn",
        '[{:process :nemesis :type :info :f :x :value "abc\n\n',
        3,
        "unexpected end of file at line 3",
    ),
    "edn-unclosed-vector": (
        "edn",
        "[{:process 0 :type :invoke :f :read}\n\n",
        3,
        "the [ opened at line 1 is never closed",
    ),
    "edn-mismatched": ("edn", "[{:process 0 :type :invoke :f :read}\n)", 2, "does not close"),
    "edn-stray-close": ("edn", "[]\n]", 2, "nothing open"),
    "edn-odd-map": ("edn", "[{:process 0 :type :invoke :f}]", 1, "odd number"),
    "edn-duplicate-key": (
        "edn",
        "[{:process 0 :process 1 :type :invoke :f :r}]",
        1,
        "duplicate map key :process",
    ),
    "edn-unknown-type": (
        "edn",
        "[{:process 0 :type :invoke :f :r}\n{:process 0 :type :maybe :f :r}]",
        2,
        "unknown event type :maybe",
    ),
    "edn-process-vector": (
        "edn",
        "[{:process [1] :type :invoke :f :r}]",
        1,
        ":process must be an integer or :nemesis",
    ),
    "edn-process-missing": ("edn", "[{:type :invoke :f :r}]", 1, "no :process"),
    "edn-f-int": ("edn", "[\n{:process 0 :type :invoke :f 3}]", 2, ":f must be a keyword"),
    "edn-type-nil": ("edn", "[{:process 0 :f :r}]", 1, ":type must be one of"),
    "edn-not-a-map": (
        "edn",
        "[{:process 0 :type :invoke :f :r}\n 5]",
        2,
        "expected an operation map",
    ),
    "edn-two-collections": ("edn", "[]\n[]", 1, "expected one vector or list"),
    "edn-tagged": ("edn", '[#inst "2020-01-01"]', 1, "tagged literal '#inst' is not supported"),
    "edn-discard": ("edn", "[#_ 1]", 1, "discards are not supported"),
    "edn-bad-escape": ("edn", r'["a\qb"]', 1, "invalid escape"),
    "edn-bad-number": ("edn", "[{:process 1x :type :invoke :f :r}]", 1, "invalid number"),
    "edn-bad-keyword": ("edn", "[{: 1}]", 1, "invalid keyword"),
    "edn-map-as-key": ("edn", "[{{:a 1} 2}]", 1, "a map cannot be a map key"),
    "edn-deep": ("edn", "[" * 100_000, 1, "nested more than"),
    "edn-comments-only": ("edn", "; nothing here\n", None, "no EDN history found"),
    "edn-double-invoke": (
        "edn",
        "[{:process 0 :type :invoke :f :r}\n{:process 0 :type :invoke :f :w}]",
        2,
        "still open",
    ),
    # porcupine-etcd
    "etcd-unparsable": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:invoke\t:read\tbanana\n",
        1,
        "cannot parse this etcd log line",
    ),
    "etcd-unknown-type": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:maybe\t:read\tnil\n",
        1,
        "unknown event type :maybe",
    ),
    "etcd-unknown-f": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:invoke\t:delete\tnil\n",
        1,
        ":read, :write and :cas",
    ),
    "etcd-write-nil": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:invoke\t:write\tnil\n",
        1,
        "a write takes an integer",
    ),
    "etcd-cas-int": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:invoke\t:cas\t3\n",
        1,
        "a cas takes [expected new]",
    ),
    "etcd-ok-timed-out": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t:timed-out\n",
        2,
        "keyword values",
    ),
    "etcd-orphan": (
        "porcupine-etcd",
        "INFO  jepsen.util - 0\t:ok\t:read\t3\n",
        1,
        "no open invocation",
    ),
    "etcd-no-events": (
        "porcupine-etcd",
        "hello\nworld\n",
        None,
        "no 'INFO  jepsen.util - ' event lines",
    ),
    # porcupine-kv
    "kv-unknown-f": (
        "porcupine-kv",
        '{:process 0, :type :invoke, :f :cas, :key "1", :value nil}\n',
        1,
        "unknown kv operation",
    ),
    "kv-no-key": (
        "porcupine-kv",
        "{:process 0, :type :invoke, :f :get, :value nil}\n",
        1,
        "no :key",
    ),
    "kv-put-int": (
        "porcupine-kv",
        '{:process 0, :type :invoke, :f :put, :key "1", :value 3}\n',
        1,
        "takes a string",
    ),
    "kv-process-kw": (
        "porcupine-kv",
        '{:process :x, :type :invoke, :f :get, :key "1", :value nil}\n',
        1,
        ":process must be an integer",
    ),
    "kv-truncated": (
        "porcupine-kv",
        '{:process 0, :type :invoke, :f :get, :key "1"\n',
        2,
        "unexpected end of file at line 2",
    ),
    # auto-detection
    "auto-empty": ("auto", "", None, "empty"),
    "auto-blank": ("auto", " \n\n\t\n", None, "empty"),
    "auto-garbage": ("auto", "this is not a history\nat all\n", None, "cannot tell the format"),
    "auto-json-array": (
        "auto",
        '[{"process": 0, "type": "invoke", "f": "r"}]\n',
        None,
        "JSON array",
    ),
    "auto-comments-only": ("auto", "; only a comment\n", None, "only ';' comments"),
    "explicit-edn-empty": ("edn", "", None, "empty"),
    "explicit-jsonl-empty": ("jsonl", "\n", None, "empty"),
    "explicit-kv-empty": ("porcupine-kv", "", None, "empty"),
    "nul-in-text": ("auto", "{\0}", None, "not a text history"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_history_error_with_place(case: str, tmp_path: Path) -> None:
    fmt, text, line, fragment = CASES[case]
    path = tmp_path / "bad.txt"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(HistoryError) as info:
        read_history(path, fmt)
    e = info.value
    assert fragment in str(e), str(e)
    assert e.source == str(path)
    assert e.line == line, str(e)
    assert str(e).startswith(str(path) + ":")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        read_history(tmp_path / "nope.jsonl")
    with pytest.raises(HistoryError, match="no such file"):
        detect_format(str(tmp_path / "nope.jsonl"))
    with pytest.raises(HistoryError, match="is a directory"):
        read_history(tmp_path)


@pytest.mark.parametrize(
    ("data", "byte"),
    [
        (b"\x00\x01\x02", 0),
        (b'{"process":0}\n\xff\xfe', 14),
        (bytes(range(256)) * 4, 0),
        (b"ok\x00", 2),
    ],
)
def test_binary_data_names_the_byte(tmp_path: Path, data: bytes, byte: int) -> None:
    path = tmp_path / "h.bin"
    path.write_bytes(data)
    msg = f"not a text history (binary data at byte {byte})"
    for fmt in ("auto", "jsonl", "porcupine-etcd"):
        with pytest.raises(HistoryError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            read_history(path, fmt)
    with pytest.raises(HistoryError, match="binary data at byte"):
        detect_format(data)


def test_empty_file_valid_only_for_explicit_porcupine_etcd(tmp_path: Path) -> None:
    path = tmp_path / "etcd_095.log"
    path.write_bytes(b"")
    assert read_history(path, "porcupine-etcd").operations == ()
    with pytest.raises(HistoryError, match="empty"):
        read_history(path)
    with pytest.raises(HistoryError, match="empty"):
        detect_format(path)


def test_unknown_format_name() -> None:
    with pytest.raises(HistoryError, match="unknown history format 'yaml'"):
        parse_text("{}", "yaml")
    with pytest.raises(HistoryError, match="unknown history format"):
        read_history("/nonexistent", "yaml")


def test_utf8_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + INVOKE.replace("\n", "\r\n").encode())
    assert read_history(path).operations[0].f == "read"


# ---------------------------------------------------------------- robustness (fuzzing)
_ALPHABET = st.sampled_from(list('{}[]()#:;,"\\ \n\tnil01-9abcxyz:processtypeinvokeokf'))
_TEXT = st.one_of(st.text(max_size=200), st.text(_ALPHABET, max_size=200))
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(text=_TEXT, fmt=st.sampled_from(["auto", "jsonl", "edn", "porcupine-etcd", "porcupine-kv"]))
def test_arbitrary_text_only_raises_history_error(text: str, fmt: str) -> None:
    try:
        parse_text(text, fmt, "fuzz")
    except HistoryError:
        pass


_EDN_SAMPLE = (
    "; c\n[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n"
    ' {:process 0, :type :ok, :f :cas, :value [1 2], :error "x\\"y"}\n'
    " {:process :nemesis :type :info :f :start :value #{:a}}]\n"
)


@_FUZZ
@given(
    cut=st.integers(0, len(_EDN_SAMPLE)),
    junk=st.text(max_size=3),
    at=st.integers(0, len(_EDN_SAMPLE)),
)
def test_truncated_or_corrupted_edn_only_raises_history_error(cut: int, junk: str, at: int) -> None:
    for text in (_EDN_SAMPLE[:cut], _EDN_SAMPLE[:at] + junk + _EDN_SAMPLE[at:]):
        try:
            parse_text(text, "auto", "fuzz")
        except HistoryError:
            pass
