"""``splitbrain check RUN_DIR``: re-check a saved run and print the verdicts.

The work is library code (:func:`scenarios.results.recheck_run`); this shell prints and
maps the folded verdict to an exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.records import json_default
from analysis.verdicts import overall
from splitbrain.errors import VERDICT_EXIT


def recheck(path: Path, *, as_json: bool = False, timeout_s: float | None = None) -> int:
    from scenarios.results import recheck_run

    run, results = recheck_run(path, timeout_s=timeout_s)
    if as_json:
        print(json.dumps({"dir": str(run.dir), "checkers": results}, indent=2, sort_keys=True, default=json_default))
    else:
        from splitbrain.terminal import print_results

        print_results(results)
    return VERDICT_EXIT[overall(results)]
