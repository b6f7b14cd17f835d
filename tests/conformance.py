"""Where the shared conformance histories live, and how tests find them.

They are read from ``$SPLITBRAIN_CONFORMANCE`` if set, else from ``shared/conformance``
beside the repository (or beside the folder holding it, for a git worktree such as
``wt/<branch>``), and never copied in.  On a user's machine they may be absent: tests
then skip with the reason.  In CI
(``CI=true``) they must be present, so a missing folder fails loudly instead of passing
by skipping.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _locate() -> Path:
    env = os.environ.get("SPLITBRAIN_CONFORMANCE")
    if env:
        return Path(env)
    candidates = [ROOT.parent / "shared" / "conformance", ROOT.parent.parent / "shared" / "conformance"]
    for c in candidates:
        if (c / "MANIFEST.tsv").is_file():
            return c
    return candidates[0]


CONFORMANCE = _locate()


def conformance_dir() -> Path:
    if not (CONFORMANCE / "MANIFEST.tsv").is_file():
        msg = f"conformance data not found at {CONFORMANCE}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (required when CI=true)")
        pytest.skip(msg)
    return CONFORMANCE


def manifest_rows() -> list[dict[str, str]]:
    path = CONFORMANCE / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


MODEL_FOR: dict[str, tuple[str, dict[str, object]]] = {
    "porcupine-etcd-log": ("etcd", {}),
    "porcupine-kv-log": ("kv", {}),
}


def model_for(row: dict[str, str]) -> tuple[str, dict[str, object]]:
    """Map a MANIFEST row to a splitbrain model name and options."""
    if row["format"] in MODEL_FOR:
        return MODEL_FOR[row["format"]]
    m = row["model"]
    if m.startswith("cas-register"):
        return "cas-register", {"init": 0}
    if m.startswith("multi-register"):
        return "multi-register", {}
    if m.startswith("mutex"):
        return "mutex", {}
    raise KeyError(f"no model mapping for {m!r}")


FORMAT_FOR = {"porcupine-etcd-log": "porcupine-etcd", "porcupine-kv-log": "porcupine-kv", "jepsen-edn": "edn"}


def format_for(row: dict[str, str]) -> str:
    """The reader for a MANIFEST row (given explicitly: etcd_095.log is empty, so undetectable)."""
    return FORMAT_FOR[row["format"]]
