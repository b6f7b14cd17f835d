"""``splitbrain check FILE --model list-append|rw-register``: transactional isolation.

Reached from :mod:`splitbrain.commands.check` when ``--model`` names a transactional
data model; it shares that command's flags (``--format``, ``--timeout``, ``--json``) and
adds ``--consistency-model``.  Parses, calls :func:`analysis.isolation.check`, prints,
and maps the verdict to the exit code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from splitbrain.errors import VERDICT_EXIT, UsageError


def run(args: argparse.Namespace) -> int:
    from analysis.isolation import DEFAULT_MODEL, check, read_txn_history

    path = Path(args.file)
    if path.is_dir():
        raise UsageError(f"{path} is a folder: --model {args.model} checks a history file")
    if args.init is not None:
        raise UsageError(f"--init does not apply to --model {args.model}")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be greater than 0")
    model = getattr(args, "consistency_model", None) or DEFAULT_MODEL
    history = read_txn_history(path, args.model, args.format)
    try:
        result = check(history, consistency_model=model, timeout_s=args.timeout)
    except ValueError as e:
        raise UsageError(f"--consistency-model: {e}") from None
    result["file"] = str(path)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        from splitbrain.terminal import print_isolation

        print_isolation(result)
    return VERDICT_EXIT[result["verdict"]]
