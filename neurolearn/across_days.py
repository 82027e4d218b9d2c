"""Analyses that tracked cells open: transfer, learning vs drift, representational drift.

With the same cells recorded day after day (the ``track`` coordinate, see
:mod:`neurolearn.tracking`), a population's change between two days can be
measured directly instead of only through per-day summaries:

:func:`decoder_transfer`
    Train on day d, test on day d′ with the cells present on both: a
    (train_day, test_day) accuracy matrix with a permutation null, the
    cross-day analogue of cross-temporal decoding.
:func:`learning_vs_drift`
    Split the change of the class difference δ = μ₁ − μ₀ between two days
    into its part along day d's coding axis and the part orthogonal to it
    (noise-bias corrected), and compare day d′'s separation along day d's
    fixed axis with its separation along a re-fit axis. Growth along the
    axis with the fixed axis as good as a re-fit one is separation; a fixed
    axis falling behind is rotation; orthogonal change with no growth is
    drift.
:func:`representational_drift`
    Population-vector correlation, RSM correlation and linear CKA of the
    tracked cells' stimulus-mean responses between days.
:func:`aligned_transfer`
    For untracked populations: align day d′ to day d by orthogonal
    Procrustes on their stimulus-conditioned means in a few principal
    components, then transfer the decoder. Weaker evidence (see its notes).

Each returns a Dataset over (mouse, train/from day, test/to day) with the
number of cells used, NaN where a pair has too few common cells (with the
reason in ``attrs["skipped"]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import array_api_compat.numpy as xnp
import numpy as np
import scipy.linalg
import xarray as xr

from neurolearn._version import __version__
from neurolearn.decoding.cv import permuted_labels, session_problem, session_seed
from neurolearn.decoding.engine import cv_class_scores, train_test_class_scores
from neurolearn.errors import InsufficientDataError, ParameterError
from neurolearn.geometry import linear_cka
from neurolearn.parallel import map_items
from neurolearn.schema import session_info
from neurolearn.session_arrays import trained_trials, zscore_rows
from neurolearn.tracking import (
    common_tracks,
    condition_means,
    select_tracks,
    session_tracks,
    tracked_sessions,
)

__all__ = ["decoder_transfer", "transfer_by_lag", "learning_vs_drift", "drift_rates",
           "representational_drift", "aligned_transfer", "procrustes_angle", "across_days"]


def _trained(ds: xr.Dataset, variable: str, *, with_stimulus: bool = False) -> Any:
    """:func:`~neurolearn.session_arrays.trained_trials` with 0/1 labels (and the
    trials' stimuli): the class means and decoders here count classes 0 and 1."""
    X, y = trained_trials(ds, variable)
    labels = (y > 0).astype(float)
    if not with_stimulus:
        return X, labels
    keep = ~np.asarray(ds["heldout"].values, bool) if "heldout" in ds.coords else \
        np.ones(ds.sizes["trial"], bool)
    return X, labels, np.asarray(ds["stimulus"].values)[keep]


def _days(by_mouse: dict[str, list[tuple[str, xr.Dataset]]]) -> list[int]:
    return sorted({session_info(ds)["day"] for s in by_mouse.values() for _, ds in s})


def _grid(mice: list[str], days: list[int], names: tuple[str, str], fields: dict[str, Any],
          per_mouse: list[dict[str, Any]], attrs: dict[str, Any]) -> xr.Dataset:
    """Assemble per-mouse {(day_a, day_b): {field: value}} into (mouse, a, b) arrays."""
    index = {d: i for i, d in enumerate(days)}
    data = {name: np.full((len(mice), len(days), len(days)), np.nan if dtype is float else 0,
                          dtype=dtype) for name, dtype in fields.items()}
    skipped: list[str] = []
    for m, result in enumerate(per_mouse):
        skipped.extend(result.pop("_skipped", []))
        for (a, b), values in result.items():
            for name, value in values.items():
                data[name][m, index[a], index[b]] = value
    return xr.Dataset({k: (("mouse",) + names, v) for k, v in data.items()},
                      coords={"mouse": mice, names[0]: days, names[1]: days},
                      attrs={**attrs, "skipped": json.dumps(skipped),
                             "neurolearn_version": __version__})


def _tracked(tree: Any) -> dict[str, list[tuple[str, xr.Dataset]]]:
    by_mouse = tracked_sessions(tree)
    if not by_mouse:
        raise InsufficientDataError("no session has a `track` coordinate: assign cell "
                                    "identities with data_loaders.tracks.assign_tracks.")
    _check_days(by_mouse)
    return by_mouse


def _check_days(by_mouse: dict[str, list[tuple[str, xr.Dataset]]]) -> None:
    """Across-days analyses index sessions by day: each needs one, once per animal."""
    for mouse, sessions in by_mouse.items():
        days = [session_info(ds)["day"] for _, ds in sessions]
        if any(d is None for d in days):
            raise InsufficientDataError(f"{mouse}: across-days analyses need a `day` on every "
                                        "session; give the readers `day=` (or a day column).")
        if len(set(days)) != len(days):
            raise InsufficientDataError(f"{mouse}: two sessions share a day "
                                        f"({sorted(d for d in days if days.count(d) > 1)[0]}); "
                                        "across-days analyses need one session per day.")


# --------------------------------------------------------------------------- transfer


class _Day:
    """One session's arrays for the transfer loop, extracted once (not per pair)."""

    def __init__(self, ds: xr.Dataset, variable: str):
        info = session_info(ds)
        self.ds, self.day, self.name = ds, info["day"], info["session"]
        self.tracks = session_tracks(ds)
        X, self.y = _trained(ds, variable)
        # Column-wise z-scores: a subset of cells keeps its columns' values.
        self.Z = zscore_rows(X)


def _common(a: _Day, b: _Day) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Common tracked cells (sorted) and their columns in ``a`` and ``b``."""
    named_a, named_b = np.flatnonzero(a.tracks != ""), np.flatnonzero(b.tracks != "")
    cells, ia, ib = np.intersect1d(a.tracks[named_a], b.tracks[named_b], return_indices=True)
    return cells, named_a[ia], named_b[ib]


def _transfer_mouse(sessions: list[tuple[str, xr.Dataset]], *, method: str,
                    params: dict[str, Any], n_permutations: int, n_folds: int, seed: int,
                    min_cells: int, variable: str) -> dict[Any, Any]:
    xp = xnp
    out: dict[Any, Any] = {"_skipped": []}
    days = [_Day(ds, variable) for _, ds in sessions]
    for a in days:
        for b in days:
            cells, cols_a, cols_b = _common(a, b)
            if cells.size < min_cells:
                out["_skipped"].append(f"{a.name}→{b.name}: {cells.size} common cells "
                                       f"(< {min_cells})")
                out[(a.day, b.day)] = {"n_cells": cells.size}
                continue
            if a is b:
                prob = session_problem(select_tracks(a.ds, cells), n_folds=n_folds, seed=seed,
                                       variable=variable)
                Y = permuted_labels(prob, n_permutations)
                scores = cv_class_scores(xp, method, xp.asarray(prob.X[None]), prob.train,
                                         prob.test, Y, params)
                acc = scores.fold_accuracy[0].mean(axis=0)
            else:
                # Each day z-scored by its own statistics: a day's gain or baseline
                # change is not taken for a change of code.
                X = np.concatenate([a.Z[:, cols_a], b.Z[:, cols_b]])
                train = np.r_[np.ones(a.y.size), np.zeros(b.y.size)]
                rng = np.random.default_rng(session_seed(seed, f"{a.name}->{b.name}"))
                Y = np.repeat(np.r_[a.y, b.y][None], 1 + n_permutations, axis=0)
                if n_permutations:
                    Y[1:, :a.y.size] = a.y[np.argsort(rng.random((n_permutations, a.y.size)),
                                                      axis=1)]
                scores = train_test_class_scores(xp, method, xp.asarray(X[None]), train,
                                                 1.0 - train, Y, params)
                acc = scores.fold_accuracy[0, 0]
            null = acc[1:]
            out.setdefault("_null", {})[(a.day, b.day)] = null
            out[(a.day, b.day)] = {
                "accuracy": float(acc[0]), "n_cells": int(cells.size),
                "null_mean": float(null.mean()) if null.size else np.nan,
                "p_value": (float((1 + np.sum(null >= acc[0])) / (1 + null.size))
                            if null.size else np.nan)}
    return out


def decoder_transfer(tree: xr.DataTree | xr.Dataset, *, method: str = "lda",
                     shrinkage: float | str = 0.5, alpha: float = 1.0, C: float = 1.0,
                     n_permutations: int = 1000, n_folds: int = 10, seed: int = 0,
                     min_cells: int = 4, variable: str = "rates", scheduler: Any = None,
                     progress: bool = True) -> xr.Dataset:
    """Train a decoder on day d and test it on day d′, with the cells present on both.

    For every ordered pair of an animal's tracked sessions, the cells both
    recorded are put in the same order; each day's responses are z-scored by
    that day's statistics; a decoder of the two classes is trained on all of
    day d's trained trials and scores day d′'s. The diagonal (d = d′) is
    stratified ``n_folds``-fold cross-validation (as :func:`neurolearn.decode`).
    The null shuffles day d's training labels (within folds on the
    diagonal); p = (1 + #null ≥ observed) / (1 + n_permutations).

    Parameters
    ----------
    tree : DataTree or Dataset
        A study with a ``track`` coordinate (see :mod:`neurolearn.tracking`).
    method : {"lda", "ridge", "lstsq", "logistic"}, default "lda"
    shrinkage : float or "auto", default 0.5
        LDA shrinkage, because the common cells often outnumber a day's
        trials. "auto" (Ledoit–Wolf) is re-estimated for every permuted label
        vector and costs about 130× more.
    alpha, C : float
        Ridge and logistic regularisation.
    n_permutations : int, default 1000
    n_folds : int, default 10
        Folds of the diagonal.
    seed : int, default 0
    min_cells : int, default 4
        Pairs with fewer common cells are NaN (listed in ``attrs["skipped"]``).
    variable : str, default "rates"
    scheduler, progress
        See :func:`neurolearn.parallel.map_items` (one task per animal).

    Returns
    -------
    Dataset
        ``accuracy``, ``null_mean``, ``p_value`` and ``n_cells`` over
        (mouse, train_day, test_day), NaN where an animal has no session on a
        day; across mice, ``accuracy_across_mice`` (the mean over the mice
        that have the pair), its ``p_value_across_mice`` (the mean of the
        mice's q-th permutations as the null) and ``n_mice`` over
        (train_day, test_day).

    Examples
    --------
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=2, n_overtraining_days=1,
    ...                             n_cells=30, trials_per_session=60)
    >>> out = decoder_transfer(tree, n_permutations=20, progress=False)
    >>> out["accuracy"].dims, out.sizes["train_day"]
    (('mouse', 'train_day', 'test_day'), 3)
    """
    if n_permutations < 0 or min_cells < 2:
        raise ParameterError("n_permutations must be ≥ 0 and min_cells ≥ 2.")
    by_mouse = _tracked(tree)
    mice = sorted(by_mouse)
    params = {"shrinkage": shrinkage, "alpha": alpha, "C": C}
    per_mouse = map_items(_transfer_mouse, [by_mouse[m] for m in mice], scheduler=scheduler,
                          progress=progress, desc="decoder transfer", method=method,
                          params=params, n_permutations=n_permutations, n_folds=n_folds,
                          seed=seed, min_cells=min_cells, variable=variable)
    days = _days(by_mouse)
    nulls = [result.pop("_null", {}) for result in per_mouse]
    out = _grid(mice, days, ("train_day", "test_day"),
                {"accuracy": float, "null_mean": float, "p_value": float,
                 "n_cells": np.int64}, per_mouse,
                {"analysis": "decoder_transfer", "method": method,
                 "params": json.dumps({k: v for k, v in params.items()}),
                 "n_permutations": n_permutations, "n_folds": n_folds, "seed": seed,
                 "standardize": "each day by its own statistics", "chance": 0.5})
    return out.merge(_across_mice(out["accuracy"], nulls, days, n_permutations))


def _across_mice(accuracy: xr.DataArray, nulls: list[dict[Any, np.ndarray]], days: list[int],
                 n_permutations: int) -> xr.Dataset:
    """Mean transfer over the mice that have each pair of days, with its permutation p.

    Each mouse's permutation q is an independent shuffle, so the mean over mice
    of their q-th null accuracies is a draw of the mean's null.
    """
    index = {d: i for i, d in enumerate(days)}
    null = np.full((len(nulls), len(days), len(days), n_permutations), np.nan)
    for m, pairs in enumerate(nulls):
        for (a, b), values in pairs.items():
            null[m, index[a], index[b]] = values
    values = accuracy.transpose("mouse", "train_day", "test_day").values
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    mean = np.where(count > 0, np.where(finite, values, 0).sum(axis=0) / np.maximum(count, 1),
                    np.nan)
    if n_permutations:
        has = np.isfinite(null)
        null_mean = np.where(has, null, 0).sum(axis=0) / np.maximum(has.sum(axis=0), 1)
        exceed = (null_mean >= mean[..., None] - 1e-12).sum(axis=-1)
        p = np.where(count > 0, (1 + exceed) / (1 + n_permutations), np.nan)
    else:
        p = np.full(mean.shape, np.nan)
    dims = ("train_day", "test_day")
    return xr.Dataset({"accuracy_across_mice": (dims, mean), "p_value_across_mice": (dims, p),
                       "n_mice": (dims, count.astype(np.int64))},
                      coords={"train_day": days, "test_day": days})


def transfer_by_lag(result: xr.Dataset | xr.DataArray, variable: str = "accuracy"
                    ) -> xr.DataArray:
    """Mean of a day-pair result over pairs with the same lag d′ − d, per mouse.

    Parameters
    ----------
    result : Dataset or DataArray
        Over (mouse, train_day, test_day) or (mouse, day_from, day_to), e.g.
        from :func:`decoder_transfer` or :func:`learning_vs_drift`.
    variable : str, default "accuracy"
        The variable of a Dataset.

    Returns
    -------
    DataArray (mouse, lag)
        Lags in days, negative for testing on an earlier day; NaN where a
        mouse has no pair at that lag.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> acc = xr.DataArray(np.array([[[0.9, 0.7], [0.6, 0.8]]]), dims=("mouse", "train_day",
    ...                    "test_day"), coords={"mouse": ["A"], "train_day": [1, 2],
    ...                    "test_day": [1, 2]})
    >>> transfer_by_lag(acc).sel(mouse="A").values.round(2).tolist()
    [0.6, 0.85, 0.7]
    """
    da = result[variable] if isinstance(result, xr.Dataset) else result
    first, second = (("train_day", "test_day") if "train_day" in da.dims
                     else ("day_from", "day_to"))
    da = da.transpose("mouse", first, second)
    lag = da[second].values[None, :] - da[first].values[:, None]
    lags = np.unique(lag)
    values = np.asarray(da.values, dtype=float)
    out = np.empty((values.shape[0], lags.size))
    for k, L in enumerate(lags):
        out[:, k] = _nanmean(np.where(lag == L, values, np.nan))
    return xr.DataArray(out, dims=("mouse", "lag"),
                        coords={"mouse": da["mouse"].values, "lag": lags},
                        name=f"{da.name or variable}_by_lag", attrs={"lag_units": "days"})


# --------------------------------------------------------------------------- learning vs drift


def _class_stats(X: np.ndarray, y: np.ndarray, stimulus: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Class difference δ̂ = μ̂₁ − μ̂₀ (neuron,) and its sampling variance per cell.

    With ``stimulus``, the noise is the spread around each trial's stimulus
    mean: a class made of several stimuli in fixed numbers has a mean whose
    sampling variance excludes the stimuli's own differences.
    """
    stimulus = np.zeros(y.size) if stimulus is None else np.asarray(stimulus).astype(str)
    delta = X[y == 1].mean(axis=0) - X[y == 0].mean(axis=0)
    var = np.zeros(X.shape[1])
    for c in (0.0, 1.0):
        sel = y == c
        groups = np.unique(stimulus[sel], return_inverse=True)[1]
        means = np.stack([X[sel][groups == g].mean(axis=0) for g in range(groups.max() + 1)])
        resid = X[sel] - means[groups]
        dof = max(int(sel.sum()) - (groups.max() + 1), 1)
        var += (resid**2).sum(axis=0) / dof / sel.sum()
    return delta, var


def _split(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stratified random half of the trials (bool)."""
    half = np.zeros(y.size, bool)
    for c in (0.0, 1.0):
        idx = rng.permutation(np.flatnonzero(y == c))
        half[idx[: idx.size // 2]] = True
    return half


def _separation(axis: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """(mean projection of class 1 − class 0) / pooled within-class SD of the projection."""
    proj = X @ axis
    one, zero = proj[y == 1], proj[y == 0]
    pooled = np.sqrt(((one.size - 1) * one.var(ddof=1) + (zero.size - 1) * zero.var(ddof=1))
                     / (one.size + zero.size - 2))
    return float((one.mean() - zero.mean()) / pooled) if pooled > 0 else np.nan


def _later_pairs(sessions: list[tuple[str, xr.Dataset]], min_cells: int,
                 out: dict[Any, Any]) -> Iterator[tuple[dict, dict, xr.Dataset, xr.Dataset]]:
    """Every pair of an animal's sessions d < d′ with at least ``min_cells`` common
    cells: their infos and both restricted to those cells, in the same order. A
    pair with fewer is recorded in ``out`` (its cell count, and why in
    ``out["_skipped"]``) and not yielded."""
    for i, (_, a) in enumerate(sessions):
        for _, b in sessions[i + 1:]:
            ia, ib = session_info(a), session_info(b)
            cells = common_tracks(a, b)
            if cells.size < min_cells:
                out["_skipped"].append(f"{ia['session']}→{ib['session']}: {cells.size} "
                                       f"common cells (< {min_cells})")
                out[(ia["day"], ib["day"])] = {"n_cells": cells.size}
                continue
            yield ia, ib, select_tracks(a, cells), select_tracks(b, cells)


def _drift_mouse(sessions: list[tuple[str, xr.Dataset]], *, seed: int, min_cells: int,
                 variable: str) -> dict[Any, Any]:
    out: dict[Any, Any] = {"_skipped": []}
    for ia, ib, a, b in _later_pairs(sessions, min_cells, out):
        cells = a["track"].values
        Xa, ya, sa = _trained(a, variable, with_stimulus=True)
        Xb, yb, sb = _trained(b, variable, with_stimulus=True)
        da, va = _class_stats(Xa, ya, sa)
        db, vb = _class_stats(Xb, yb, sb)
        # E‖δ̂‖² = ‖δ‖² + Σ var: subtracting the sampling variance removes the
        # noise floor that would otherwise grow with the number of cells.
        norm_a_sq = da @ da - va.sum()
        total_sq = (db - da) @ (db - da) - va.sum() - vb.sum()
        if norm_a_sq <= 0:
            along = orth_sq = np.nan
        else:
            along = float((db @ da - da @ da + va.sum()) / np.sqrt(norm_a_sq))
            axis = da / np.linalg.norm(da)
            # along² over-estimates the squared projection by its variance.
            along_var = axis**2 @ (va + vb)
            orth_sq = float(total_sq - (along**2 - along_var))
        rng = np.random.default_rng(session_seed(seed, f"{ia['session']}~{ib['session']}"))
        half_a, half_b = _split(ya, rng), _split(yb, rng)
        fixed_axis = _class_stats(Xa[half_a], ya[half_a])[0]
        fixed = refit = 0.0
        for fit_half, test_half in ((half_b, ~half_b), (~half_b, half_b)):
            refit_axis = _class_stats(Xb[fit_half], yb[fit_half])[0]
            fixed += _separation(fixed_axis, Xb[test_half], yb[test_half]) / 2
            refit += _separation(refit_axis, Xb[test_half], yb[test_half]) / 2
        out[(ia["day"], ib["day"])] = {
            "along": along, "orthogonal_sq": orth_sq,
            "orthogonal": float(np.sqrt(max(orth_sq, 0.0))) if np.isfinite(orth_sq)
            else np.nan, "total_sq": float(total_sq),
            "separation_from": float(np.sqrt(norm_a_sq)) if norm_a_sq > 0 else np.nan,
            "separation_fixed": fixed, "separation_refit": refit,
            "n_cells": int(cells.size)}
    return out


def learning_vs_drift(tree: xr.DataTree | xr.Dataset, *, seed: int = 0, min_cells: int = 4,
                      variable: str = "rates", scheduler: Any = None, progress: bool = True
                      ) -> xr.Dataset:
    """Split each pair of days' change of the class difference into separation and drift.

    For days d < d′ of an animal and the cells recorded on both, with δ̂ the
    difference of the class means over the trained trials (responses as
    stored, in their units) and V = Σ_cells var(δ̂) its sampling variance:

    - ``along`` = (δ̂′·δ̂ − ‖δ̂‖² + V) / √(‖δ̂‖² − V): the change along day
      d's coding axis δ/‖δ‖, unbiased in its numerator;
    - ``orthogonal_sq`` = ‖δ̂′ − δ̂‖² − V − V′ − (along² − var(along)): the
      squared change orthogonal to it, noise-bias corrected (can dip below
      0 by chance; ``orthogonal`` is its root, clipped at 0);
    - ``separation_fixed`` and ``separation_refit``: day d′'s separation
      (class-mean distance over the pooled within-class SD) along day d's
      axis and along an axis re-fit on day d′, both axes fitted on half the
      trials and scored on held-out halves of day d′.

    Parameters
    ----------
    tree : DataTree or Dataset
        A study with a ``track`` coordinate.
    seed : int, default 0
        Seeds the half splits.
    min_cells : int, default 4
    variable : str, default "rates"
    scheduler, progress
        See :func:`neurolearn.parallel.map_items`.

    Returns
    -------
    Dataset
        Over (mouse, day_from, day_to), defined where day_from < day_to:
        ``along``, ``orthogonal``, ``orthogonal_sq``, ``total_sq``,
        ``separation_from`` (‖δ‖ on day d, bias-corrected),
        ``separation_fixed``, ``separation_refit``, ``n_cells``.

    Notes
    -----
    The class means see only the difference of the classes after per-session
    centring, so this splits changes of the class difference; a shift shared
    by both classes is not learning and not seen here (see
    :func:`representational_drift` for the stimulus patterns).

    Examples
    --------
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2,
    ...                             n_cells=60, trials_per_session=80)
    >>> split = learning_vs_drift(tree, progress=False)
    >>> split["along"].dims, int(split["n_cells"].sel(mouse="A", day_from=1, day_to=3)) > 0
    (('mouse', 'day_from', 'day_to'), True)
    """
    by_mouse = _tracked(tree)
    mice = sorted(by_mouse)
    per_mouse = map_items(_drift_mouse, [by_mouse[m] for m in mice], scheduler=scheduler,
                          progress=progress, desc="learning vs drift", seed=seed,
                          min_cells=min_cells, variable=variable)
    return _grid(mice, _days(by_mouse), ("day_from", "day_to"),
                 {"along": float, "orthogonal": float, "orthogonal_sq": float,
                  "total_sq": float, "separation_from": float, "separation_fixed": float,
                  "separation_refit": float, "n_cells": np.int64}, per_mouse,
                 {"analysis": "learning_vs_drift", "seed": seed, "variable": variable})


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Mean over the last two axes ignoring NaN; NaN (not a warning) where all are NaN."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=(1, 2))
    count = finite.sum(axis=(1, 2))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def drift_rates(split: xr.Dataset, *, max_lag: int = 3) -> xr.Dataset:
    """Per-day rates from :func:`learning_vs_drift`, over pairs at most ``max_lag`` days apart.

    - ``drift_per_day`` = √mean(orthogonal² / lag): the root-mean-square
      orthogonal change per √day (a random walk's step) on the cells compared;
    - ``drift_per_day_per_cell`` = √mean(orthogonal² / (lag · n_cells)): the
      same per cell, comparable between animals and days with different
      numbers of common cells (× √N gives a population of N cells' rate);
    - ``along_per_day`` = mean(along / lag): growth along the coding axis.

    Parameters
    ----------
    split : Dataset
        From :func:`learning_vs_drift`.
    max_lag : int, default 3
        Short lags keep the coding axis's own turning (which moves growth
        into the orthogonal part over long lags) out of the drift rate.

    Returns
    -------
    Dataset
        The three rates over ``mouse``, in the responses' units.

    Examples
    --------
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=3,
    ...                             n_cells=60, trials_per_session=80)
    >>> rates = drift_rates(learning_vs_drift(tree, progress=False))
    >>> sorted(rates.data_vars)
    ['along_per_day', 'drift_per_day', 'drift_per_day_per_cell']
    """
    a, b = split["day_from"].values, split["day_to"].values
    lag = (b[None, :] - a[:, None]).astype(float)
    use = (lag > 0) & (lag <= max_lag)
    safe_lag = np.where(use, lag, 1.0)
    orth = np.where(use, split["orthogonal_sq"].values / safe_lag, np.nan)
    cells = np.where(use, split["n_cells"].values, np.nan).astype(float)
    along = np.where(use, split["along"].values / safe_lag, np.nan)
    with np.errstate(invalid="ignore"):
        per_cell = orth / cells
    return xr.Dataset(
        {"drift_per_day": ("mouse", np.sqrt(np.clip(_nanmean(orth), 0, None))),
         "drift_per_day_per_cell": ("mouse", np.sqrt(np.clip(_nanmean(per_cell), 0, None))),
         "along_per_day": ("mouse", _nanmean(along))},
        coords={"mouse": split["mouse"].values}, attrs={"max_lag": max_lag})


# --------------------------------------------------------------------------- drift of the code


def _condition_matrix(ds: xr.Dataset, variable: str) -> tuple[np.ndarray, np.ndarray]:
    means = condition_means(ds, variable=variable)
    return np.asarray(means["condition"].values), means.values


def _common_conditions(a: xr.Dataset, b: xr.Dataset, variable: str
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ca, Ma = _condition_matrix(a, variable)
    cb, Mb = _condition_matrix(b, variable)
    common = np.intersect1d(ca, cb)
    return common, Ma[np.searchsorted(ca, common)], Mb[np.searchsorted(cb, common)]


def _drift_code_mouse(sessions: list[tuple[str, xr.Dataset]], *, min_cells: int,
                      variable: str) -> dict[Any, Any]:
    out: dict[Any, Any] = {"_skipped": []}
    for ia, ib, a, b in _later_pairs(sessions, min_cells, out):
        cells = a["track"].values
        conds, Ma, Mb = _common_conditions(a, b, variable)
        # Each cell centred over the stimuli within its day: a baseline is not a code.
        Ma, Mb = Ma - Ma.mean(axis=0), Mb - Mb.mean(axis=0)
        pv = np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(Ma, Mb, strict=True)])
        if conds.size >= 3:
            upper = np.triu_indices(conds.size, 1)
            rsm = np.corrcoef(np.corrcoef(Ma)[upper], np.corrcoef(Mb)[upper])[0, 1]
        else:
            rsm = np.nan
        out[(ia["day"], ib["day"])] = {
            "pv_correlation": float(pv), "rsm_correlation": float(rsm),
            "cka": linear_cka(Ma.T, Mb.T), "n_cells": int(cells.size),
            "n_stimuli": int(conds.size)}
    return out


def representational_drift(tree: xr.DataTree | xr.Dataset, *, min_cells: int = 4,
                           variable: str = "rates", scheduler: Any = None,
                           progress: bool = True) -> xr.Dataset:
    """How similar the tracked cells' stimulus responses stay between two days.

    For days d < d′ and the cells recorded on both, with each cell's mean
    response to each stimulus given that day, centred over stimuli:

    - ``pv_correlation``: Pearson correlation of each stimulus's population
      vector on day d with its vector on day d′, averaged over stimuli;
    - ``rsm_correlation``: correlation of the two days' stimulus × stimulus
      RSMs (upper triangles; NaN with fewer than 3 stimuli);
    - ``cka``: linear CKA between the days' cell × stimulus tuning matrices
      (cells are the shared rows).

    Parameters
    ----------
    tree : DataTree or Dataset
        A study with a ``track`` coordinate.
    min_cells : int, default 4
        Pairs of days with fewer common cells are NaN (listed in
        ``attrs["skipped"]``).
    variable : str, default "rates"
    scheduler, progress
        See :func:`neurolearn.parallel.map_items`.

    Returns
    -------
    Dataset
        Over (mouse, day_from, day_to): the three measures (unit-free),
        ``n_cells`` and ``n_stimuli``.

    Examples
    --------
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                             n_cells=60, trials_per_session=80)
    >>> drift = representational_drift(tree, progress=False)
    >>> int(drift["n_stimuli"].sel(mouse="A", day_from=1, day_to=2))
    4
    """
    by_mouse = _tracked(tree)
    mice = sorted(by_mouse)
    per_mouse = map_items(_drift_code_mouse, [by_mouse[m] for m in mice], scheduler=scheduler,
                          progress=progress, desc="representational drift",
                          min_cells=min_cells, variable=variable)
    return _grid(mice, _days(by_mouse), ("day_from", "day_to"),
                 {"pv_correlation": float, "rsm_correlation": float, "cka": float,
                  "n_cells": np.int64, "n_stimuli": np.int64}, per_mouse,
                 {"analysis": "representational_drift", "variable": variable,
                  "centring": "each cell over stimuli, within each day"})


# --------------------------------------------------------------------------- untracked


def _pca_coords(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return (X - mean) @ Vt[:k].T, mean, Vt[:k]


def procrustes_angle(A: np.ndarray, B: np.ndarray) -> float:
    """Angular Procrustes distance (rad) between two condition × feature configurations.

    arccos of ‖ÃᵀB̃‖_* with Ã, B̃ centred over conditions and scaled to unit
    Frobenius norm (Williams et al. 2021, the shape metric netrep computes);
    0 when one is a rotation (and scaling) of the other. Feature counts may
    differ: the smaller is padded with zeros.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.random.default_rng(0).normal(size=(5, 3))
    >>> Q = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    >>> round(procrustes_angle(A, 2 * A @ Q), 6)
    0.0
    """
    k = max(A.shape[1], B.shape[1])
    A = np.pad(A - A.mean(axis=0), ((0, 0), (0, k - A.shape[1])))
    B = np.pad(B - B.mean(axis=0), ((0, 0), (0, k - B.shape[1])))
    A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)
    nuclear = np.linalg.svd(A.T @ B, compute_uv=False).sum()
    return float(np.arccos(np.clip(nuclear, -1.0, 1.0)))


def _aligned_mouse(sessions: list[tuple[str, xr.Dataset]], *, n_components: int | None,
                   method: str, params: dict[str, Any], variable: str) -> dict[Any, Any]:
    out: dict[Any, Any] = {"_skipped": []}
    for _, a in sessions:
        for _, b in sessions:
            ia, ib = session_info(a), session_info(b)
            if a is b:
                continue
            conds, _, _ = _common_conditions(a, b, variable)
            k = conds.size - 1 if n_components is None else int(n_components)
            k = min(k, a.sizes["neuron"], b.sizes["neuron"])
            if k < 1 or conds.size < 2:
                out["_skipped"].append(f"{ia['session']}→{ib['session']}: too few shared "
                                       "stimuli or cells to align")
                continue
            Xa, ya = _trained(a, variable)
            Xb, yb = _trained(b, variable)
            Za, _, Va = _pca_coords(zscore_rows(Xa), k)
            Zb, _, Vb = _pca_coords(zscore_rows(Xb), k)
            # Condition means of every trial (held-out stimuli included) in each
            # day's own principal components: what the alignment is fitted on.
            Ca = _condition_matrix(a, variable)
            Cb = _condition_matrix(b, variable)
            Aa = _project(Ca, conds, Xa, Va)
            Ab = _project(Cb, conds, Xb, Vb)
            R, _ = scipy.linalg.orthogonal_procrustes(Ab - Ab.mean(0), Aa - Aa.mean(0))
            Zb_aligned = (Zb - Ab.mean(0)) @ R + Aa.mean(0)
            X = np.concatenate([Za, Zb_aligned])
            train = np.r_[np.ones(ya.size), np.zeros(yb.size)]
            scores = train_test_class_scores(xnp, method, xnp.asarray(X[None]), train,
                                             1.0 - train, np.r_[ya, yb][None], params)
            out[(ia["day"], ib["day"])] = {
                "aligned_accuracy": float(scores.fold_accuracy[0, 0, 0]),
                "procrustes_angle": procrustes_angle(Aa, Ab), "n_components": k}
    return out


def _project(found: tuple[np.ndarray, np.ndarray], conds: np.ndarray, X: np.ndarray,
             V: np.ndarray) -> np.ndarray:
    """Condition means of one day in that day's PCA coordinates (z-scored as X)."""
    names, M = found
    M = M[np.searchsorted(names, conds)]
    mean, sd = X.mean(axis=0), X.std(axis=0)
    Z = (M - mean) / np.where(sd > 0, sd, 1.0)
    return Z @ V.T


def aligned_transfer(tree: xr.DataTree | xr.Dataset, *, n_components: int | None = None,
                     method: str = "lda", shrinkage: float | str = 0.0,
                     variable: str = "rates", scheduler: Any = None, progress: bool = True
                     ) -> xr.Dataset:
    """Decoder transfer between untracked populations through Procrustes alignment.

    Each day's trained trials are z-scored and reduced to their first ``k``
    principal components (default: one fewer than the stimuli both days
    share). Day d′'s stimulus-conditioned means are rotated onto day d's by
    orthogonal Procrustes (``scipy.linalg.orthogonal_procrustes``), the same
    rotation is applied to day d′'s trials, and a decoder trained on day d
    scores them. ``procrustes_angle`` is the angular shape distance between
    the two days' condition configurations.

    Parameters
    ----------
    tree : DataTree or Dataset
        Any study (tracks are not used).
    n_components : int, optional
    method, shrinkage
        The decoder (see :func:`neurolearn.decode`).
    variable : str, default "rates"
    scheduler, progress

    Returns
    -------
    Dataset
        ``aligned_accuracy``, ``procrustes_angle`` (rad) and ``n_components``
        over (mouse, train_day, test_day); the diagonal is NaN.

    Notes
    -----
    Weaker evidence than :func:`decoder_transfer`: the rotation is fitted to
    day d′'s own condition means, which carry its class structure, so a
    high aligned accuracy shows that the two days' codes have the same shape
    up to a rotation, not that the same neurons kept their code. No
    permutation null is given because it would not account for that fit.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> study = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                                   units_per_session=(10, 12), seed=2)
    >>> out = aligned_transfer(study, progress=False)
    >>> pair = out.sel(mouse="A", train_day=1, test_day=2)
    >>> out["aligned_accuracy"].dims, int(pair["n_components"])
    (('mouse', 'train_day', 'test_day'), 1)
    """
    from neurolearn.schema import iter_sessions

    by_mouse: dict[str, list[tuple[str, xr.Dataset]]] = {}
    for path, ds in iter_sessions(tree):
        by_mouse.setdefault(session_info(ds)["mouse"], []).append((path, ds))
    _check_days(by_mouse)
    for sessions in by_mouse.values():
        sessions.sort(key=lambda item: session_info(item[1])["day"])
    mice = sorted(by_mouse)
    per_mouse = map_items(_aligned_mouse, [by_mouse[m] for m in mice], scheduler=scheduler,
                          progress=progress, desc="aligned transfer",
                          n_components=n_components, method=method,
                          params={"shrinkage": shrinkage}, variable=variable)
    return _grid(mice, _days(by_mouse), ("train_day", "test_day"),
                 {"aligned_accuracy": float, "procrustes_angle": float,
                  "n_components": np.int64}, per_mouse,
                 {"analysis": "aligned_transfer", "method": method,
                  "evidence": "weaker: alignment fitted on the test day's condition means"})


def across_days(tree: xr.DataTree | xr.Dataset, *, n_permutations: int = 1000,
                n_folds: int = 10, seed: int = 0, method: str = "lda",
                shrinkage: float | str = 0.5, min_cells: int = 4,
                scheduler: Any = None, progress: bool = True) -> xr.Dataset:
    """Every tracked-cell analysis in one Dataset (what ``analyze`` stores at ``/across_days``).

    Parameters
    ----------
    tree : DataTree or Dataset
        A study with a ``track`` coordinate.
    n_permutations, n_folds, seed, method, shrinkage, min_cells
        Of :func:`decoder_transfer` (``seed`` and ``min_cells`` also of the
        others).
    scheduler, progress
        See :func:`neurolearn.parallel.map_items`.

    Returns
    -------
    Dataset
        :func:`decoder_transfer` (as ``transfer_*``), :func:`learning_vs_drift`,
        :func:`representational_drift`, the per-mouse :func:`drift_rates` and
        ``transfer_by_lag`` (mouse, lag).

    Examples
    --------
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                             n_cells=40, trials_per_session=60)
    >>> out = across_days(tree, n_permutations=10, progress=False)
    >>> "transfer_accuracy" in out and "drift_per_day" in out and "pv_correlation" in out
    True
    """
    transfer = decoder_transfer(tree, method=method, shrinkage=shrinkage,
                                n_permutations=n_permutations, n_folds=n_folds, seed=seed,
                                min_cells=min_cells, scheduler=scheduler, progress=progress)
    split = learning_vs_drift(tree, seed=seed, min_cells=min_cells, scheduler=scheduler,
                              progress=progress)
    code = representational_drift(tree, min_cells=min_cells, scheduler=scheduler,
                                  progress=progress)
    rates = drift_rates(split)
    out = xr.merge([transfer.rename({k: f"transfer_{k}" for k in transfer.data_vars}),
                    split.rename({"n_cells": "pair_n_cells"}),
                    code.drop_vars("n_cells"), rates], combine_attrs="drop")
    out["transfer_by_lag"] = transfer_by_lag(transfer)
    out.attrs = {"analysis": "across_days", "n_permutations": n_permutations,
                 "n_folds": n_folds, "seed": seed, "method": method,
                 "shrinkage": str(shrinkage), "min_cells": min_cells,
                 "skipped": json.dumps(json.loads(transfer.attrs["skipped"])
                                       + json.loads(split.attrs["skipped"])),
                 "neurolearn_version": __version__}
    return out
