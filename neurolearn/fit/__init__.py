"""Fit the feature-learning model to a recording's day-by-day curves.

:mod:`~neurolearn.fit.simulate` makes the model's recording and measures it
as the data are; :mod:`~neurolearn.fit.objective` compares model and data
curves; :mod:`~neurolearn.fit.optimise` fits and bootstraps
(:func:`fit_model`); :mod:`~neurolearn.fit.compare` ranks model variants
(:func:`compare_models`).
"""

from neurolearn.fit.compare import MODELS, compare_models
from neurolearn.fit.optimise import fit_model
from neurolearn.fit.simulate import (
    BOUNDS,
    GRID,
    MEASURES,
    PARAMETERS,
    ModelSetup,
    day_curves,
    session_measures,
    simulate_curves,
    simulate_sessions,
)

__all__ = ["PARAMETERS", "BOUNDS", "GRID", "MEASURES", "MODELS", "ModelSetup",
           "session_measures", "day_curves", "simulate_sessions", "simulate_curves",
           "fit_model", "compare_models"]
