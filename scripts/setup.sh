#!/usr/bin/env bash
# Set up everything splitbrain needs on a fresh machine: a virtualenv with pinned packages,
# generated gRPC code, and the brokers used by the real-runtime scenarios.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "splitbrain setup: creating .venv"
  "$PY" -m venv .venv
fi
echo "splitbrain setup: installing Python packages (pinned in pyproject.toml)"
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
# CPU torch first (the pinned wheel), so sentence-transformers never pulls a CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -vE "is ignored|^\s*$" || true
.venv/bin/python -m pip install -q -e ".[dev,embed]" 2>&1 | grep -vE "is ignored|^\s*$" || true
.venv/bin/python -c "import splitbrain, analysis, cluster, faults, scenarios" \
  || { echo "splitbrain setup: install failed" >&2; exit 1; }

if [ -f scripts/build_protos.py ]; then
  .venv/bin/python scripts/build_protos.py
fi
# The simulator's compiled cores (mypyc, into build/native/).  Optional: without them (no C
# compiler, say) every process runs the pure-Python modules, with the same results.
if [ -f scripts/build_native.py ]; then
  .venv/bin/python scripts/build_native.py --if-stale \
    || echo "splitbrain setup: compiled cores not built; the simulator runs pure Python (slower, same results)" >&2
fi
if [ -f scripts/install_system.sh ]; then
  bash scripts/install_system.sh
fi
if [ -f scripts/install_brokers.sh ]; then
  bash scripts/install_brokers.sh
fi
echo "splitbrain setup: done"
