"""Time-resolved decoding and cross-temporal generalisation, batched over time bins.

Like MNE's ``SlidingEstimator`` / ``GeneralizingEstimator``, but every time
bin (and, for the sliding decoder, every permutation) is fitted in one
batched array program per session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.backend import resolve_namespace, to_numpy
from neurolearn.decoding._linear import decision
from neurolearn.decoding.constraints import check_decoder_params
from neurolearn.decoding.cv import permuted_labels, session_problem
from neurolearn.decoding.engine import cv_class_scores, fit_batch
from neurolearn.decoding.pvalues import permutation_pvalue
from neurolearn.errors import SchemaError
from neurolearn.parallel import map_items
from neurolearn.schema import iter_sessions, session_table, validate

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
                scheduler: Any = None, target: str = "label", folds: str | None = None
                ) -> xr.Dataset:
    """Cross-validated decoding accuracy in every time bin, with a permutation null.

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

    Returns
    -------
    Dataset with dims (session, time)
        ``accuracy``, ``null_accuracy`` (session, time, permutation) and
        ``pvalue`` (per bin, uncorrected).

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
                         target=target, folds=folds)
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
    coords = {k: table[k] for k in ("session", "mouse", "day", "phase")}
    coords.update(time=("time", time, {"units": "s", "long_name": "window start"}),
                  permutation=np.arange(n_permutations))
    pvalue = (permutation_pvalue(acc, null) if n_permutations else np.full(acc.shape, np.nan))
    return xr.Dataset(
        {"accuracy": (("session", "time"), acc), "null_accuracy":
         (("session", "time", "permutation"), null), "pvalue": (("session", "time"), pvalue)},
        coords=coords,
        attrs={"method": method, "window_bins": window, "n_folds": n_folds,
               "n_permutations": n_permutations, "seed": seed, "shrinkage": shrinkage,
               "alpha": alpha, "C": C, "neurolearn_version": __version__})


def _cross_temporal_session(ds: xr.Dataset, *, method: str, window: int, n_folds: int,
                            seed: int, device: Any, params: dict[str, Any], target: str,
                            folds: str | None) -> dict[str, Any]:
    prob, X, time = _session_time_arrays(ds, window, n_folds, seed, target, folds)
    xp = resolve_namespace(device)
    Xx = xp.asarray(X)
    dtype = Xx.dtype
    K = prob.n_classes
    train = xp.asarray(prob.train, dtype=dtype)
    test = xp.asarray(prob.test, dtype=dtype)
    y = xp.asarray(prob.y[None, :], dtype=dtype)
    # (T, F, 1, p), (T, F, 1) for two classes; (T, F, 1, K, p), (T, F, 1, K) for more
    coef, intercept = fit_batch(xp, method, Xx, train, y, params, K)
    T, F = coef.shape[0], coef.shape[1]
    classes = 1 if K == 2 else K
    # Every training-time decoder applied at every test time: (T_test, T*F, classes, n).
    D = decision(xp, Xx, xp.reshape(coef, (1, T * F, classes, -1)),
                 xp.reshape(intercept, (1, T * F, classes)))
    D = xp.reshape(D, (T, T, F, classes, -1))  # (test time, train time, fold, class, n)
    pred = (xp.astype(D[:, :, :, 0, :] > 0, dtype) if K == 2
            else xp.astype(xp.argmax(D, axis=3), dtype))
    hits = xp.astype(xp.equal(pred, y[0]), dtype) * test[None, None, :, :]
    acc = xp.sum(hits, axis=-1) / xp.sum(test, axis=-1)
    return {"time": time, "accuracy": to_numpy(xp.mean(acc, axis=-1)).T}  # (train, test)


def cross_temporal(data: xr.DataTree | xr.Dataset, method: str = "lda", *, window: int = 1,
                   n_folds: int = 10, seed: int = 0, device: Any = "cpu",
                   progress: bool = True, shrinkage: float = 0.0, alpha: float = 1.0,
                   C: float = 1.0, scheduler: Any = None, target: str = "label",
                   folds: str | None = None) -> xr.DataArray:
    """Cross-temporal generalisation: train at one time, test at every time.

    Each fold's decoder trained on the training trials at time t is scored
    on the same fold's test trials at every time t'; accuracies are averaged
    over folds.

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

    Returns
    -------
    DataArray with dims (session, train_time, test_time)
        CV accuracy; the diagonal equals :func:`decode_time`'s accuracy.

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
                         target=target, folds=folds)
    validate(data, require_rates=False)  # binned counts are what it decodes
    params = {"shrinkage": shrinkage, "alpha": alpha, "C": C}
    results = map_items(_cross_temporal_session, [ds for _, ds in iter_sessions(data)],
                        scheduler=scheduler, progress=progress, desc="cross-temporal decoding",
                        method=method, window=window, n_folds=n_folds, seed=seed,
                        device=device, params=params, target=target, folds=folds)
    time = _common_time(results)
    table = session_table(data)
    coords = {k: table[k] for k in ("session", "mouse", "day", "phase")}
    coords.update(train_time=("train_time", time, {"units": "s"}),
                  test_time=("test_time", time, {"units": "s"}))
    return xr.DataArray(np.stack([r["accuracy"] for r in results]),
                        dims=("session", "train_time", "test_time"), coords=coords,
                        name="accuracy",
                        attrs={"method": method, "window_bins": window, "n_folds": n_folds,
                               "seed": seed, "target": target,
                               "folds": "" if folds is None else folds,
                               "neurolearn_version": __version__})
