#!/usr/bin/env bash
# One command for a newcomer: set everything up, then run the main job on an embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo
if .venv/bin/splitbrain list >/dev/null 2>&1; then
  echo "+ splitbrain run raft-leader-partition --seed 7 --flaw leader_reads_without_quorum"
  .venv/bin/splitbrain run raft-leader-partition --seed 7 --flaw leader_reads_without_quorum || true
else
  echo "+ splitbrain check analysis/examples/stale-read.jsonl --model kv-register"
  .venv/bin/splitbrain check analysis/examples/stale-read.jsonl --model kv-register || true
fi
