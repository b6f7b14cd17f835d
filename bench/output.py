"""Where a benchmark's JSON goes, and how it is written.

Every benchmark prints a table for people and writes JSON for tools.  The JSON never lands in
the repository unless the user asks for it with ``--out``: by default it goes to
``splitbrain-bench/<name>.json`` in the system's temporary folder, so running a benchmark in a
checkout leaves ``git status`` clean and never mixes one machine's numbers into the tree.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["default_out", "write_json"]


def default_out(name: str) -> str:
    """The default ``--out`` of benchmark ``name``: outside the repository."""
    return str(Path(tempfile.gettempdir()) / "splitbrain-bench" / f"{name}.json")


def write_json(out: str | Path, data: Any, *, sort_keys: bool = False) -> Path:
    """Write ``data`` as indented JSON to ``out`` (its folder created) and return the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")
    return path
