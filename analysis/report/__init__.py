"""Reports a learner can read: one self-contained HTML file per run.

``render_folder(folder)`` reads a results folder (see :mod:`scenarios.results`) and writes
``report.html`` next to the data; ``splitbrain report [RUN_DIR]`` re-renders it.
"""

from __future__ import annotations

from analysis.report.html import render, render_folder

__all__ = ["render", "render_folder"]
