"""``splitbrain check``: is this history linearizable (or, for transactional and log
histories, isolated as claimed / consumed as a log promises)?

Exit codes: 0 valid, 1 invalid, 2 unknown (a budget ran out: time, states or memory, or
a ``MemoryError``), 3 bad input or usage (one line); an unexpected exception is 4 (one
line, from :func:`splitbrain.cli.main`: a bug in splitbrain, never a verdict).  Only what a check needs is imported: the readers, the
models, the checker and the terminal printer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_UNKNOWN, EXIT_USAGE, VERDICT_EXIT, UsageError, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args

DEFAULT_MAX_STATES = 1_000_000


def _timeout(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the time budget must be a finite number of seconds > 0")
    return v


def _max_states(text: str) -> int:
    try:
        v = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the state budget must be at least 1")
    return v


def _size(text: str) -> int:
    from analysis.memory import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def configure(p: argparse.ArgumentParser) -> None:
    from analysis.formats import FORMATS
    from analysis.models import model_names

    p.add_argument(
        "file", help="a history file (jsonl, Jepsen EDN, Porcupine logs), '-' for standard input, or a run folder"
    )
    p.add_argument("--model", "-m", help=f"sequential model: {', '.join(model_names())}; "
                   "or a transactional one: list-append, rw-register; "
                   "or kafka / log-consumer: the consumer-side log checker (send/poll histories)")
    p.add_argument("--format", "-f", default="auto", choices=("auto", *FORMATS), help="history format (default: auto)")
    p.add_argument("--init", help="initial model state as JSON (e.g. 0 for a cas-register)")
    p.add_argument("--timeout", type=_timeout, default=60.0, metavar="S",
                   help="time budget in seconds, finite and > 0 (default 60)")
    p.add_argument("--max-states", type=_max_states, default=DEFAULT_MAX_STATES, metavar="N",
                   help="memoised states allowed over the whole history, >= 1 (default 1,000,000)")
    p.add_argument("--max-memory", type=_size, metavar="SIZE",
                   help="resident-memory budget, e.g. 2G or 512M (default: the smallest of 3 GiB, half "
                        "the RAM and 80%% of a container limit; an RLIMIT_AS is always respected)")
    p.add_argument("--max-input-size", type=_size, metavar="SIZE",
                   help="refuse histories larger than this (default 256M)")
    p.add_argument("--allow-special", action="store_true",
                   help="read a FIFO or device as the history (refused by default; '-' always reads stdin)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result")
    add_plugin_argument(p)
    p.add_argument("--consistency-model", metavar="M",
                   help="with --model list-append|rw-register: the isolation level to judge "
                   "against (default strict-serializable; see docs/isolation.md)")


def run(args: argparse.Namespace) -> int:
    from analysis.history import HistoryError
    from analysis.models.base import ModelError

    try:
        return _run(args)
    except (HistoryError, ModelError, UsageError) as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    except MemoryError:
        pass  # answered below, once the exception (and what its frames hold) is gone
    except input_errors() as e:  # a run folder's scenario, faults ...
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    reason = "ran out of memory (MemoryError) outside the search, reading the history or writing the result"
    if args.json:
        print(json.dumps({"checker": "linearizability", "verdict": "unknown", "reason": reason}, indent=2))
    sys.stderr.write(f"splitbrain: unknown: {reason}; --max-input-size bounds what is read\n")
    return EXIT_UNKNOWN


def _run(args: argparse.Namespace) -> int:
    import gc

    # One short-lived process that makes no reference cycles: the cyclic collector would
    # only walk the history's millions of objects again and again.
    gc.disable()
    from analysis.formats import MAX_INPUT_BYTES, STDIN, read_history
    from analysis.linearizability import check
    from analysis.models import get_model

    load_plugin_args(args)  # a model, or a run folder's checkers, a plugin registers
    if args.model in ("list-append", "rw-register"):
        from splitbrain.commands import isolation_check

        return isolation_check.run(args)
    path = Path(args.file)
    if args.file != STDIN and path.is_dir():
        from splitbrain.saved_runs import recheck

        return recheck(path, as_json=args.json, timeout_s=args.timeout)
    if args.consistency_model is not None:
        raise UsageError("--consistency-model applies to --model list-append or rw-register")
    if not args.model:
        raise UsageError("--model is required for a history file (e.g. --model cas-register)")
    from analysis.log_consumer import NAMES as LOG_CHECKERS

    if args.model in LOG_CHECKERS:
        return _log_check(args, path)
    options: dict[str, Any] = {}
    if args.init is not None:
        try:
            options["init"] = json.loads(args.init)
        except json.JSONDecodeError as e:
            raise UsageError(f"--init is not valid JSON: {e.msg}") from None
    model = get_model(args.model, **options)
    max_bytes = MAX_INPUT_BYTES if args.max_input_size is None else args.max_input_size
    history = read_history(args.file, args.format, max_bytes=max_bytes, allow_special=args.allow_special)
    verdict = check(
        history, model, timeout_s=args.timeout, max_states=args.max_states, max_memory=args.max_memory
    )
    from analysis.explain import verdict_json

    result = verdict_json(verdict, model)
    result["file"] = "<stdin>" if args.file == STDIN else str(path)
    result["counts"] = history.counts()
    methods: dict[str, int] = {}
    for part in verdict.parts:
        methods[part.method] = methods.get(part.method, 0) + 1
    result["decided_by"] = methods
    failing = verdict.failing
    if failing is not None and failing.method == "pre-check" and result["explanation"]:
        result["explanation"].insert(1, f"Found without searching: {failing.reason}.")
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        from splitbrain.terminal import print_check

        print_check(result)
    return VERDICT_EXIT[verdict.verdict]


def _log_check(args: argparse.Namespace, path: Path) -> int:
    """``--model kafka``: the consumer-side log checker (analysis/log_consumer.py)."""
    from analysis.log_consumer import check_file

    if args.init is not None:
        raise UsageError(f"--init does not apply to --model {args.model} (a log has no initial state)")
    result = check_file(path, args.format)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        from splitbrain.terminal import print_results

        print_results([result])
    return VERDICT_EXIT[result["verdict"]]


COMMAND = Command(
    name="check",
    summary="check a history: linearizability against a model, transactional isolation, or a log's consumers",
    example="splitbrain check history.jsonl --model kv-register\n"
    "splitbrain check etcd_002.log --model etcd --json\n"
    "splitbrain check history.edn --model list-append --consistency-model serializable\n"
    "splitbrain check kafka-history.edn --model kafka\n"
    "cat history.jsonl | splitbrain check - --model kv-register\n"
    "splitbrain check store/latest   # re-check a run folder",
    configure=configure,
    run=run,
)
