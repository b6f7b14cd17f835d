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
    p.add_argument("--model", "-m", help=f"sequential model: {', '.join(model_names())}")
    p.add_argument("--format", "-f", default="auto", choices=("auto", *FORMATS), help="history format (default: auto)")
    p.add_argument("--init", help="initial model state as JSON (e.g. 0 for a cas-register)")
    p.add_argument("--timeout", type=float, default=60.0, help="time budget in seconds (default 60)")
    p.add_argument("--max-states", type=int, default=1_000_000, help="memoised-state budget (default 1,000,000)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from analysis.formats import read_history

    from analysis.explain import verdict_json
    from analysis.linearizability import check
    from analysis.models import get_model

    path = Path(args.file)
    if path.is_dir():
        try:
            from splitbrain.saved_runs import recheck
        except ImportError as e:  # pragma: no cover
            raise UsageError(f"{path} is a folder, and run folders are not supported yet") from e
        return recheck(path, as_json=args.json, timeout_s=args.timeout)
    if not args.model:
        raise UsageError("--model is required for a history file (e.g. --model cas-register)")
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


COMMAND = Command(
    name="check",
    summary="check a history for linearizability against a sequential model",
    example="splitbrain check history.jsonl --model kv-register\n"
    "splitbrain check etcd_002.log --model etcd --json\n"
    "splitbrain check store/latest   # re-check a run folder",
    configure=configure,
    run=run,
)
