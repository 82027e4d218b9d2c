"""Representational geometry: similarity matrices, CKA, kernel alignment, dimensionality.

Conventions (they differ between libraries):

* RSMs are Pearson correlations between trials' population vectors (units
  z-scored within the session first); RDM = 1 − RSM (rsatoolbox's
  "correlation" RDM). We never square distances.
* Linear CKA is a similarity in [0, 1] (Kornblith et al. 2019), not
  netrep's angular distance arccos(CKA).
* Kernel–target alignment centres both the kernel and the labels:
  A = y_cᵀ K_c y_c / (‖K_c‖_F ‖y_c‖²) (Cortes et al. 2012), in [−1, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.errors import InsufficientDataError, warn_degenerate
from neurolearn.schema import (
    SESSION_KEYS,
    iter_sessions,
    session_coords,
    session_info,
    validate,
)
from neurolearn.session_arrays import trial_by_unit, zscore_rows

__all__ = [
    "rsm",
    "rdm",
    "class_similarity",
    "first_vs_last_days",
    "linear_cka",
    "kernel_target_alignment",
    "participation_ratio",
    "pca",
    "kernel_distance",
]


def _trained_z(ds: xr.Dataset, variable: str) -> tuple[np.ndarray, xr.Dataset]:
    trained = ds
    if "heldout" in ds.coords:
        trained = ds.isel(trial=~np.asarray(ds["heldout"].values, bool))
    X = np.asarray(trained[variable].transpose("trial", "neuron").values, dtype=float)
    return zscore_rows(X), trained


def rsm(ds: xr.Dataset, *, variable: str = "rates", include_heldout: bool = False
        ) -> xr.DataArray:
    """Trial × trial representational similarity matrix of one session.

    Units are z-scored over the session's trials; entry (i, j) is the Pearson
    correlation of trials i and j across units.

    Parameters
    ----------
    ds : Dataset
        One session in the canonical layout (:mod:`neurolearn.schema`).
    variable : str, default "rates"
        The (trial, neuron) variable to use.
    include_heldout : bool, default False
        Include held-out trials (z-scored with all trials) instead of only the
        trained ones.

    Returns
    -------
    DataArray with dims (trial, trial_2)
        Trials sorted by label (targets first), then stimulus. ``trial`` and
        ``trial_2`` hold each trial's position in the session (0-based); every
        per-trial coordinate of the session (``label``, ``stimulus``,
        ``choice``, …) is kept on both dims (``label`` and ``label_2``, …).
        A trial whose population vector is flat (the same z-score on every
        unit, e.g. every unit constant) has no correlation: its row and
        column are NaN, with one ``NeurolearnWarning`` naming the session
        and the count.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> R = rsm(ds)
    >>> R.dims, R.shape[0] == R.shape[1]
    (('trial', 'trial_2'), True)
    >>> bool(abs(float(R[0, 0]) - 1.0) < 1e-12)
    True
    """
    R, sub, order = _sorted_correlations(ds, variable, include_heldout)
    # Every per-trial coordinate comes along (xarray's rule), on both dims, and
    # ``trial`` itself holds each trial's position in the session.
    position = (np.arange(ds.sizes["trial"]) if sub is ds
                else np.flatnonzero(~np.asarray(ds["heldout"].values, bool)))
    coords: dict[str, Any] = {"trial": position[order], "trial_2": position[order]}
    for name, coord in sub.coords.items():
        if coord.dims == ("trial",) and name not in SESSION_KEYS:  # those are in attrs
            values = np.asarray(coord.values)[order]
            coords[name] = ("trial", values)
            coords[f"{name}_2"] = ("trial_2", values)
    return xr.DataArray(R, dims=("trial", "trial_2"), coords=coords,
                        name="rsm", attrs={**session_info(ds), "measure": "Pearson r"})


def _sorted_correlations(ds: xr.Dataset, variable: str, include_heldout: bool
                         ) -> tuple[np.ndarray, xr.Dataset, np.ndarray]:
    """The values of :func:`rsm`: (R, the trials' Dataset, their sort order)."""
    if include_heldout:
        Z, sub = zscore_rows(trial_by_unit(ds, variable)), ds
    else:
        Z, sub = _trained_z(ds, variable)
    order = np.lexsort((np.asarray(sub["stimulus"].values).astype(str),
                        -np.asarray(sub["label"].values)))
    R = _trial_correlations(Z[order], f"rsm, session {session_info(ds)['session']}")
    return R, sub, order


def _trial_correlations(Z: np.ndarray, where: str) -> np.ndarray:
    """Pearson r between the rows of Z (trials × units); NaN rows for flat trials."""
    if Z.shape[1] == 1:  # one unit: every pair of trials is trivially aligned
        return np.ones((Z.shape[0], Z.shape[0]))
    C = Z - Z.mean(axis=1, keepdims=True)  # two-pass: centre, then the norms
    norm = np.sqrt(np.sum(C * C, axis=1))
    flat = norm <= 1e-12 * (1.0 + np.abs(Z).max(axis=1))
    if flat.any():
        warn_degenerate(where, f"{int(flat.sum())} of {flat.size} trials have a flat "
                               "population vector (the same z-score on every unit)")
    U = C / np.where(flat, 1.0, norm)[:, None]
    R = np.clip(U @ U.T, -1.0, 1.0)
    R[flat, :] = np.nan
    R[:, flat] = np.nan
    return R


def rdm(ds: xr.Dataset, *, variable: str = "rates", include_heldout: bool = False
        ) -> xr.DataArray:
    """Representational dissimilarity matrix 1 − r of :func:`rsm` (rsatoolbox's
    "correlation" RDM; not squared).

    Parameters
    ----------
    ds : Dataset
        One session in the canonical layout (:mod:`neurolearn.schema`).
    variable : str, default "rates"
        The (trial, neuron) variable to use.
    include_heldout : bool, default False
        As in :func:`rsm`.

    Returns
    -------
    DataArray (trial, trial_2)
        1 − Pearson r between trials' population vectors, with :func:`rsm`'s
        coords and attrs.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> D = rdm(ds)
    >>> bool(abs(float(D[0, 0])) < 1e-12), D.attrs["measure"]
    (True, '1 - Pearson r')
    """
    R = rsm(ds, variable=variable, include_heldout=include_heldout)
    out = 1.0 - R
    out.attrs = {**R.attrs, "measure": "1 - Pearson r"}
    return out.rename("rdm")


def first_vs_last_days(per_session: xr.DataArray, *, n_days: int = 3) -> xr.Dataset:
    """Each mouse's mean over its first and its last ``n_days`` days, and the change.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        E.g. ``class_similarity(tree)["between"]``; needs ``mouse`` and ``day``.
    n_days : int, default 3

    Returns
    -------
    Dataset with dim ``mouse``
        ``first``, ``last`` and ``change`` (last − first).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> change = first_vs_last_days(class_similarity(tree)["between"], n_days=2)
    >>> change["change"].dims, bool((change["change"] < 0).all())
    (('mouse',), True)
    """
    mice = np.unique(per_session["mouse"].values.astype(str))
    first, last = [], []
    for mouse in mice:
        sel = per_session.where(per_session["mouse"] == mouse, drop=True)
        by_day = sel.groupby("day").mean()
        values = by_day.values[np.isfinite(by_day.values)]
        if values.size < 2 * n_days:
            raise InsufficientDataError(f"mouse {mouse} has {values.size} days with values; "
                                        f"first-vs-last needs {2 * n_days}.")
        first.append(values[:n_days].mean())
        last.append(values[-n_days:].mean())
    first_a, last_a = np.array(first), np.array(last)
    return xr.Dataset({"first": ("mouse", first_a), "last": ("mouse", last_a),
                       "change": ("mouse", last_a - first_a)}, coords={"mouse": mice},
                      attrs={"n_days": n_days, "measure": str(per_session.name)})


def class_similarity(data: xr.DataTree | xr.Dataset, *, variable: str = "rates"
                     ) -> xr.Dataset:
    """Mean RSM correlation between and within classes, per session.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout.
    variable : str, default "rates"
        The (trial, neuron) variable to use.

    Returns
    -------
    Dataset with dim ``session``
        ``between`` (mean target–non-target trial correlation; falls as the
        classes separate), ``within_target``, ``within_nontarget`` (off-diagonal
        means), ``separation`` = mean within − between, and ``n_flat_trials``
        (trials left out because their population vector is flat; see
        :func:`rsm`).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> sim = class_similarity(tree)
    >>> over = sim["phase"] == "overtraining"
    >>> bool(sim["between"][over].mean() < sim["between"][~over].mean())  # classes separate
    True
    """
    validate(data)
    rows, flat_trials = [], []
    sessions = list(iter_sessions(data))
    for _, ds in sessions:
        # rsm's values without building its DataArray (this runs for every
        # simulated session of a model fit).
        R, sub, order = _sorted_correlations(ds, variable, include_heldout=False)
        lab = np.asarray(sub["label"].values)[order]
        t, n = lab == 1, lab == 0
        off = ~np.eye(lab.size, dtype=bool)
        blocks = (R[np.ix_(t, n)].ravel(), R[np.ix_(t, t)][off[np.ix_(t, t)]],
                  R[np.ix_(n, n)][off[np.ix_(n, n)]])
        # Flat trials (NaN rows, already warned about by rsm) are left out of
        # the means, not averaged in; a block with no pair left is NaN.
        rows.append(tuple(float(b[np.isfinite(b)].mean()) if np.isfinite(b).any()
                          else np.nan for b in blocks))
        flat_trials.append(int(np.isnan(np.diag(R)).sum()))
    arr = np.array(rows)
    coords = session_coords(sessions)
    return xr.Dataset({"between": ("session", arr[:, 0]),
                       "within_target": ("session", arr[:, 1]),
                       "within_nontarget": ("session", arr[:, 2]),
                       "separation": ("session", 0.5 * (arr[:, 1] + arr[:, 2]) - arr[:, 0]),
                       "n_flat_trials": ("session", np.array(flat_trials))},
                      coords=coords, attrs={"measure": "Pearson r of z-scored population "
                                                       "vectors", "neurolearn_version":
                                            __version__})


def _ratio(num: float, den: float, where: str, reason: str) -> float:
    """num / den; NaN with one NeurolearnWarning (naming ``where`` and why) where den is 0."""
    if not np.isfinite(den) or den <= 0:
        warn_degenerate(where, reason)
        return float("nan")
    return float(num / den)


def _centre_gram(K: np.ndarray) -> np.ndarray:
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def linear_cka(X: Any, Y: Any, *, debiased: bool = False) -> float:
    """Linear centred kernel alignment between two representations of the same trials.

    Parameters
    ----------
    X, Y : array of shape (n_trials, n_features_x) and (n_trials, n_features_y)
    debiased : bool, default False
        Use the unbiased HSIC estimator (Song et al. 2012; Nguyen et al.
        2021), which removes the upward bias of CKA at few trials.

    Returns
    -------
    float
        CKA similarity in [0, 1] (the debiased estimate can dip below 0); a
        scalar describing the pair. NaN, with a ``NeurolearnWarning``, where a
        representation is constant over trials.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 5))
    >>> round(linear_cka(X, 3 * X @ np.linalg.qr(np.ones((5, 5)) + np.eye(5))[0]), 12)
    1.0
    """
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same trials; got {X.shape[0]} and "
                         f"{Y.shape[0]}.")
    if not debiased:
        Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
        hsic = np.linalg.norm(Yc.T @ Xc) ** 2
        return _ratio(hsic, np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc),
                      "linear_cka", "a representation is constant over trials")
    n = X.shape[0]
    if n < 4:
        raise InsufficientDataError("debiased CKA needs at least 4 trials.")

    def hsic_u(K: np.ndarray, L: np.ndarray) -> float:
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0.0)
        np.fill_diagonal(L, 0.0)
        one = np.ones(n)
        return float((np.sum(K * L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
                      - 2 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3)))

    K, L = X @ X.T, Y @ Y.T
    return _ratio(hsic_u(K, L), np.sqrt(max(hsic_u(K, K) * hsic_u(L, L), 0.0)),
                  "linear_cka (debiased)", "a representation has no unbiased HSIC with itself")


def kernel_target_alignment(K: Any, y: Any) -> float:
    """Centred kernel–target alignment A = y_cᵀ K_c y_c / (‖K_c‖_F ‖y_c‖²).

    Parameters
    ----------
    K : array (n, n)
        A kernel (Gram) matrix, e.g. X Xᵀ of hidden representations.
    y : array (n,)
        Targets (e.g. ±1 labels).

    Returns
    -------
    float
        A in [−1, 1], a plain float (a scalar describing the pair, not a
        DataArray); NaN, with a ``NeurolearnWarning``, for a constant kernel
        or a single class.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 1.0, -1.0, -1.0])
    >>> round(kernel_target_alignment(np.outer(y, y), y), 12)  # the ideal kernel
    1.0
    """
    K, y = np.asarray(K, float), np.asarray(y, float)
    Kc = _centre_gram(K)
    yc = y - y.mean()
    return _ratio(yc @ Kc @ yc, np.linalg.norm(Kc) * (yc @ yc), "kernel_target_alignment",
                  "the centred kernel or the centred targets are zero (a constant kernel, or "
                  "one class)")


def participation_ratio(X: Any) -> float:
    """Participation ratio (Σλ)²/Σλ² of the covariance eigenvalues of X (n_trials, n_units).

    A plain float between 1 (one dimension) and n_units (isotropic); NaN,
    with a ``NeurolearnWarning``, when every unit is constant or there is one
    trial.

    Parameters
    ----------
    X : array (n_trials, n_units)
        Responses; the covariance is over trials (ddof = 1).

    Returns
    -------
    float
        In [1, n_units]; NaN where degenerate.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(20000, 4))
    >>> round(participation_ratio(X), 1)  # isotropic: about the number of units
    4.0
    >>> participation_ratio(np.c_[X[:, 0], 2 * X[:, 0]])  # one dimension
    1.0
    """
    X = np.asarray(X, float)
    if X.shape[0] < 2:
        warn_degenerate("participation_ratio", "fewer than 2 trials have no covariance")
        return float("nan")
    lam = np.clip(np.linalg.eigvalsh(np.cov(X, rowvar=False).reshape(X.shape[1], -1)), 0, None)
    return _ratio(lam.sum() ** 2, np.sum(lam ** 2), "participation_ratio",
                  "every unit is constant over trials (zero covariance)")


def pca(ds: xr.Dataset, *, n_components: int = 2, variable: str = "rates") -> xr.Dataset:
    """PCA of one session's z-scored trained trials (units differ per session).

    Parameters
    ----------
    ds : Dataset
        One session in the canonical layout (:mod:`neurolearn.schema`).
    n_components : int, default 2
        Components kept (at most min(trials, units)).
    variable : str, default "rates"
        The (trial, neuron) variable to use.

    Returns
    -------
    Dataset
        ``scores`` (trial, component), ``explained_variance_ratio``
        (component); ``label`` and ``stimulus`` coordinates on ``trial``.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> scores = pca(ds, n_components=2)
    >>> scores["scores"].dims, bool(scores["explained_variance_ratio"].sum() <= 1)
    (('trial', 'component'), True)
    """
    Z, sub = _trained_z(ds, variable)
    U, S, _ = np.linalg.svd(Z, full_matrices=False)
    k = min(n_components, S.size)
    var = S ** 2 / np.sum(S ** 2)
    return xr.Dataset(
        {"scores": (("trial", "component"), U[:, :k] * S[:k]),
         "explained_variance_ratio": ("component", var[:k])},
        coords={"component": np.arange(1, k + 1), "label": ("trial", sub["label"].values),
                "stimulus": ("trial", sub["stimulus"].values)},
        attrs=session_info(ds))


def kernel_distance(K_t: Any, K_0: Any) -> float:
    """Relative kernel change ‖K_t − K_0‖_F / ‖K_0‖_F (how far features moved from init).

    A plain float (a scalar describing the pair of kernels); NaN, with a
    ``NeurolearnWarning``, when K_0 is zero.

    Parameters
    ----------
    K_t, K_0 : array (n, n)
        The kernel (Gram matrix) now and at initialisation, on the same inputs.

    Returns
    -------
    float
        ≥ 0 (0: the kernel has not moved); NaN where K_0 is zero.

    Examples
    --------
    >>> import numpy as np
    >>> kernel_distance(2 * np.eye(3), np.eye(3))
    1.0
    """
    K_t, K_0 = np.asarray(K_t, float), np.asarray(K_0, float)
    return _ratio(np.linalg.norm(K_t - K_0), np.linalg.norm(K_0), "kernel_distance",
                  "‖K_0‖ = 0: a zero kernel has no relative change")
