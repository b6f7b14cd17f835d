"""The ``kind`` of every trace record, as named constants.

A trace (``trace.jsonl``) is written by the engines, the fault schedules and the systems'
end-of-run hooks, and read by the checkers and the report; a misspelt kind on either side
is a record nobody reads, silently.  Writers and readers name kinds through these
constants, so a typo is an ``AttributeError`` at import, not a blind spot.  The string
values are part of the results-folder format (``docs/results.md``): they never change.

Protocol events come from the pure cores (``CoreEvent.kind``); the cores spell them
themselves, and the constants here are the names everyone else matches them by.
"""

from __future__ import annotations

from typing import Final

# --- the wire (simulator, with ``trace_messages``) -----------------------------------------
SEND: Final = "send"
DELIVER: Final = "deliver"
DROP: Final = "drop"
DUP: Final = "dup"
STORE: Final = "store"

# --- node lifecycle and the world's state (both engines) ------------------------------------
CRASH: Final = "crash"
RESTART: Final = "restart"
RESTARTED: Final = "restarted"
"""Real engine: the restarted process serves again (``boot_ms``)."""
PAUSE: Final = "pause"
RESUME: Final = "resume"
CLOCK: Final = "clock"
LINK: Final = "link"

# --- clients ---------------------------------------------------------------------------------
CLIENT_INVOKE: Final = "client-invoke"
CLIENT_COMPLETE: Final = "client-complete"

# --- faults ------------------------------------------------------------------------------------
FAULT_START: Final = "fault-start"
FAULT_END: Final = "fault-end"
FAULT_SKIPPED: Final = "fault-skipped"
FAULT_ERROR: Final = "fault-error"
FAILPOINT_FROZEN: Final = "failpoint-frozen"
FAILPOINT_THAW: Final = "failpoint-thaw"

# --- what systems record about their nodes ------------------------------------------------------
LEADER_LOG: Final = "leader-log"
FINAL_LOG: Final = "final-log"
SAGA_FINAL: Final = "saga-final"
OUTBOX_FINAL: Final = "outbox-final"
NODE_FINAL: Final = "node-final"
SETTLE_UNFINISHED: Final = "settle-unfinished"
"""Real engine: the settle phase ran out of time while nodes were still reporting work (a
loaded machine works through a backlog slowly), so "never arrived" cannot be told from "still
on its way" (``settle_s``, ``window_s``)."""
PIPELINE_FINAL: Final = "pipeline-final"

# --- protocol events the engines, faults and runner match on (emitted by the cores) -------------
ROLE: Final = "role"
ELECTION: Final = "election"
VOTE: Final = "vote"
ACK: Final = "ack"
READ: Final = "read"
COMMIT: Final = "commit"
PUBLISH: Final = "publish"
CONSUME: Final = "consume"
EFFECT: Final = "effect"
DEDUP: Final = "dedup"
SAGA_STEP: Final = "saga-step"
DOC_WRITE: Final = "doc-write"
BATCH_START: Final = "batch-start"
BATCH_EMBEDDED: Final = "batch-embedded"
VS_WRITE: Final = "vs-write"
MSG_ACK: Final = "msg-ack"
BROKER_APPEND: Final = "broker-append"
PRODUCED: Final = "produced"
"""A producer learned where its event landed (topic, partition, offset, msg_id)."""
HANDLED: Final = "handled"
"""A consumer is done with a log position (topic, partition, offset, msg_id, outcome):
processed, dead-lettered, parked or a duplicate.  What the liveness checker reads."""
PROCESS_FAILED: Final = "process-failed"
