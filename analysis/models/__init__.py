"""Sequential models for the linearizability checker, looked up by name.

One module per model family: :mod:`~analysis.models.register` (register, cas-register,
etcd, kv-register), :mod:`~analysis.models.multi_register`, :mod:`~analysis.models.mutex`,
:mod:`~analysis.models.kv` and :mod:`~analysis.models.queue`.  Importing this package
registers them all.  Values are compared by type and value (:mod:`analysis.models.values`).
"""

from analysis.models import kv as _kv  # noqa: F401  (registers models)
from analysis.models import multi_register as _multi_register  # noqa: F401
from analysis.models import mutex as _mutex  # noqa: F401
from analysis.models import queue as _queue  # noqa: F401
from analysis.models import register as _register  # noqa: F401
from analysis.models.base import (
    ILLEGAL,
    Impossible,
    Model,
    ModelError,
    by_key,
    get_model,
    model_names,
    register_model,
    unregister_model,
)

__all__ = ["ILLEGAL", "Impossible", "Model", "ModelError", "by_key", "get_model", "model_names", "register_model",
           "unregister_model"]
