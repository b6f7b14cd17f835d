"""Read a results folder into plain values the report's drawing code can use.

The one import point for the report's data layer; the code lives in three modules, one
responsibility each:

* :mod:`analysis.report.rundata` -- the data model (:class:`Op`, :class:`RunData`);
* :mod:`analysis.report.loading` -- reading a results folder, selectively (the history
  whole, the trace in two passes; see its docstring);
* :mod:`analysis.report.views` -- what the drawing code derives from a run (focus,
  sampled operations, leader/outage segments, per-fault-window statistics, descriptions).
"""

from __future__ import annotations

from analysis.report.loading import (
    BULK_KINDS,
    CLIENT_SAMPLE,
    WIRE_KINDS,
    load_detail,
    load_run,
    merge_ranges,
    parse_lines,
    proc_of,
    read_ops,
)
from analysis.report.rundata import Op, RunData, natural_key
from analysis.report.views import (
    Focus,
    Selection,
    choose_focus,
    client_names,
    counterexample,
    describe_op,
    first_violation,
    involved_ids,
    leader_based,
    leader_segments,
    leaders_by_term,
    node_roles,
    ops_between,
    outages,
    outside_faults_stats,
    select_ops,
    short,
    window_stats,
)

__all__ = [
    "BULK_KINDS",
    "CLIENT_SAMPLE",
    "WIRE_KINDS",
    "Focus",
    "Op",
    "RunData",
    "Selection",
    "choose_focus",
    "client_names",
    "counterexample",
    "describe_op",
    "first_violation",
    "involved_ids",
    "leader_based",
    "leader_segments",
    "leaders_by_term",
    "load_detail",
    "load_run",
    "merge_ranges",
    "natural_key",
    "node_roles",
    "ops_between",
    "outages",
    "outside_faults_stats",
    "parse_lines",
    "proc_of",
    "read_ops",
    "select_ops",
    "short",
    "window_stats",
]
