"""Bad input gives one line and exit 3, never a traceback (issue 11, section 5).

The named cases first (a binary scenario file, quorum sizes larger than N, a results
store that cannot be written, a busy metrics port, an unknown name's suggestions, the
help examples), then hypothesis: mutated scenario files and random command lines, each
run through the real ``main``, must end in a verdict (0/1/2) or a usage error (3) --
never an internal error (4) or an uncaught exception.  The fuzz is bounded for CI
(``SPLITBRAIN_FUZZ_EXAMPLES``, default 40 per property).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.spec import catalog, load
from splitbrain.cli import build_parser, main

EXAMPLES = int(os.environ.get("SPLITBRAIN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=not os.environ.get("SPLITBRAIN_FUZZ_RANDOM"))


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own exits (--help, usage errors)
            code = int(e.code or 0) if not isinstance(e.code, str) else 3
    return code, out.getvalue(), err.getvalue()


def _one_line_usage_error(argv: list[str]) -> str:
    code, _, err = _main(argv)
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("splitbrain: error: "), err
    return lines[0]


def test_a_binary_scenario_file(tmp_path: Path) -> None:
    f = tmp_path / "blob.toml"
    f.write_bytes(bytes(range(256)) * 4)
    assert "not a text file" in _one_line_usage_error(["run", str(f), "--no-save"])


def test_quorum_sizes_larger_than_n(tmp_path: Path) -> None:
    f = tmp_path / "q.toml"
    f.write_text('name = "q"\nsummary = "s"\nsystem = "quorum"\nnodes = 3\nmodel = "register"\n'
                 'checkers = ["linearizability"]\nconfig = { r = 2, w = 5 }\n')
    assert "w=5 must be between 1 and n=3" in _one_line_usage_error(["run", str(f), "--no-save"])


def test_a_store_that_cannot_be_written() -> None:
    line = _one_line_usage_error(["run", "raft-leader-partition", "--store", "/proc/x"])
    assert "/proc/x: cannot write results folders there" in line
    assert "/proc/x" in _one_line_usage_error(["explore", "raft-leader-partition", "--store", "/proc/x",
                                               "--budget", "1s"])


def test_a_busy_metrics_port_is_refused_before_ray_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_line_usage_error(["run", "raft-leader-partition", "--engine", "ray", "--metrics-port", str(port),
                                      "--no-save"])
    assert f"--metrics-port {port}" in line and "pick a free port" in line
    import sys

    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_did_you_mean_lists_the_closest_names_first() -> None:
    line = _one_line_usage_error(["run", "raft-leadr-partition"])
    assert "did you mean raft-leader-partition," in line


def test_every_help_example_names_a_real_scenario() -> None:
    names = set(catalog())
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for cmd, p in sub.choices.items():
        for line in (p.epilog or "").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "splitbrain" and words[1] in ("run", "explore", "show", "sweep"):
                target = words[2]
                if not target.startswith("-") and "/" not in target and not target.endswith((".toml", ".json")):
                    assert target in names, f"'{cmd} --help' names {target!r}, which does not exist"


# --- hypothesis ---------------------------------------------------------------------------------

_DELETE = object()
_leaf = (st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.floats(allow_nan=True)
         | st.text(max_size=12) | st.sampled_from(["n1", "n9", "leader", "crash", "partition", "link", "*"]))
_json = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                         max_size=4), max_leaves=12)
_BASES = ["raft-leader-partition", "quorum-majority", "outbox-relay-crash-correct", "raft-lease-skew"]
_SUBFIELDS = {"config": ["election_timeout_ms", "heartbeat_ms", "read_mode", "r", "w", "bogus"],
              "workload": ["keys", "read_ratio", "think_ms", "ops_per_client", "bogus"],
              "client": ["timeout_ms", "bogus"], "network": ["loss", "delay_ms", "bogus"]}


@st.composite
def _mutated_scenario(draw: Any) -> dict[str, Any]:
    d = load(draw(st.sampled_from(_BASES))).to_dict()
    d.pop("source", None)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from([*d.keys(), "bogus", "extends", "faults-item", *(f"{k}." for k in _SUBFIELDS)]))
        value = draw(st.one_of(_json, st.just(_DELETE)))
        if where == "faults-item":
            item = draw(st.sampled_from([{"at": 10, "duration": 50, "fault": {"fault": "crash", "node": "n1"}},
                                         {"on": "leader-elected", "fault": {"fault": "crash", "node": "leader"}},
                                         {"random": 1.0, "mean_duration": 100, "kinds": ["crash"]}]))
            item = dict(item)
            key = draw(st.sampled_from([*item.keys(), "bogus"]))
            item[key] = value if value is not _DELETE else None
            d["faults"] = [*d.get("faults", []), item]
        elif where.endswith(".") and where[:-1] in _SUBFIELDS:
            sub = dict(d.get(where[:-1]) or {})
            key = draw(st.sampled_from(_SUBFIELDS[where[:-1]]))
            if value is _DELETE:
                sub.pop(key, None)
            else:
                sub[key] = value
            d[where[:-1]] = sub
        elif value is _DELETE:
            d.pop(where, None)
        else:
            d[where] = value
    return d


def _assert_no_traceback(code: int, err: str) -> None:
    assert code in (0, 1, 2, 3), err[-2000:]
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    if code == 3:
        assert len(err.strip().splitlines()) == 1, err


@FUZZ
@given(_mutated_scenario(), st.booleans())
def test_no_scenario_file_gives_a_traceback(d: dict[str, Any], as_toml_text: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if as_toml_text:  # not TOML at all: the JSON text in a .toml file
            path = Path(tmp) / "s.toml"
            path.write_text(json.dumps(d, default=str))
        else:
            path = Path(tmp) / "s.json"
            path.write_text(json.dumps(d, default=str))
        code, _, err = _main(["run", str(path), "--no-save", "--quiet", "--duration", "300"])
    _assert_no_traceback(code, err)


_FLAG_VALUES = st.one_of(st.integers(-5, 10**6).map(str), st.floats(allow_nan=True).map(str), st.text(max_size=8),
                         st.sampled_from(["0", "-1", "1e9", "nan", "inf", "", "ray-nope", "/proc/x", "7"]))


@st.composite
def _command_line(draw: Any) -> list[str]:
    cmd = draw(st.sampled_from(["run", "run", "show", "list", "check", "report", "replay", "explore", "clean"]))
    argv = [cmd]
    if cmd in ("run", "show", "explore"):
        argv.append(draw(st.sampled_from(["raft-leader-partition", "quorum-majority", "raft-leadr", "x.toml", ""])))
    if cmd == "check":
        argv.append(draw(st.sampled_from(["/nonexistent.jsonl", "/proc/self/status", "/dev/null"])))
    flags = {"run": ["--seed", "--flaw", "--no-flaws", "--time-limit", "--duration", "--engine", "--ray-address",
                     "--metrics-port", "--amqp-url", "--kafka-bootstrap", "--json", "--quiet"],
             "explore": ["--budget", "--flaw", "--no-flaws", "--seed", "--json"],
             "show": ["--json"], "list": ["--json"], "check": ["--model", "--format", "--json"],
             "report": [], "replay": [], "clean": ["--dry-run", "--json"]}[cmd]
    for flag in draw(st.lists(st.sampled_from(flags or ["--json"]), max_size=4)):
        argv.append(flag)
        if flag not in ("--no-flaws", "--json", "--quiet", "--dry-run"):
            value = draw(_FLAG_VALUES)
            if flag == "--engine" and value == "ray":
                value = "sim"  # starting Ray is not this test's business
            if flag == "--budget":
                value = draw(st.sampled_from(["0", "-1s", "abc", "1s"]))
            argv.append(value)
    if cmd == "run" and "--duration" not in argv:
        argv += ["--duration", "300"]
    if cmd in ("run", "explore"):
        argv += ["--no-save"] if cmd == "run" else []
    if cmd == "clean":
        argv += ["--tmp", tempfile.mkdtemp(prefix="sb-fuzz-")]
    return argv


@FUZZ
@given(_command_line())
def test_no_command_line_gives_a_traceback(argv: list[str]) -> None:
    if "--engine" in argv and argv[argv.index("--engine") + 1] == "ray":
        return
    code, _, err = _main(argv)
    _assert_no_traceback(code, err)
    assert not re.search(r"^\s+File \"", err, re.M), err
