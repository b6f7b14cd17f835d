"""A learner's progress: which lessons they predicted, and whether they were right.

One JSON file per user, in the XDG data directory: ``$XDG_DATA_HOME/splitbrain/progress.json``
(``~/.local/share/splitbrain/progress.json`` when the variable is unset).  It is written by
``splitbrain run NAME --predict ...`` and by ``splitbrain learn``, and read by ``learn --list``
and ``learn --status``.

The *first* prediction for a lesson decides its state (``right`` or ``wrong``): once the
answer has been seen, predicting again proves nothing, so later attempts are kept as
history but do not change the score.  The file is replaced atomically (written beside it,
then renamed), so an interrupted write never leaves half a file; a file that cannot be
read is an error naming it (:class:`ProgressError`), never silently reset.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAX_ATTEMPTS", "Progress", "ProgressError", "progress_path"]

MAX_ATTEMPTS = 20
"""Attempts kept per lesson (the first is always kept)."""


class ProgressError(ValueError):
    """The progress file cannot be read or written (names the file)."""


def progress_path() -> Path:
    """``$XDG_DATA_HOME/splitbrain/progress.json``, default ``~/.local/share/...``."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base.strip() and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "splitbrain" / "progress.json"


@dataclass
class Progress:
    """The whole file in memory; :meth:`load` it, change it, :meth:`save` it."""

    path: Path
    lessons: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path | None = None) -> Progress:
        p = path or progress_path()
        if not p.exists():
            return cls(p, {})
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise ProgressError(f"{p}: cannot read the progress file ({e})") from None
        except json.JSONDecodeError as e:
            raise ProgressError(f"{p}: the progress file is not valid JSON ({e.msg} at line {e.lineno}); "
                                "move it away to start afresh") from None
        if not isinstance(data, dict) or not isinstance(data.get("lessons", {}), dict):
            raise ProgressError(f"{p}: not a splitbrain progress file (expected an object with 'lessons')")
        return cls(p, dict(data.get("lessons", {})))

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": 1, "lessons": self.lessons}, indent=2, sort_keys=True) + "\n",
                           encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as e:
            raise ProgressError(f"{self.path}: cannot write the progress file ({e.strerror})") from None

    # --- reading -------------------------------------------------------------------------------

    def state(self, lesson: str) -> str:
        """``new``, or the grade of the first prediction (``right`` / ``wrong``)."""
        entry = self.lessons.get(lesson)
        if not entry or not entry.get("first"):
            return "new"
        return str(entry["first"].get("grade", "new"))

    def follow_up_state(self, lesson: str) -> str:
        entry = self.lessons.get(lesson) or {}
        first = entry.get("follow_up")
        return str(first.get("grade")) if isinstance(first, dict) else "new"

    # --- writing -------------------------------------------------------------------------------

    def record(self, lesson: str, predicted: str, grade: str, *, seed: int, engine: str,
               run_dir: str | None = None) -> bool:
        """Record a prediction; returns whether it was the first (the one that counts).
        An ungraded prediction (the run could not decide) is kept but never counts."""
        entry = self.lessons.setdefault(lesson, {})
        attempt = {"predicted": predicted, "grade": grade, "seed": seed, "engine": engine, "at": _now()}
        if run_dir:
            attempt["run"] = run_dir
        attempts = entry.setdefault("attempts", [])
        attempts.append(attempt)
        if len(attempts) > MAX_ATTEMPTS:
            del attempts[1:len(attempts) - MAX_ATTEMPTS + 1]
        first = grade in ("right", "wrong") and not entry.get("first")
        if first:
            entry["first"] = attempt
        return first

    def record_follow_up(self, lesson: str, predicted: str, grade: str) -> bool:
        """Record the follow-up prediction; only the first counts."""
        entry = self.lessons.setdefault(lesson, {})
        if entry.get("follow_up") or grade not in ("right", "wrong"):
            return False
        entry["follow_up"] = {"predicted": predicted, "grade": grade, "at": _now()}
        return True


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
