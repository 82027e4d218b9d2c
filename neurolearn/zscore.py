"""The one z-scoring of neurolearn: each unit with the statistics of a set of trials.

Every analysis z-scores units through :func:`standardize` — the decoders
with each cross-validation fold's training trials, batched over feature
sets and folds in the array API; the margins, separation and geometry with
a session's trained trials (:func:`neurolearn.session_arrays.zscore_rows`);
and :func:`neurolearn.preprocess.zscore_units` over all trials with the
original study's ddof = 1. The variance is two-pass (centre, then the mean
square), which keeps every digit where the mean is large against the
spread (E[x²] − E[x]² loses them).
"""

from __future__ import annotations

from typing import Any

__all__ = ["standardize"]


def standardize(xp: Any, X: Any, train: Any, *, ddof: int = 0
                ) -> tuple[Any, Any, Any, Any, Any]:
    """Z-score X with each training set's mean and SD.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
        B feature sets (e.g. time bins) of n trials × p units.
    train : array (F, n)
        1.0 where a trial is in training set f (e.g. a CV fold's training
        trials), else 0.0.
    ddof : int, default 0
        Delta degrees of freedom of the SD: 0 the population SD (as
        scikit-learn's ``StandardScaler``), 1 the sample SD.

    Returns
    -------
    Z : array (B, F, n, p)
        Standardised features of all trials (training rows: mean 0, SD 1).
    mean, scale : array (B, F, p)
        Training mean and SD; a constant unit (SD ≤ 10 ε × the largest
        absolute mean, i.e. zero to rounding) gets scale 1, so its Z is its centred
        value, as ``StandardScaler`` leaves it.
    n_train : array (F,)
        Training trials of each set.
    constant : bool array (B, F, p)
        The units constant over the training trials.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> X = xp.asarray([[[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]]])
    >>> Z, mean, scale, n, constant = standardize(xp, X, xp.asarray([[1.0, 1.0, 0.0]]))
    >>> Z[0, 0, :, 0].tolist(), constant[0, 0].tolist()  # the third trial is held out
    ([-1.0, 1.0, 3.0], [False, True])
    """
    n_train = xp.sum(train, axis=1)
    mean = xp.matmul(train, X) / n_train[:, None]  # (B, F, p)
    centred = X[:, None, :, :] - mean[:, :, None, :]  # (B, F, n, p)
    # Σₙ trainₙ·centred² as one matrix product per (set, fold): no masked copy.
    var = xp.matmul(train[None, :, None, :], centred * centred)[:, :, 0, :]
    var = var / (n_train - ddof)[:, None]
    scale = xp.sqrt(var)
    eps = float(xp.finfo(X.dtype).eps)
    constant = scale <= 10 * eps * xp.max(xp.abs(mean), axis=-1, keepdims=True)
    scale = xp.where(constant, xp.ones_like(scale), scale)
    return centred / scale[:, :, None, :], mean, scale, n_train, constant
