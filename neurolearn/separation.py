"""Separation of the two classes' population responses per session: Fisher's J and d′.

Both are statistics of the same trained trials the margins use
(:mod:`neurolearn.session_arrays`), in the same z-score units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.backend import make_rng, resolve_namespace
from neurolearn.decoding.constraints import check_decoder_params
from neurolearn.decoding.cv import session_problem, session_seed
from neurolearn.decoding.engine import cv_scores
from neurolearn.errors import ParameterError, warn_degenerate
from neurolearn.params import Interval, check_params
from neurolearn.schema import iter_sessions, session_coords, validate
from neurolearn.session_arrays import (
    pooled_fisher_direction,
    trained_trials,
    unit_subsets,
    zscore_rows,
)

__all__ = ["fisher_discriminant", "fisher_separation", "dprime", "SEPARATION_PARAMETERS"]

#: The separation functions' parameters, declared once (see :mod:`neurolearn.params`).
SEPARATION_PARAMETERS: dict[str, list[Any]] = {
    "n_units": [Interval("int", 1, None), None],
    "n_subsamples": [Interval("int", 1, None)],
    "seed": [Interval("int", 0, None)],
    "shrinkage": [Interval("real", 0, 1)],
    "variable": [str],
}


def fisher_discriminant(A: np.ndarray, B: np.ndarray, *, shrinkage: float = 0.0) -> float:
    """Fisher's J = Δμᵀ S_w⁻¹ Δμ between two sets of vectors (rows).

    S_w = π_A C_A + π_B C_B (biased covariances, π from the set sizes), shrunk
    as (1−α)S_w + α·tr(S_w)/p·I, pseudo-inverted where singular
    (:func:`neurolearn.session_arrays.pooled_fisher_direction`). With α > 0,
    J is invariant to rescaling the vectors.

    Parameters
    ----------
    A, B : array (n_a, p), (n_b, p)
        The two sets of vectors (rows), e.g. z-scored population responses.
    shrinkage : float in [0, 1], default 0
        α of the shrinkage toward a scaled identity.

    Returns
    -------
    float
        J ≥ 0 in squared units of the pooled within-set SD (dimensionless).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 1.0], [2.0, -1.0]])
    >>> fisher_discriminant(A, A - [4.0, 0.0])  # Δμ = (4, 0), S_w = diag(0.5, 0.5)
    32.0
    """
    A, B = np.asarray(A, float), np.asarray(B, float)
    X = np.concatenate([A, B])[None]
    y = np.r_[np.ones(A.shape[0]), -np.ones(B.shape[0])][None]
    w, mu_a, mu_b = pooled_fisher_direction(X, y, shrinkage=shrinkage)
    return float((mu_a - mu_b)[0] @ w[0])


def fisher_separation(data: xr.DataTree | xr.Dataset, *, shrinkage: float = 0.0,
                      n_units: int | None = None, n_subsamples: int = 20, seed: int = 0,
                      variable: str = "rates") -> xr.DataArray:
    """Fisher discriminant J = Δμᵀ S_w⁻¹ Δμ of the trained trials of each session.

    Units are z-scored per session; S_w is the pooled within-class covariance
    Σ_k π_k C_k (biased), shrunk as (1−α)S_w + α·tr(S_w)/p·I; pseudo-inverse
    where singular.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout.
    shrinkage : float in [0, 1], default 0
        α of :func:`fisher_discriminant`.
    n_units : int, optional
        Average J over random subsets of this many units (``n_subsamples`` per
        session), so sessions with different unit counts compare; default all
        units.
    n_subsamples : int, default 20
    seed : int, default 0
        Seeds the unit subsets (per session).
    variable : str, default "rates"
        The (trial, neuron) variable to use.

    Returns
    -------
    DataArray with dim ``session``
        J (squared Mahalanobis distance between class means), averaged over
        unit subsamples when ``n_units`` is given; coordinate ``status``: "ok",
        or why the session's J is NaN (fewer units than ``n_units``; every
        unit constant), each such session with one ``NeurolearnWarning``.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> J = fisher_separation(tree)
    >>> J.dims, J["status"].values.tolist().count("ok")
    (('session',), 8)
    >>> bool((J > 0).all())
    True
    """
    check_params({"shrinkage": shrinkage, "n_units": n_units, "n_subsamples": n_subsamples,
                  "seed": seed, "variable": variable}, SEPARATION_PARAMETERS,
                 where="fisher_separation")
    validate(data)
    values, status = [], []
    for _, ds in iter_sessions(data):
        X, y = trained_trials(ds, variable)
        Z = zscore_rows(X, np.ones(y.size, bool))
        session = str(ds["session"].values[0])
        subsets = unit_subsets(Z.shape[1], n_units, n_subsamples,
                                make_rng(session_seed(seed, session)))
        if subsets is None:
            reason = f"too few units ({Z.shape[1]} < n_units = {n_units})"
        elif not np.any(Z):
            reason = "every unit is constant over the trained trials (S_w = 0, Δμ = 0)"
        else:
            J = [fisher_discriminant(Z[y > 0][:, units], Z[y < 0][:, units],
                                     shrinkage=shrinkage)
                 for units in subsets]  # a few dozen p×p solves per session
            values.append(float(np.mean(J)))
            status.append("ok")
            continue
        warn_degenerate(f"fisher_separation, session {session}", reason)
        values.append(np.nan)
        status.append(reason)
    coords = {**session_coords(iter_sessions(data)),
              "status": ("session", np.array(status, dtype=object))}
    return xr.DataArray(np.array(values), dims="session", coords=coords, name="fisher_J",
                        attrs={"shrinkage": shrinkage, "n_units": "all" if n_units is None
                               else n_units, "seed": seed, "neurolearn_version": __version__})


def dprime(data: xr.DataTree | xr.Dataset, method: str = "lda", *, n_folds: int = 10,
           seed: int = 0, device: Any = "cpu", variable: str = "rates",
           folds: str | None = None, **params: Any) -> xr.DataArray:
    """d′ of cross-validated decision values along the decoder axis.

    d′ = (m₁ − m₀)/√(½(v₁ + v₀)) of the held-out decision values of the
    decoder of :func:`neurolearn.decoding.decode` (same folds and seed).

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout.
    method : {"lda", "ridge", "lstsq", "logistic"}, default "lda"
        The decoder of :func:`neurolearn.decoding.decode`.
    n_folds : int, default 10
    seed : int, default 0
        Seeds the folds (as ``decode``).
    device : {"cpu", "cuda"} or namespace
    variable : str, default "rates"
        The (trial, neuron) variable to use.
    folds : str, optional
        A trial coordinate giving each trial's test fold (as in
        :func:`~neurolearn.decoding.decode`); ``n_folds`` is then ignored.
    **params
        The decoder's ``shrinkage``, ``alpha`` or ``C``.

    Returns
    -------
    DataArray with dim ``session``
        d′; coordinate ``status``: "ok", or why the session's d′ is NaN
        (decision values constant within the classes, with one
        ``NeurolearnWarning``).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> d = dprime(tree, "lda", n_folds=5)
    >>> d.dims, bool(d.max() > 1)
    (('session',), True)
    """
    unknown = sorted(set(params) - {"shrinkage", "alpha", "C"})
    if unknown:
        raise ParameterError(f"dprime: unknown decoder parameter(s) {unknown}; allowed: "
                             "shrinkage, alpha, C.")
    check_decoder_params("dprime", method=method, n_folds=n_folds, seed=seed, variable=variable,
                         folds=folds, **params)
    validate(data)
    xp = resolve_namespace(device)
    values, status = [], []
    for _, ds in iter_sessions(data):
        prob = session_problem(ds, n_folds=n_folds, seed=seed, variable=variable, folds=folds)
        _, dec = cv_scores(xp, method, xp.asarray(prob.X[None, :, :]), prob.train, prob.test,
                           prob.y[None, :], params)
        d, y = dec[0][prob.trained], prob.y[prob.trained]
        spread = np.sqrt(0.5 * (d[y > 0.5].var() + d[y < 0.5].var()))
        if not spread > 0:
            reason = "the decision values do not vary within the classes"
            warn_degenerate(f"dprime, session {prob.session}", reason)
            values.append(np.nan)
            status.append(reason)
            continue
        values.append((d[y > 0.5].mean() - d[y < 0.5].mean()) / spread)
        status.append("ok")
    coords = {**session_coords(iter_sessions(data)),
              "status": ("session", np.array(status, dtype=object))}
    return xr.DataArray(np.array(values), dims="session", coords=coords,
                        name="dprime", attrs={"method": method, "n_folds": n_folds,
                                              "seed": seed, "neurolearn_version": __version__})
