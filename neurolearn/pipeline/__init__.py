"""The job a user runs: the whole analysis of a study, its configuration, and its outputs.

:func:`analyze` composes the analysis modules into one result tree;
:class:`AnalysisConfig` holds every parameter; :mod:`neurolearn.pipeline.jobs`
turns a folder of recordings into ``results.nc``, figures and ``report.html``.
Nothing in the analysis modules imports this package.
"""

from neurolearn.pipeline.analyze import MEASURES, analyze, package_versions
from neurolearn.pipeline.config import (
    AnalysisConfig,
    BehaviourConfig,
    DecodingConfig,
    FlipConfig,
    MarginConfig,
    PreprocessingConfig,
    SeparationConfig,
    TrendConfig,
    load_config,
)

__all__ = [
    "analyze",
    "AnalysisConfig",
    "BehaviourConfig",
    "DecodingConfig",
    "FlipConfig",
    "MarginConfig",
    "PreprocessingConfig",
    "SeparationConfig",
    "TrendConfig",
    "load_config",
    "MEASURES",
    "package_versions",
]
