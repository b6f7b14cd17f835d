"""The ingestion pipeline's checker: the vector store ends up equal to the document store.

From the trace (records in ``docs/pipeline.md``) and the client history:

* **no stale overwrite** (safety) -- the vector store never replaced a document's chunks with
  ones computed from an *older* version (a ``vs-write`` applied with ``version`` below the
  doc's head before).  Even if a later version repairs it, readers got stale text meanwhile.
* **no duplicate chunks** (safety) -- at no time does a document hold more points of one
  version than that version's text has chunks (a re-embedded version whose chunk ids were not
  stable).  Judged over time from the vector store's ``vs-write`` records, not only at the end:
  a newer version replaces the duplicates and hides them from the final state, but every
  search in between returned the same passage several times.
* **nothing lost, nothing stale** (liveness, judged only once settled, see
  :func:`analysis.idempotency.settle_window`) -- every document in the document store at the
  end is in the vector store at exactly its latest version, with exactly the chunks the
  chunker gives for that text, and no chunk of an older version left behind.
* **acknowledged writes survive** -- a version a client was told was written is at most the
  document store's final version of that doc (the outbox commits with the doc row).

And a cost line, never a violation: chunk embeddings computed vs needed (each distinct
document version needs its chunks embedded once; every re-embedding of a redelivered copy
is wasted GPU time -- what the worker's inbox saves).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis.idempotency import SETTLE_MS, Findings, settle_window


def cost(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Chunk embeddings computed vs needed, from the workers' ``embed`` records."""
    computed = embeds = 0
    needed: dict[tuple[str, int], int] = {}
    for r in records:
        if r.get("kind") == "embed":
            embeds += 1
            computed += int(r.get("chunks", 0))
            needed.setdefault((str(r["doc"]), int(r["version"])), int(r.get("chunks", 0)))
    need = sum(needed.values())
    return {"chunks_computed": computed, "chunks_needed": need, "chunks_wasted": computed - need,
            "version_embeds": embeds, "versions_embedded": len(needed)}


def cost_line(c: dict[str, Any]) -> str:
    pct = (100.0 * c["chunks_wasted"] / c["chunks_computed"]) if c["chunks_computed"] else 0.0
    return (f"Cost: {c['chunks_computed']} chunk embeddings computed, {c['chunks_needed']} needed "
            f"({c['chunks_wasted']} wasted, {pct:.0f}%; {c['version_embeds']} embeddings of "
            f"{c['versions_embedded']} distinct document versions). Duplicated work is not a "
            "correctness error; the worker's inbox is what avoids it.")


def _chunks(n: int) -> str:
    return "1 chunk" if n == 1 else f"{n} chunks"


def duplicate_episodes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stretches of time in which the vector store held extra copies of a version's chunks.

    Replays the store's applied ``vs-write`` records per document: an upsert of version ``v``
    deletes ``removed`` points of other versions (older ones; every other one under
    ``last_write_wins``) and adds ``added`` points of ``v``.  The chunk count of ``v`` comes
    from the worker's ``embed`` record.  A document whose replayed size disagrees with the
    record's ``points`` (a store crash lost unsynced points) is no longer judged.  The store
    applies one upsert request's writes in one step, so extra copies added and removed again
    within one request were never visible to a search and do not count.
    Returns ``[{doc, version, chunks, copies, start, end}]`` with ``end`` None while still held.
    """
    chunks_of: dict[tuple[str, int], int] = {}
    held: dict[str, dict[int, int]] = {}
    untracked: set[str] = set()
    open_: dict[tuple[str, int], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in records:
        kind = r.get("kind")
        if kind == "embed":
            chunks_of.setdefault((str(r["doc"]), int(r["version"])), int(r.get("chunks", 0)))
            continue
        if kind != "vs-write" or r.get("outcome") != "applied":
            continue
        doc, version, t, req = str(r["doc"]), int(r["version"]), int(r["t"]), r.get("req")
        if doc in untracked:
            continue
        versions = held.setdefault(doc, {})
        removed = int(r.get("removed", 0))
        older = [v for v in versions if v < version]
        others = [v for v in versions if v != version]
        gone = older if sum(versions[v] for v in older) == removed else others
        for v in gone:
            del versions[v]
        versions[version] = versions.get(version, 0) + int(r.get("added", 0))
        if "points" in r and sum(versions.values()) != int(r["points"]):
            untracked.add(doc)
            continue
        for v in sorted({*versions, *(k[1] for k in open_ if k[0] == doc)}):
            key = (doc, v)
            need = chunks_of.get(key)
            have = versions.get(v, 0)
            episode = open_.get(key)
            if need and have > need:
                if episode is None:
                    episode = {"doc": doc, "version": v, "chunks": need, "copies": have, "start": t,
                               "end": None, "req": req}
                    open_[key] = episode
                    out.append(episode)
                episode["copies"] = max(episode["copies"], have)
            elif episode is not None:
                episode["end"] = t
                del open_[key]
                if episode["req"] == req and req is not None:
                    out.remove(episode)
    return out


def check_trace(records: Iterable[dict[str, Any]], history: Any = None,
                settle_ms: int = SETTLE_MS) -> dict[str, Any]:
    recs = list(records)
    f = Findings("pipeline", recs)
    final = next((r for r in reversed(recs) if r.get("kind") == "pipeline-final"), None)
    c = cost(recs)
    if final is None:
        return {"checker": "pipeline", "verdict": "unknown",
                "explanation": ["The trace has no pipeline-final record (the document store and the vector "
                                "store's final contents), so nothing can be judged.", cost_line(c)],
                "violations": [], "violation_count": 0, "unsettled": [], "stats": c}
    cutoff, quiet = settle_window(recs, settle_ms)
    committed_at: dict[tuple[str, int], int] = {}
    embeds: dict[tuple[str, int], list[dict[str, Any]]] = {}
    applied_at: dict[tuple[str, int], list[int]] = {}
    stale_writes = 0
    for r in recs:
        kind = r.get("kind")
        if kind == "embed":
            embeds.setdefault((str(r["doc"]), int(r["version"])), []).append(r)
        elif kind == "vs-write" and r.get("outcome") == "applied":
            applied_at.setdefault((str(r["doc"]), int(r["version"])), []).append(int(r["t"]))
        if kind == "doc-write":
            committed_at.setdefault((str(r["doc"]), int(r["version"])), int(r["t"]))
        elif kind == "vs-write" and r.get("outcome") == "applied":
            before = r.get("head_before")
            if before is not None and int(r["version"]) < int(before):
                stale_writes += 1
                f.add(
                    "no-stale-overwrite",
                    int(r["t"]),
                    f"the vector store replaced the chunks of {r['doc']} version {before} with chunks "
                    f"computed from the older version {r['version']} (message {r.get('msg_id')}). "
                    "A late or redelivered embedding must be rejected: upsert only if the version it "
                    "was computed from is not older than the stored one.",
                    anomaly="stale-overwrite", doc=r["doc"], version=r["version"], head_before=before,
                )
    for ep in duplicate_episodes(recs):
        if ep["end"] is None:
            continue  # still there at the end: the final-state check below names the chunk ids
        copies = ep["copies"] / ep["chunks"]
        times = f"{copies:.0f} times" if copies.is_integer() else f"{ep['copies']} points for {ep['chunks']} chunks"
        f.add(
            "no-duplicate-chunks",
            ep["start"],
            f"from {ep['start']} ms to {ep['end']} ms the vector store held {ep['copies']} points for "
            f"{ep['doc']} version {ep['version']}, whose text gives {_chunks(ep['chunks'])}: every passage "
            f"of it was stored {times}, and a search in that time returned duplicates. A newer version "
            f"replaced them at {ep['end']} ms, so the final state hides it. The version was embedded "
            "again with different chunk ids; ids must be doc:version:index so a retry overwrites instead "
            "of adding.",
            anomaly="duplicate-effect", doc=ep["doc"], version=ep["version"], copies=ep["copies"], chunks=ep["chunks"],
            until=ep["end"],
        )
    docs: dict[str, list[Any]] = final.get("docs", {})
    store: dict[str, list[list[Any]]] = final.get("store", {})
    if history is not None:
        for op in history.operations:
            if op.f != "write" or op.status != "ok" or op.output is None:
                continue
            have = docs.get(str(op.key))
            if have is None or int(have[0]) < int(op.output):
                f.add(
                    "acknowledged-write-kept",
                    (op.ret_time or 0) // 1_000_000,
                    f"the client was told {op.key} version {op.output} was written, but the document "
                    f"store ends at {'nothing' if have is None else 'version ' + str(have[0])}.",
                    anomaly="lost-write", doc=op.key,
                )
    checked = complete = 0
    for doc in sorted(docs):
        version, n_chunks = int(docs[doc][0]), int(docs[doc][1])
        checked += 1
        points = store.get(doc, [])
        latest = [p for p in points if int(p[1]) == version]
        older = sorted({int(p[1]) for p in points if int(p[1]) < version})
        newer = sorted({int(p[1]) for p in points if int(p[1]) > version})
        by_index: dict[int, list[str]] = {}
        for p in latest:
            by_index.setdefault(int(p[2]), []).append(str(p[0]))
        t_end = int(final.get("t", 0))
        dups = {i: ids for i, ids in sorted(by_index.items()) if len(ids) > 1}
        if dups:
            i, ids = next(iter(dups.items()))
            ems = embeds.get((doc, version), [])
            shown = ", ".join(f"{e['t']} ms by {e['node']}{' (redelivered)' if e.get('redelivered') else ''}"
                              for e in ems[:4])
            writes = applied_at.get((doc, version), [])
            f.add(
                "no-duplicate-chunks",
                writes[1] if len(writes) > 1 else t_end,
                f"{doc} version {version} has {len(latest)} chunks in the vector store where its text "
                f"gives {n_chunks}: chunk {i} is stored {len(ids)} times (ids {', '.join(ids[:3])}). "
                f"That version was embedded {len(ems)} times ({shown}) with different chunk ids each "
                "time; ids must be doc:version:index so a retry overwrites instead of adding.",
                anomaly="duplicate-effect", doc=doc, version=version, chunk_ids=ids[:10],
            )
        if newer:
            f.add("no-phantom-version", t_end,
                  f"{doc} has chunks of version(s) {newer} in the vector store, newer than the document "
                  f"store's {version}.", anomaly="phantom-publish", doc=doc)
        missing = [i for i in range(n_chunks) if i not in by_index]
        extra = [i for i in sorted(by_index) if i >= n_chunks]
        ok = not (missing or extra or older or dups or newer)
        if ok:
            complete += 1
            continue
        if dups and not (missing or extra or older):
            continue  # already reported above
        t0 = committed_at.get((doc, version), 0)
        if not latest:
            what = (f"still holds version {older[-1]}" if older else "holds nothing") + f" (latest is {version})"
            problem = "lost" if not older else "stale"
        elif older:
            what, problem = f"still holds chunks of older version(s) {older} next to version {version}", "stale"
        else:
            what = f"holds {len(by_index)} of the {n_chunks} chunks of version {version}"
            problem = "incomplete"
        if t0 > cutoff or not quiet or f.unfinished:
            f.unsettled.append(f"{doc} ({what})")
            continue
        f.add(
            f"no-{problem}-document",
            t0,
            f"the vector store {what} for {doc}, whose version {version} was committed at {t0} ms; "
            "the run ended with a quiet period in which it should have been embedded. "
            + ("An acked-but-not-embedded message is gone for good: ack only after the store confirmed."
               if problem == "lost" else
               "A newer embedding was overwritten or never written."),
            anomaly="lost-write", doc=doc, version=version, store_versions=sorted({int(p[1]) for p in points}),
        )
    c.update({"documents": checked, "complete": complete, "stale_overwrites": stale_writes})
    result = f.result(
        f"All {checked} documents are in the vector store at their latest version with exactly the "
        f"chunks their text gives ({complete} complete), and no embedding ever overwrote a newer one.",
        c,
    )
    result["explanation"].append(cost_line(c))
    return result
