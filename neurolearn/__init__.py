"""neurolearn: does a neural population keep learning after behaviour saturates?

Batched, GPU-capable decoding, margins and representational geometry of
chronic recordings across training days, in the canonical xarray layout of
:mod:`neurolearn.schema`. :func:`analyze` runs the whole study's analysis
(see :mod:`neurolearn.pipeline`).
"""

from neurolearn import accessor, backend, behavior, decoding, preprocess, schema, summary
from neurolearn._version import __version__
from neurolearn.across_days import (
    aligned_transfer,
    decoder_transfer,
    learning_vs_drift,
    representational_drift,
)
from neurolearn.behavior import days_to_criterion, performance
from neurolearn.decoding import cross_temporal, decode, decode_time
from neurolearn.errors import (
    InsufficientDataError,
    LoaderError,
    NeurolearnError,
    ParameterError,
    SchemaError,
)
from neurolearn.preprocess import preprocess_session
from neurolearn.schema import iter_sessions, make_session, stack_sessions, to_tree, validate
from neurolearn.summary import across_mice, phase_summary

__all__ = [
    "__version__",
    "backend",
    "behavior",
    "preprocess",
    "schema",
    "summary",
    "decoding",
    "accessor",
    "decode",
    "decode_time",
    "cross_temporal",
    "phase_summary",
    "performance",
    "days_to_criterion",
    "across_mice",
    "preprocess_session",
    "make_session",
    "validate",
    "iter_sessions",
    "stack_sessions",
    "to_tree",
    "decoder_transfer",
    "learning_vs_drift",
    "representational_drift",
    "aligned_transfer",
    "NeurolearnError",
    "SchemaError",
    "LoaderError",
    "InsufficientDataError",
    "ParameterError",
    "analyze",
    "AnalysisConfig",
]

# The composition layer is imported on first use: the analysis modules never
# import it, and `import neurolearn` stays as light as they are.
_LAZY = {"analyze": "neurolearn.pipeline", "AnalysisConfig": "neurolearn.pipeline"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neurolearn' has no attribute {name!r}")
