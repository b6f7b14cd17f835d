"""``splitbrain check``: is this history linearizable?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, VERDICT_EXIT, UsageError, input_errors


def configure(p: argparse.ArgumentParser) -> None:
    from analysis.formats import FORMATS
    from analysis.models import model_names

    p.add_argument("file", help="a history file (jsonl, Jepsen EDN, Porcupine logs) or a run folder")
    p.add_argument("--model", "-m", help=f"sequential model: {', '.join(model_names())}; "
                   "or a transactional one: list-append, rw-register; "
                   "or kafka / log-consumer: the consumer-side log checker (send/poll histories)")
    p.add_argument("--format", "-f", default="auto", choices=("auto", *FORMATS), help="history format (default: auto)")
    p.add_argument("--init", help="initial model state as JSON (e.g. 0 for a cas-register)")
    p.add_argument("--timeout", type=float, default=60.0, help="time budget in seconds (default 60)")
    p.add_argument("--max-states", type=int, default=1_000_000, help="memoised-state budget (default 1,000,000)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result")
    p.add_argument("--consistency-model", metavar="M",
                   help="with --model list-append|rw-register: the isolation level to judge "
                   "against (default strict-serializable; see docs/isolation.md)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from analysis.explain import verdict_json
    from analysis.formats import read_history
    from analysis.linearizability import check
    from analysis.models import get_model

    if args.model in ("list-append", "rw-register"):
        from splitbrain.commands import isolation_check

        return isolation_check.run(args)
    path = Path(args.file)
    if path.is_dir():
        try:
            from splitbrain.saved_runs import recheck
        except ImportError as e:  # pragma: no cover
            raise UsageError(f"{path} is a folder, and run folders are not supported yet") from e
        return recheck(path, as_json=args.json, timeout_s=args.timeout)
    if args.consistency_model is not None:
        raise UsageError("--consistency-model applies to --model list-append or rw-register")
    if not args.model:
        raise UsageError("--model is required for a history file (e.g. --model cas-register)")
    from analysis.log_consumer import NAMES as LOG_CHECKERS

    if args.model in LOG_CHECKERS:
        return _log_check(args, path)
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be greater than 0")
    options: dict[str, Any] = {}
    if args.init is not None:
        try:
            options["init"] = json.loads(args.init)
        except json.JSONDecodeError as e:
            raise UsageError(f"--init is not valid JSON: {e.msg}") from None
    model = get_model(args.model, **options)
    history = read_history(path, args.format)
    verdict = check(history, model, timeout_s=args.timeout, max_states=args.max_states)
    result = verdict_json(verdict, model)
    result["file"] = str(path)
    result["counts"] = history.counts()
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
    summary="check a history: linearizability against a model, or transactional isolation",
    example="splitbrain check history.jsonl --model kv-register\n"
    "splitbrain check etcd_002.log --model etcd --json\n"
    "splitbrain check history.edn --model list-append --consistency-model serializable\n"
    "splitbrain check kafka-history.edn --model kafka\n"
    "splitbrain check store/latest   # re-check a run folder",
    configure=configure,
    run=run,
)
