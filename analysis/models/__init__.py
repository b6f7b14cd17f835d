"""Sequential models for the linearizability checker, looked up by name."""

from analysis.models import others as _others  # noqa: F401  (registers models)
from analysis.models import register as _register  # noqa: F401
from analysis.models.base import (
    ILLEGAL,
    Model,
    ModelError,
    by_key,
    get_model,
    model_names,
    register_model,
)

__all__ = ["ILLEGAL", "Model", "ModelError", "by_key", "get_model", "model_names", "register_model"]
