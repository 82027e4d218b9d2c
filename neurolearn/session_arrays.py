"""A session's trained trials as arrays: population matrix, ±1 labels, z-scores, unit subsets.

The building blocks every per-session analysis (margins, separation,
geometry) starts from, written once.
"""

from __future__ import annotations

import array_api_compat.numpy as xnp
import numpy as np
import xarray as xr

from neurolearn.schema import check_classes
from neurolearn.zscore import standardize

__all__ = ["trial_by_unit", "trained_trials", "zscore_rows", "zscore_each", "unit_subsets",
           "pooled_fisher_direction"]


def zscore_rows(X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Z-score each unit (column) with the statistics of ``rows`` (population SD, ddof = 0).

    Parameters
    ----------
    X : ndarray (n_trials, n_units)
    rows : bool ndarray (n_trials,), optional
        The trials whose mean and SD are used (a training fold); default all.

    Returns
    -------
    ndarray (n_trials, n_units)
        Unit-free z-scores of every trial.

    Notes
    -----
    A unit constant over those rows, to rounding, is set to 0 on every trial:
    it carries nothing a decoder fit there could use, and dividing by its
    rounding-error SD (~1e-17) would blow its other trials up to ~1e17, where
    the solver's ~1e-10 weight on it decides their distances.

    Examples
    --------
    >>> import numpy as np
    >>> Z = zscore_rows(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> Z.tolist()  # the constant second unit is 0, not 0/0
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    X = np.asarray(X, dtype=float)
    rows = np.ones(X.shape[0], bool) if rows is None else np.asarray(rows, bool)
    Z, *_, constant = standardize(xnp, X[None], rows[None].astype(float))
    return np.where(constant[0, 0], 0.0, Z[0, 0])


def zscore_each(matrices: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`zscore_rows` of each matrix (all rows), those of one shape in one batched call.

    Parameters
    ----------
    matrices : list of ndarray (n_trials, n_units)

    Returns
    -------
    list of ndarray
        The z-scores, in the order given; equal to ``[zscore_rows(X) for X in
        matrices]`` (the same :func:`neurolearn.zscore.standardize` rule),
        at the cost of one call per distinct shape (sessions of one study
        mostly share theirs).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mats = [rng.normal(size=(6, 3)), rng.normal(size=(5, 3)), rng.normal(size=(6, 3))]
    >>> all(np.array_equal(a, zscore_rows(X)) for a, X in zip(zscore_each(mats), mats))
    True
    """
    out: list[np.ndarray | None] = [None] * len(matrices)
    shapes: dict[tuple[int, ...], list[int]] = {}
    for i, X in enumerate(matrices):
        shapes.setdefault(np.shape(X), []).append(i)
    for (n, _), members in shapes.items():
        stack = np.stack([np.asarray(matrices[i], dtype=float) for i in members])
        Z, *_, constant = standardize(xnp, stack, np.ones((1, n)))
        Z = np.where(constant, 0.0, Z[:, 0])
        for k, i in enumerate(members):
            out[i] = Z[k]
    return out


def unit_subsets(n_available: int, n_units: int | None, n_subsamples: int,
                 rng: np.random.Generator) -> np.ndarray | None:
    """(n_subsamples, n_units) unit indices; all units when n_units is None; None if too few.

    Parameters
    ----------
    n_available : int
        Units in the session.
    n_units : int or None
        Units per subset; None for one subset of all units.
    n_subsamples : int
        Subsets drawn (without replacement within a subset).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (n_subsamples, n_units) of int or None
        Sorted unit indices per subset; one row of all units when ``n_units``
        is None; None when the session has fewer than ``n_units``.

    Examples
    --------
    >>> import numpy as np
    >>> unit_subsets(5, 3, n_subsamples=2, rng=np.random.default_rng(0)).shape
    (2, 3)
    >>> unit_subsets(5, None, n_subsamples=2, rng=np.random.default_rng(0)).tolist()
    [[0, 1, 2, 3, 4]]
    >>> unit_subsets(2, 3, n_subsamples=2, rng=np.random.default_rng(0)) is None
    True
    """
    if n_units is None:
        return np.arange(n_available)[None, :]
    if n_units > n_available:
        return None
    keys = rng.random((n_subsamples, n_available))
    return np.sort(np.argsort(keys, axis=1)[:, :n_units], axis=1)


def trial_by_unit(ds: xr.Dataset, variable: str = "rates") -> np.ndarray:
    """All trials of a (trial, neuron) variable as a float (n_trials, n_units) array.

    Read through the Dataset's variables: ``ds[variable]`` builds a
    DataArray with every coordinate (about 1 ms on a tree node's Dataset, a
    tenth of a 1,000-permutation decode of a 15-unit session), and a
    transpose copies, so it is done only when the dims are the other way.

    Examples
    --------
    >>> ds = xr.Dataset({"rates": (("neuron", "trial"), np.arange(6).reshape(2, 3))})
    >>> trial_by_unit(ds).tolist()
    [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    """
    values = ds.variables[variable]
    if values.dims != ("trial", "neuron"):
        values = values.transpose("trial", "neuron")
    return np.asarray(values.values, dtype=float)


def trained_trials(ds: xr.Dataset, variable: str = "rates") -> tuple[np.ndarray, np.ndarray]:
    """The session's trained (non-held-out) trials: X (n, n_units) and y = ±1 (1 target).

    Parameters
    ----------
    ds : Dataset
        One session in the canonical layout (:mod:`neurolearn.schema`).
    variable : str, default "rates"
        The (trial, neuron) variable.

    Returns
    -------
    X : ndarray (n_trained, n_units)
        The ``variable`` of the trials not held out, as float.
    y : ndarray (n_trained,)
        +1 for target (label 1), −1 otherwise.

    Raises
    ------
    SchemaError, InsufficientDataError
        From :func:`neurolearn.schema.check_classes` (labels not 0/1, one
        class, fewer than 2 trials in a class).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> X, y = trained_trials(ds)
    >>> X.shape[1] == ds.sizes["neuron"], sorted(set(y.tolist()))
    (True, [-1.0, 1.0])
    """
    check_classes(ds, min_per_class=2)
    keep = (~np.asarray(ds.variables["heldout"].values, bool) if "heldout" in ds.coords
            else np.ones(ds.sizes["trial"], bool))
    X = trial_by_unit(ds, variable)[keep]
    y = np.where(np.asarray(ds.variables["label"].values)[keep] == 1, 1.0, -1.0)
    return X, y


def pooled_fisher_direction(X: np.ndarray, y: np.ndarray, *, shrinkage: float = 0.0,
                            two_pass: bool = True
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fisher's discriminant direction w = S_w⁻¹(μ₊ − μ₋) of N problems at once.

    S_w = π₊C₊ + π₋C₋ (biased class covariances, π from the class sizes),
    shrunk as (1 − α)S_w + α·tr(S_w)/p·I, pseudo-inverted where singular.

    Parameters
    ----------
    X : ndarray (N, n, p)
    y : ndarray (N, n)
        +1 / −1 class of each trial; 0 on padding (ignored).
    shrinkage : float in [0, 1], default 0
    two_pass : bool, default True
        Centre the trials on their class means before the scatter. False
        takes XᵀX − Σ n_c μ_c μ_cᵀ instead, in about half the time, and
        loses about ε·‖μ‖²/σ² of relative precision: for a ranking of
        z-scored trials, not for a reported statistic.

    Returns
    -------
    w, mu_pos, mu_neg : ndarray (N, p) each

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[[1.0, 1.0], [3.0, -1.0], [-1.0, 1.0], [-3.0, -1.0]]])
    >>> w, mu_pos, mu_neg = pooled_fisher_direction(X, np.array([[1, 1, -1, -1]]))
    >>> mu_pos.tolist(), mu_neg.tolist()
    ([[2.0, 0.0]], [[-2.0, 0.0]])
    >>> (w[0] / w[0, 0]).round(12).tolist()  # along the class difference
    [1.0, 0.0]
    """
    # Class indicators (N, n, 2); padding trials are in neither class.
    E = np.stack([y > 0, y < 0], axis=-1).astype(float)
    counts = np.maximum(E.sum(axis=1), 1)  # (N, 2)
    means = np.swapaxes(E, 1, 2) @ X / counts[..., None]  # (N, 2, p)
    mu1, mu0 = means[:, 0], means[:, 1]
    if two_pass:
        # Centre each trial on its class mean, then the scatter (half the
        # time of centring class by class: measured on 3,000 problems of
        # 152 × 8); padding rows are zeroed in place, whatever X holds there.
        centred = X - E @ means
        centred *= E.sum(axis=-1)[..., None]
        scatter = np.swapaxes(centred, 1, 2) @ centred
    else:
        Xv = X * E.sum(axis=-1)[..., None] if (X[y == 0] != 0).any() else X
        scatter = (np.swapaxes(Xv, 1, 2) @ Xv
                   - np.swapaxes(means, 1, 2) @ (means * E.sum(axis=1)[..., None]))
    Sw = scatter / counts.sum(axis=1)[:, None, None]
    p = X.shape[-1]
    Sw = ((1 - shrinkage) * Sw
          + shrinkage * np.trace(Sw, axis1=1, axis2=2)[:, None, None] / p * np.eye(p))
    diff = (mu1 - mu0)[..., None]
    if shrinkage >= 1e-6 and (np.trace(Sw, axis1=1, axis2=2) > 0).all():
        # Shrunk towards a positive multiple of I: positive definite, so a
        # solve (a batched eigendecomposition costs ~4x more).
        return np.linalg.solve(Sw, diff)[..., 0], mu1, mu0
    w = (np.linalg.pinv(Sw, hermitian=True) @ diff)[..., 0]
    return w, mu1, mu0
