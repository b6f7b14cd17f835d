"""Generate ``protos/*_pb2.py`` and ``*_pb2_grpc.py`` with grpc_tools.protoc.

Generated code is not committed (it is build output, gitignored); ``scripts/setup.sh``
runs this.  protoc is invoked with the repository root as the include path and the proto
files named ``protos/x.proto``, so generated imports read ``from protos import x_pb2`` --
the package layout the rest of the code imports.  A final pass rewrites any bare
``import x_pb2`` line (what protoc emits for other include layouts) to that form, so the
generated modules always import as ``protos.x_pb2``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def build() -> list[Path]:
    from grpc_tools import protoc  # imported here: only the build needs grpcio-tools

    sources = sorted(PROTOS.glob("*.proto"))
    if not sources:
        return []
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        f"--pyi_out={ROOT}",
        *[str(p.relative_to(ROOT)) for p in sources],
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"build_protos: protoc failed with exit code {rc}")
    out = sorted(PROTOS.glob("*_pb2*.py"))
    bare = re.compile(r"^import (\w+_pb2) as (\w+)$", re.M)
    for path in out:
        text = path.read_text()
        fixed = bare.sub(r"from protos import \1 as \2", text)
        if fixed != text:
            path.write_text(fixed)
    return out


def main() -> int:
    out = build()
    print(f"build_protos: generated {len(out)} modules in {PROTOS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
