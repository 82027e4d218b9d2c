"""neurolearn: does a neural population keep learning after behaviour saturates?

Batched, GPU-capable decoding, margins and representational geometry of
chronic recordings across training days, in the canonical xarray layout of
:mod:`neurolearn.schema`.
"""

from neurolearn import backend, behavior, preprocess, schema, summary
from neurolearn._version import __version__
from neurolearn.behavior import days_to_criterion, performance
from neurolearn.errors import InsufficientDataError, LoaderError, NeurolearnError, SchemaError
from neurolearn.preprocess import preprocess_session
from neurolearn.schema import iter_sessions, make_session, stack_sessions, to_tree, validate
from neurolearn.summary import across_mice

__all__ = [
    "__version__",
    "backend",
    "behavior",
    "preprocess",
    "schema",
    "summary",
    "performance",
    "days_to_criterion",
    "across_mice",
    "preprocess_session",
    "make_session",
    "validate",
    "iter_sessions",
    "stack_sessions",
    "to_tree",
    "NeurolearnError",
    "SchemaError",
    "LoaderError",
    "InsufficientDataError",
]
