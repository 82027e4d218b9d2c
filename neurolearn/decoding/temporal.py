"""Time-resolved decoding and cross-temporal generalisation, batched over time bins.

Like MNE's ``SlidingEstimator`` / ``GeneralizingEstimator``, but every time
bin (and, for the sliding decoder, every permutation) is fitted in one
batched array program per session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy import stats

from neurolearn._version import __version__
from neurolearn.backend import resolve_namespace, to_numpy
from neurolearn.decoding.clusters import cluster_test, group_cluster_test
from neurolearn.decoding.constraints import check_decoder_params
from neurolearn.decoding.cv import permuted_labels, session_problem
from neurolearn.decoding.engine import MEMORY_BUDGET, cv_class_scores, fit_batch, test_rows
from neurolearn.decoding.pvalues import permutation_pvalue
from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.parallel import map_items
from neurolearn.schema import iter_sessions, session_coord_names, session_table, validate

__all__ = ["binned_rates", "decode_time", "cross_temporal"]


def binned_rates(ds: xr.Dataset, window: int = 1) -> xr.DataArray:
    """Firing rate (spikes/s) in sliding windows of ``window`` bins, step one bin.

    Parameters
    ----------
    ds : Dataset
        One session with ``binned`` (trial, neuron, time) spike counts and a
        ``time`` coordinate (bin left edges, s); ``binned.attrs["bin_size"]`` in s.
    window : int, default 1
        Bins per window.

    Returns
    -------
    DataArray with dims (time, trial, neuron)
        ``time`` is the left edge of each window (s from onset).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> r = binned_rates(ds, window=4)  # 200 ms windows of 50 ms bins
    >>> r.dims, r.sizes["time"] == ds.sizes["time"] - 3
    (('time', 'trial', 'neuron'), True)
    """
    if "binned" not in ds.data_vars:
        raise SchemaError(f"{ds['session'].values[0]}: time-resolved decoding needs `binned` "
                          "(trial, neuron, time) spike counts.")
    check_decoder_params("binned_rates", window=window)
    binned = ds["binned"].astype(float)
    size = float(binned.attrs["bin_size"])
    summed = binned.rolling(time=window).sum().shift(time=-(window - 1))
    summed = summed.isel(time=slice(0, ds.sizes["time"] - window + 1))
    rates = summed / (window * size)
    rates.attrs = {"units": "Hz", "window_s": window * size}
    return rates.transpose("time", "trial", "neuron")


def _session_time_arrays(ds: xr.Dataset, window: int, n_folds: int, seed: int, target: str,
                         folds: str | None):
    rates = binned_rates(ds, window)
    prob = session_problem(ds, n_folds=n_folds, seed=seed,
                           X=np.asarray(rates.isel(time=0).values), target=target,
                           folds=folds, binary=False)
    return prob, np.asarray(rates.values), rates["time"].values


def _time_session(ds: xr.Dataset, *, method: str, window: int, n_folds: int,
                  n_permutations: int, seed: int, device: Any, chunk_size: int | None,
                  params: dict[str, Any], target: str, folds: str | None) -> dict[str, Any]:
    prob, X, time = _session_time_arrays(ds, window, n_folds, seed, target, folds)
    xp = resolve_namespace(device)
    Y = permuted_labels(prob, n_permutations)
    scores = cv_class_scores(xp, method, xp.asarray(X), prob.train, prob.test, Y, params,
                             chunk_size, prob.n_classes)
    acc = scores.fold_accuracy.mean(axis=1)  # (T, Q)
    return {"time": time, "accuracy": acc[:, 0], "null": acc[:, 1:],
            "n_classes": prob.n_classes}


def _common_time(results: list[dict[str, Any]]) -> np.ndarray:
    time = results[0]["time"]
    for r in results[1:]:
        if r["time"].shape != time.shape or not np.allclose(r["time"], time):
            raise SchemaError("sessions have different `time` bins; re-bin them to a common "
                              "grid before time-resolved decoding.")
    return time


def decode_time(data: xr.DataTree | xr.Dataset, method: str = "lda", *, window: int = 1,
                n_folds: int = 10, n_permutations: int = 100, seed: int = 0,
                device: Any = "cpu", chunk_size: int | None = None, progress: bool = True,
                shrinkage: float = 0.0, alpha: float = 1.0, C: float = 1.0,
                scheduler: Any = None, target: str = "label", folds: str | None = None,
                cluster_quantile: float = 0.95, group_statistic: str = "rank"
                ) -> xr.Dataset:
    """Cross-validated decoding accuracy in every time bin, with a permutation null.

    Beyond one uncorrected p per bin, the permutations give tests corrected
    over bins, with no refit (:mod:`neurolearn.decoding.clusters`): a
    max-statistic p per bin, a cluster-based permutation test per session,
    and a cluster-corrected sign-flip test across mice.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions with ``binned`` spike counts (trial, neuron, time); ``rates``
        are not needed.
    method, n_folds, seed, device, chunk_size, progress, shrinkage, alpha, C, scheduler
        As in :func:`neurolearn.decoding.decode`; folds are the same in every
        bin.
    target, folds : str
        The trial coordinate decoded (K ≥ 2 classes) and, optionally, the one
        giving each trial's test fold, as in :func:`~neurolearn.decoding.decode`.
    window : int, default 1
        Bins summed per decoding window (sliding, step one bin).
    n_permutations : int, default 100
        Permutations per bin (the same label shuffles in every bin).
    cluster_quantile : float, default 0.95
        Cluster-forming threshold: bins whose accuracy exceeds this quantile
        of their true and permuted accuracies.
    group_statistic : {"rank", "accuracy"}, default "rank"
        Each session's statistic in the test across mice: the probit of its
        accuracy's mid-rank among its permutations (symmetric under the
        null, so the sign flips are exact: family-wise error 0.054 over
        1,000 null studies of 6 mice), or accuracy minus the null mean (what
        MNE users usually test; 0.068 there, as null CV accuracy is skewed).

    Returns
    -------
    Dataset with dims (session, time)
        ``accuracy``, ``null_accuracy`` (session, time, permutation),
        ``pvalue`` (per bin, uncorrected), ``pvalue_max`` (max-statistic,
        corrected over bins), ``cluster_mass`` and ``cluster_pvalue`` (the
        bin's cluster; 0 and NaN outside clusters), ``n_classes``; with two
        or more mice ``group_t``, ``group_cluster_mass`` and
        ``group_cluster_pvalue`` (dim ``time``). All p are (k + 1)/(n + 1)
        one-sided, except the group test's, which is the share of sign
        flips, the identity included, as MNE's.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> res = decode_time(tree, window=4, n_folds=5, n_permutations=20, progress=False)
    >>> res["accuracy"].dims
    ('session', 'time')
    >>> late = res["accuracy"].sel(time=slice(0.5, None)).where(res["phase"] == "overtraining")
    >>> bool(late.mean() > 0.6)
    True
    """
    check_decoder_params("decode_time", method=method, window=window, n_folds=n_folds,
                         n_permutations=n_permutations, seed=seed, chunk_size=chunk_size,
                         progress=progress, shrinkage=shrinkage, alpha=alpha, C=C,
                         target=target, folds=folds, cluster_quantile=cluster_quantile,
                         group_statistic=group_statistic)
    validate(data, require_rates=False)  # binned counts are what it decodes
    params = {"shrinkage": shrinkage, "alpha": alpha, "C": C}
    results = map_items(_time_session, [ds for _, ds in iter_sessions(data)],
                        scheduler=scheduler, progress=progress, desc="time-resolved decoding",
                        method=method, window=window, n_folds=n_folds,
                        n_permutations=n_permutations, seed=seed, device=device,
                        chunk_size=chunk_size, params=params, target=target, folds=folds)
    time = _common_time(results)
    table = session_table(data)
    acc = np.stack([r["accuracy"] for r in results])
    null = np.stack([r["null"] for r in results])
    coords = {k: table[k] for k in session_coord_names(table)}
    coords.update(time=("time", time, {"units": "s", "long_name": "window start"}),
                  permutation=np.arange(n_permutations))
    out = xr.Dataset({"accuracy": (("session", "time"), acc),
                      "null_accuracy": (("session", "time", "permutation"), null),
                      "n_classes": ("session", [r["n_classes"] for r in results])},
                     coords=coords)
    out = _with_statistics(out, ("time",), n_permutations, cluster_quantile, seed,
                           group_statistic)
    out.attrs = {"method": method, "window_bins": window, "n_folds": n_folds,
                 "n_permutations": n_permutations, "seed": seed, "shrinkage": shrinkage,
                 "alpha": alpha, "C": C, "target": target,
                 "folds": "" if folds is None else folds, **out.attrs,
                 "neurolearn_version": __version__}
    return out


def _group_statistic(acc: np.ndarray, null: np.ndarray, kind: str) -> np.ndarray:
    """Each session's per-bin statistic for the sign-flip test across mice.

    ``"rank"``: Φ⁻¹ of the accuracy's mid-rank among its 1 + P true and
    permuted values, (#below + ½#tied + ½)/(P + 1) — under the null it is
    symmetric about 0, which the sign flips need. ``"accuracy"``: accuracy
    minus the null mean; CV accuracy under the null is skewed (skewness
    −0.19 in ``benchmarks/cluster_error_rates.py``'s null sessions), so its
    sign flips are not exact: family-wise error 0.068 against 0.054 for
    ``"rank"`` over 1,000 null studies of 6 mice.
    """
    if kind == "accuracy":
        return acc - null.mean(axis=-1)
    below = np.sum(null < acc[..., None], axis=-1)
    tied = np.sum(null == acc[..., None], axis=-1)
    return stats.norm.ppf((below + 0.5 * tied + 0.5) / (null.shape[-1] + 1.0))


def _with_statistics(out: xr.Dataset, bins: tuple[str, ...], n_permutations: int,
                     quantile: float, seed: int, group_statistic: str) -> xr.Dataset:
    """Add the per-bin, max-statistic, cluster and group tests to a temporal result.

    ``pvalue`` (uncorrected), ``pvalue_max``, ``cluster_mass`` and
    ``cluster_pvalue`` per session and bin; ``group_t``,
    ``group_cluster_mass`` and ``group_cluster_pvalue`` per bin, from a
    sign-flip test across mice of each mouse's mean session statistic
    (:func:`_group_statistic`; all the sessions given, pooled per mouse).
    """
    dims = ("session", *bins)
    acc, null = out["accuracy"].values, out["null_accuracy"].values
    nan = np.full(acc.shape, np.nan)
    if not n_permutations:
        for name in ("pvalue", "pvalue_max", "cluster_mass", "cluster_pvalue"):
            out[name] = (dims, nan)
        out.attrs["group_test"] = "not run: no permutations"
        return out
    out["pvalue"] = (dims, permutation_pvalue(acc, null), {"long_name": "uncorrected p"})
    tests = [cluster_test(acc[i], null[i], quantile=quantile) for i in range(acc.shape[0])]
    for name in ("pvalue_max", "cluster_mass", "cluster_pvalue"):
        out[name] = (dims, np.stack([t[name] for t in tests]))
    out["pvalue_max"].attrs["long_name"] = "max-statistic p, corrected over bins"
    out["cluster_pvalue"].attrs["long_name"] = "p of the bin's cluster (NaN outside clusters)"
    out.attrs["cluster_test"] = (f"clusters of adjacent bins above the {quantile:g} quantile "
                                 "of the bin's true and permuted accuracies; mass = sum of "
                                 "accuracy minus their mean; p against each permutation's "
                                 "largest mass")
    above = xr.DataArray(_group_statistic(acc, null, group_statistic), dims=dims,
                         coords=out["accuracy"].coords)
    per_mouse = above.groupby("mouse").mean("session")  # (mouse, *bins)
    try:
        group = group_cluster_test(per_mouse.values, seed=seed)
    except InsufficientDataError as exc:
        out.attrs["group_test"] = f"not run: {exc}"
        return out
    for name in ("t", "cluster_mass", "cluster_pvalue"):
        out[f"group_{name}"] = (bins, group[name])
    out.attrs["group_test"] = (
        f"one-sided sign-flip t-test across {per_mouse.sizes['mouse']} mice of the mean "
        f"session statistic '{group_statistic}' ("
        + ("probit of the accuracy's mid-rank among its permutations"
           if group_statistic == "rank" else "accuracy minus the null mean")
        + f"); cluster-forming t > {group['threshold']:.3f}; "
        f"{group['n_flips']} flips ({'all' if group['exact'] else 'random'}); smallest "
        f"possible p {1 / group['n_flips']:.3g}")
    return out


def _cross_temporal_session(ds: xr.Dataset, *, method: str, window: int, n_folds: int,
                            n_permutations: int, seed: int, device: Any,
                            chunk_size: int | None, params: dict[str, Any], target: str,
                            folds: str | None) -> dict[str, Any]:
    prob, X, time = _session_time_arrays(ds, window, n_folds, seed, target, folds)
    xp = resolve_namespace(device)
    Xx = xp.asarray(X)
    dtype = Xx.dtype
    K = prob.n_classes
    T, F = Xx.shape[0], prob.train.shape[0]
    train = xp.asarray(prob.train, dtype=dtype)
    rows, inside, X_test_t = test_rows(xp, Xx, prob.test)  # (T, F, p, m): each fold's test rows
    inside_x = xp.asarray(inside, dtype=dtype)
    n_test = xp.sum(inside_x, axis=1)  # (F,)
    Y = permuted_labels(prob, n_permutations)
    m = rows.shape[1]
    classes = 1 if K == 2 else K
    # Per label vector: T² decoders × F folds × classes × m test rows.
    chunk = chunk_size or int(max(1, min(Y.shape[0], MEMORY_BUDGET // (8 * T * T * F * classes
                                                                         * m))))
    acc = np.empty((T, T, Y.shape[0]))  # (train time, test time, label vector)
    for start in range(0, Y.shape[0], chunk):
        Yc = Y[start:start + chunk]
        # (T, F, Qc, p), (T, F, Qc) for two classes; (T, F, Qc, K, p), (T, F, Qc, K) for more
        coef, intercept = fit_batch(xp, method, Xx, train, xp.asarray(Yc, dtype=dtype),
                                    params, K)
        if K == 2:
            coef, intercept = coef[:, :, :, None, :], intercept[..., None]
        # Every training-time decoder on every test time's rows:
        # (train T, 1, F, Qc, classes, p) @ (1, test T, F, 1, p, m).
        D = (xp.matmul(coef[:, None, ...], X_test_t[None, :, :, None, :, :])
             + intercept[:, None, ..., None])  # (T, T, F, Qc, classes, m)
        pred = (xp.astype(D[..., 0, :] > 0, dtype) if K == 2
                else xp.astype(xp.argmax(D, axis=-2), dtype))
        truth = xp.asarray(np.moveaxis(Yc[:, rows], 0, 1), dtype=dtype)  # (F, Qc, m)
        hits = xp.astype(xp.equal(pred, truth), dtype) * inside_x[:, None, :]
        fold_acc = xp.sum(hits, axis=-1) / n_test[:, None]  # (T, T, F, Qc)
        acc[:, :, start:start + Yc.shape[0]] = to_numpy(xp.mean(fold_acc, axis=2))
    return {"time": time, "accuracy": acc[:, :, 0], "null": acc[:, :, 1:],
            "n_classes": K}


def cross_temporal(data: xr.DataTree | xr.Dataset, method: str = "lda", *, window: int = 1,
                   n_folds: int = 10, seed: int = 0, device: Any = "cpu",
                   progress: bool = True, shrinkage: float = 0.0, alpha: float = 1.0,
                   C: float = 1.0, scheduler: Any = None, target: str = "label",
                   folds: str | None = None, n_permutations: int = 0,
                   chunk_size: int | None = None, cluster_quantile: float = 0.95,
                   group_statistic: str = "rank") -> xr.DataArray | xr.Dataset:
    """Cross-temporal generalisation: train at one time, test at every time.

    Each fold's decoder trained on the training trials at time t is scored
    on the same fold's test trials at every time t'; accuracies are averaged
    over folds. With ``n_permutations``, the same is done for label vectors
    shuffled within folds (as :func:`decode_time`), which gives a null for
    every (train time, test time) and 2-D cluster tests over the matrix.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout, with ``binned`` spike counts.
    method : {"lda", "ridge", "lstsq", "logistic"}, default "lda"
    window : int, default 1
        Bins per sliding window (:func:`binned_rates`).
    n_folds : int, default 10
    seed : int, default 0
        Seeds the folds (per session).
    device : {"cpu", "cuda"} or namespace
    progress : bool, default True
    shrinkage, alpha, C : float
        The decoder's parameters (LDA shrinkage, ridge penalty, logistic C).
    scheduler : None, str or dask.distributed.Client, default None
        How sessions run (see :func:`neurolearn.parallel.map_items`).
    target, folds : str
        The trial coordinate decoded (K ≥ 2 classes) and, optionally, the one
        giving each trial's test fold, as in :func:`~neurolearn.decoding.decode`.
    n_permutations : int, default 0
        Label permutations; each costs a full T × T fit and score (memory per
        label vector 8·T²·F·m bytes for m test trials per fold, chunked to
        256 MiB unless ``chunk_size``).
    chunk_size : int, optional
        Label vectors per batch.
    cluster_quantile : float, default 0.95
        Cluster-forming threshold (see :func:`decode_time`).
    group_statistic : {"rank", "accuracy"}, default "rank"
        The session statistic of the test across mice (see :func:`decode_time`).

    Returns
    -------
    DataArray with dims (session, train_time, test_time)
        CV accuracy, with ``n_permutations=0``; the diagonal equals
        :func:`decode_time`'s accuracy.
    Dataset
        With ``n_permutations > 0``: ``accuracy``, ``null_accuracy``
        (…, permutation) and the tests of :func:`decode_time` over the
        (train_time, test_time) plane, clusters 4-connected in 2-D.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> gen = cross_temporal(ds, window=10, n_folds=5, progress=False)
    >>> gen.dims[-2:]
    ('train_time', 'test_time')
    """
    check_decoder_params("cross_temporal", method=method, window=window, n_folds=n_folds,
                         seed=seed, progress=progress, shrinkage=shrinkage, alpha=alpha, C=C,
                         target=target, folds=folds, n_permutations=n_permutations,
                         chunk_size=chunk_size, cluster_quantile=cluster_quantile,
                         group_statistic=group_statistic)
    validate(data, require_rates=False)  # binned counts are what it decodes
    params = {"shrinkage": shrinkage, "alpha": alpha, "C": C}
    results = map_items(_cross_temporal_session, [ds for _, ds in iter_sessions(data)],
                        scheduler=scheduler, progress=progress, desc="cross-temporal decoding",
                        method=method, window=window, n_folds=n_folds,
                        n_permutations=n_permutations, seed=seed, device=device,
                        chunk_size=chunk_size, params=params, target=target, folds=folds)
    time = _common_time(results)
    table = session_table(data)
    coords = {k: table[k] for k in session_coord_names(table)}
    coords.update(train_time=("train_time", time, {"units": "s"}),
                  test_time=("test_time", time, {"units": "s"}))
    attrs = {"method": method, "window_bins": window, "n_folds": n_folds, "seed": seed,
             "target": target, "folds": "" if folds is None else folds,
             "n_permutations": n_permutations, "neurolearn_version": __version__}
    dims = ("session", "train_time", "test_time")
    acc = xr.DataArray(np.stack([r["accuracy"] for r in results]), dims=dims, coords=coords,
                       name="accuracy", attrs=attrs)
    if not n_permutations:
        return acc
    out = xr.Dataset({"accuracy": acc, "null_accuracy": (
        (*dims, "permutation"), np.stack([r["null"] for r in results])),
        "n_classes": ("session", [r["n_classes"] for r in results])},
        coords={"permutation": np.arange(n_permutations)})
    out = _with_statistics(out, dims[1:], n_permutations, cluster_quantile, seed,
                           group_statistic)
    out.attrs = {**attrs, **out.attrs}
    return out
