"""Every conformance history gets the verdict Porcupine and Knossos expect. None skipped."""

from __future__ import annotations

import pytest

from analysis.formats import read_history
from analysis.linearizability import check
from analysis.models import get_model
from tests.conformance import conformance_dir, format_for, manifest_rows, model_for

ROWS = manifest_rows()


def test_manifest_is_complete() -> None:
    base = conformance_dir()
    assert len(ROWS) == 231
    for row in ROWS:
        assert (base / row["path"]).is_file(), row["path"]


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS] or None)
def test_conformance_verdict(row: dict[str, str]) -> None:
    base = conformance_dir()
    name, opts = model_for(row)
    model = get_model(name, **opts)
    h = read_history(base / row["path"], format_for(row))
    v = check(h, model, timeout_s=120)
    expected = "valid" if row["expected_verdict"] == "linearizable" else "invalid"
    assert v.verdict == expected, f"{row['path']}: got {v.verdict}, expected {expected} ({v.reason})"


def test_cas_register_init_nil_gives_same_verdicts() -> None:
    base = conformance_dir()
    for row in ROWS:
        if not row["model"].startswith("cas-register"):
            continue
        h = read_history(base / row["path"], format_for(row))
        expected = "valid" if row["expected_verdict"] == "linearizable" else "invalid"
        assert check(h, get_model("cas-register"), timeout_s=120).verdict == expected, row["path"]
