"""Fit several model variants to the same data and rank them (BIC)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from neurolearn._version import __version__
from neurolearn.errors import warn_degenerate
from neurolearn.fit.optimise import fit_model
from neurolearn.fit.simulate import MEASURES, ModelSetup, as_measures

__all__ = ["MODELS", "compare_models"]

MODELS = {
    "lazy": {"setup": {"loss": "ce"}, "fixed": {"gamma": 1e-3},
             "free": ("epochs_per_day", "readout_noise")},
    "rich-ce": {"setup": {"loss": "ce"}, "fixed": {},
                "free": ("gamma", "epochs_per_day", "readout_noise")},
    "rich-hinge": {"setup": {"loss": "hinge"}, "fixed": {},
                   "free": ("gamma", "epochs_per_day", "readout_noise")},
}


def compare_models(data: xr.DataTree | xr.Dataset, *, models: dict[str, dict] | None = None,
                   setup: ModelSetup = ModelSetup(), measures: tuple[str, ...] = MEASURES,
                   n_bootstrap: int = 0, seed: int = 0, progress: bool = True,
                   **fit_kwargs: Any) -> xr.Dataset:
    """Fit several model variants to the same data and rank them by fit quality.

    Parameters
    ----------
    data : DataTree or Dataset
        As in :func:`fit_model`.
    models : dict, optional
        name → {"setup": ModelSetup field overrides, "fixed": {...},
        "free": (...)}. Default :data:`MODELS`: lazy (γ = 10⁻³, CE),
        rich-CE and rich-hinge (γ free).
    setup, measures, n_bootstrap, seed, progress, **fit_kwargs
        Passed to :func:`fit_model` for every variant.

    Returns
    -------
    Dataset with dim ``model`` (best first)
        ``loss`` (mean standardised squared error), ``bic`` (n·log(loss) +
        k·log(n), n = measures × days, k = free parameters; NaN, ranked last,
        where the loss is 0), ``status`` ("ok" or why the BIC is NaN), ``n_free``,
        ``estimate`` (model, parameter) and ``model_curve`` (model, measure,
        day); ``data_curve`` and ``data_sem`` (measure, day).

    Examples
    --------
    A tiny fit (a real one uses the default setup and budget):

    >>> from data_loaders import make_overtraining_dataset
    >>> from neurolearn.fit import ModelSetup, session_measures
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> per = session_measures(tree, measures=("accuracy",))
    >>> res = compare_models(per, setup=ModelSetup(n_replicates=2, width=50, trials_per_stimulus=4),
    ...                      measures=("accuracy",), maxfev=6, progress=False,
    ...                      grid={"gamma": (0.3, 1.0), "epochs_per_day": (5.0, 15.0),
    ...                            "readout_noise": (0.3, 0.8)})
    >>> sorted(res["model"].values.tolist()), res["model_curve"].dims
    (['lazy', 'rich-ce', 'rich-hinge'], ('model', 'measure', 'day'))
    >>> bool((res["loss"].diff("model") >= 0).all())  # ranked, best first
    True
    """
    models = MODELS if models is None else models
    per_session = as_measures(data, tuple(measures), setup.n_folds, seed)
    fits = {}
    for name, spec in tqdm(models.items(), desc="models", disable=not progress):
        fits[name] = fit_model(per_session, free=tuple(spec["free"]), fixed=spec.get("fixed"),
                               setup=replace(setup, **spec.get("setup", {})),
                               measures=measures, n_bootstrap=n_bootstrap, seed=seed,
                               progress=False, **fit_kwargs)
    names = list(fits)
    loss = np.array([float(fits[m]["loss"]) for m in names])
    k = np.array([int(fits[m]["free"].sum()) for m in names])
    n = len(measures) * fits[names[0]].sizes["day"]
    # A loss of exactly 0 (the model reproduces the data to the last digit)
    # has no log: NaN and a warning, not −inf ranking it first silently.
    bic = np.where(loss > 0, n * np.log(np.where(loss > 0, loss, 1.0)) + k * np.log(n), np.nan)
    status = np.array(["ok" if value > 0 else f"its loss is {value}; no BIC"
                       for value in loss], dtype=object)
    for name, value, why in zip(names, loss, status, strict=True):
        if not value > 0:
            warn_degenerate(f"compare_models, model {name}", why)
    order = np.argsort(bic)
    first = fits[names[0]]
    return xr.Dataset(
        {"loss": ("model", loss[order]), "bic": ("model", bic[order]),
         "n_free": ("model", k[order]), "status": ("model", status[order]),
         "estimate": (("model", "parameter"),
                      np.stack([fits[names[i]]["estimate"].values for i in order])),
         "model_curve": (("model", "measure", "day"),
                         np.stack([fits[names[i]]["model_curve"].values for i in order])),
         "data_curve": (("measure", "day"), first["data_curve"].values),
         "data_sem": (("measure", "day"), first["data_sem"].values)},
        coords={"model": [names[i] for i in order], "parameter": first["parameter"].values,
                "measure": first["measure"].values, "day": first["day"].values,
                "phase": ("day", first["phase"].values)},
        attrs={"models": json.dumps({m: {k2: (list(v) if isinstance(v, tuple) else v)
                                          for k2, v in spec.items()}
                                      for m, spec in models.items()}),
               "criterion": "BIC on the standardised squared error; lower is better",
               "seed": seed, "neurolearn_version": __version__})
