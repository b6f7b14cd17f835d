"""A real embedded vector store: sqlite rows + numpy vectors, versioned conditional upsert.

Why sqlite: one file, transactions, crash-safe (a document write's deletes, puts and head move
commit together, like the simulated store's one synced ``Ready`` batch).  Vectors are float32
blobs; search loads them into one numpy matrix and takes a dot product (rows are normalised,
so dot = cosine).  That is exact brute-force search, fine for the playground's sizes.

The decision itself is :func:`cluster.core.pipeline.plan_upsert`, the same function the
simulated store uses, so "newer / same / stale" cannot drift between the two engines.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.core.pipeline import DocWrite, Point, UpsertPlan, plan_upsert

DB_NAME = "vectors.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
  point_id TEXT PRIMARY KEY, doc TEXT NOT NULL, version INTEGER NOT NULL, idx INTEGER NOT NULL,
  text TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS points_doc ON points(doc);
CREATE TABLE IF NOT EXISTS heads (doc TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Hit:
    score: float
    point_id: str
    doc: str
    version: int
    index: int
    text: str


class VectorStore:
    """``upsert(DocWrite)`` with the versioned rule; ``search(vector, k)`` by cosine."""

    def __init__(self, directory: str | Path, *, last_write_wins: bool = False) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.last_write_wins = last_write_wins
        self.db = sqlite3.connect(str(self.dir / DB_NAME), check_same_thread=False)
        self.db.executescript(_SCHEMA)
        self.db.commit()

    @staticmethod
    def exists(directory: str | Path) -> bool:
        return (Path(directory) / DB_NAME).is_file()

    def close(self) -> None:
        self.db.close()

    def set_meta(self, **items: str) -> None:
        with self.db:
            for k, v in sorted(items.items()):
                self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, str(v)))

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta ORDER BY key").fetchall())

    def _doc_points(self, doc: str) -> dict[str, Point]:
        import numpy as np

        rows = self.db.execute("SELECT point_id, version, idx, text, vector FROM points WHERE doc = ?", (doc,))
        return {pid: Point(pid, doc, int(v), int(i), str(t), tuple(np.frombuffer(b, dtype=np.float32).tolist()))
                for pid, v, i, t, b in rows}

    def upsert(self, w: DocWrite) -> UpsertPlan:
        """One transaction: decide with :func:`plan_upsert`, then delete, put, move the head."""
        import numpy as np

        with self.db:
            row = self.db.execute("SELECT version FROM heads WHERE doc = ?", (w.doc,)).fetchone()
            head = int(row[0]) if row else None
            # vectors round-trip through float32; compare in the same precision
            w32 = DocWrite(w.doc, w.version, w.msg_id, tuple(
                Point(p.point_id, p.doc, p.version, p.index, p.text,
                      tuple(np.asarray(p.vector, dtype=np.float32).tolist())) for p in w.points))
            plan = plan_upsert(self._doc_points(w.doc), head, w32, self.last_write_wins)
            for pid in plan.delete:
                self.db.execute("DELETE FROM points WHERE point_id = ?", (pid,))
            for p in plan.put:
                self.db.execute(
                    "INSERT OR REPLACE INTO points(point_id, doc, version, idx, text, vector) VALUES (?,?,?,?,?,?)",
                    (p.point_id, p.doc, p.version, p.index, p.text, np.asarray(p.vector, dtype=np.float32).tobytes()))
            if plan.head_after is not None and plan.head_after != head:
                self.db.execute("INSERT OR REPLACE INTO heads(doc, version) VALUES (?, ?)", (w.doc, plan.head_after))
        return plan

    def import_points(self, points: list[Point], heads: dict[str, int]) -> None:
        """Copy a store's contents as they are (no upsert rule: a flawed store's extra
        versions are copied too), in one transaction.  The real engine's vector-store node
        keeps its points in its WAL; this makes them searchable with ``splitbrain query``."""
        import numpy as np

        with self.db:
            for p in points:
                self.db.execute(
                    "INSERT OR REPLACE INTO points(point_id, doc, version, idx, text, vector) VALUES (?,?,?,?,?,?)",
                    (p.point_id, p.doc, p.version, p.index, p.text, np.asarray(p.vector, dtype=np.float32).tobytes()))
            for doc, v in heads.items():
                self.db.execute("INSERT OR REPLACE INTO heads(doc, version) VALUES (?, ?)", (doc, int(v)))

    def heads(self) -> dict[str, int]:
        return {d: int(v) for d, v in self.db.execute("SELECT doc, version FROM heads ORDER BY doc")}

    def snapshot(self) -> dict[str, list[list[Any]]]:
        """doc -> ``[[point_id, version, index], ...]``: the same shape the checker reads."""
        out: dict[str, list[list[Any]]] = {}
        for pid, doc, v, i in self.db.execute("SELECT point_id, doc, version, idx FROM points ORDER BY doc, point_id"):
            out.setdefault(str(doc), []).append([str(pid), int(v), int(i)])
        return out

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def search(self, vector: Any, k: int = 5) -> list[Hit]:
        """Exact cosine top-k (vectors are stored normalised; the query is normalised here)."""
        import numpy as np

        rows = self.db.execute("SELECT point_id, doc, version, idx, text, vector FROM points ORDER BY point_id").fetchall()
        if not rows:
            return []
        mat = np.stack([np.frombuffer(r[5], dtype=np.float32) for r in rows])
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        q = q / (float(np.linalg.norm(q)) or 1.0)
        scores = mat @ q
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(float(scores[j]), str(rows[j][0]), str(rows[j][1]), int(rows[j][2]), int(rows[j][3]),
                    str(rows[j][4])) for j in order]
