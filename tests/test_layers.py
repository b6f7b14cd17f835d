"""The layer picture of DESIGN.md holds: imports point down only, and no mixins in cluster/.

    splitbrain/ (CLI) -> scenarios/ -> cluster/ (engines, cores), faults/, analysis/

Read from the source (every ``import`` and ``from ... import``, at any depth, including
the ones inside functions), so a lazy import cannot hide a layer running back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MAY_NOT_IMPORT = {
    "cluster": {"scenarios", "splitbrain"},
    "scenarios": {"splitbrain"},
    "faults": {"scenarios", "splitbrain", "cluster"},
    "analysis": {"scenarios", "splitbrain", "cluster", "faults"},
}


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "_pb2" not in p.name)


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("package", sorted(MAY_NOT_IMPORT))
def test_imports_point_down(package: str) -> None:
    banned = MAY_NOT_IMPORT[package]
    up = [f"{p.relative_to(ROOT)}:{line}: imports {name}"
          for p in _sources(package) for line, name in _imports(p) if name.split(".")[0] in banned]
    assert not up, "\n".join(up)


def test_no_mixin_classes_in_cluster() -> None:
    mixins = []
    for path in _sources("cluster"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if node.name.endswith("Mixin") or any(b.endswith("Mixin") for b in bases):
                    mixins.append(f"{path.relative_to(ROOT)}:{node.lineno}: class {node.name}({', '.join(bases)})")
    assert not mixins, "\n".join(mixins)


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from splitbrain.errors import UsageError\n    import scenarios.spec\n")
    assert _imports(f) == [(2, "splitbrain.errors"), (3, "scenarios.spec")]
