"""Cross-validated scores of many label vectors and feature sets at once."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolearn.backend import to_numpy
from neurolearn.decoding._linear import (
    METHODS,
    fit_lda,
    fit_lda_standardised,
    fit_logistic,
    fit_ridge,
)
from neurolearn.errors import ParameterError

__all__ = ["fit_batch", "cv_scores", "train_test_scores", "auto_chunk_size", "MEMORY_BUDGET"]

#: Bytes the largest temporary of one permutation chunk may take by default.
MEMORY_BUDGET = 256 * 2**20


def fit_batch(xp: Any, method: str, X: Any, train: Any, Y: Any, params: dict[str, Any]
              ) -> tuple[Any, Any]:
    """Dispatch to the batched kernel of ``method``; returns raw-space (coef, intercept).

    Parameters
    ----------
    xp : array namespace
    method : {"lda", "ridge", "lstsq", "logistic"}
    X : array (B, n, p)
    train : array (F, n)
        Training masks (1.0 in the set).
    Y : array (Q, n)
        0/1 label vectors.
    params : dict
        The method's ``shrinkage``, ``alpha`` or ``C``.

    Returns
    -------
    coef : array (B, F, Q, p)
    intercept : array (B, F, Q)
    """
    if method == "lda":
        coef, intercept, _ = fit_lda(xp, X, train, Y, shrinkage=params.get("shrinkage", 0.0))
    elif method == "ridge":
        coef, intercept = fit_ridge(xp, X, train, Y, alpha=params.get("alpha", 1.0))
    elif method == "lstsq":
        coef, intercept = fit_ridge(xp, X, train, Y, alpha=0.0)
    elif method == "logistic":
        coef, intercept, _ = fit_logistic(xp, X, train, Y, C=params.get("C", 1.0))
    else:
        raise ParameterError(f"`method` must be one of {METHODS}; got {method!r}.")
    return coef, intercept


def auto_chunk_size(method: str, n_sets: int, n_folds: int, n_trials: int, n_units: int,
                    n_labels: int, budget: int = MEMORY_BUDGET, *,
                    per_label_covariance: bool = False) -> int:
    """Label vectors per chunk so that the largest temporary stays under ``budget`` bytes.

    The largest temporaries are the decision values and class statistics,
    8·B·F·chunk·(n + 4p) bytes; for logistic regression the per-problem
    Hessian products, 8·B·F·chunk·n·(p + 1) bytes; and for LDA with
    Ledoit–Wolf shrinkage (``per_label_covariance``) each label vector's
    centred class rows and covariances, 8·B·F·chunk·(3np + 6p²) bytes.

    Parameters
    ----------
    method : str
    n_sets, n_folds, n_trials, n_units, n_labels : int
        B, F, n, p and Q of the problem.
    budget : int, default 256 MiB
        Bytes the largest temporary may take.
    per_label_covariance : bool, default False
        LDA with Ledoit–Wolf shrinkage (a covariance per label vector).

    Returns
    -------
    int
        Label vectors per chunk, at least 1 and at most ``n_labels``.

    Examples
    --------
    >>> auto_chunk_size("lda", 1, 10, 200, 15, 1001) <= 1001
    True
    """
    per_label = 8 * n_sets * n_folds * (n_trials + 4 * n_units)
    if method == "logistic":
        per_label = 8 * n_sets * n_folds * n_trials * (n_units + 2)
    elif per_label_covariance:
        per_label = 8 * n_sets * n_folds * (3 * n_trials * n_units + 6 * n_units ** 2)
    return int(max(1, min(n_labels, budget // max(per_label, 1))))


def _correct(xp: Any, D: Any, Y: Any) -> Any:
    """1.0 where the decision's sign agrees with the 0/1 label."""
    return xp.astype(xp.equal(D > 0, Y > 0.5), D.dtype)


def cv_scores(xp: Any, method: str, X: Any, train: np.ndarray, test: np.ndarray,
              Y: np.ndarray, params: dict[str, Any], chunk_size: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Fold accuracies of every label vector, and the true labels' CV decisions.

    Parameters
    ----------
    X : array (B, n, p) in namespace ``xp``
    train, test : ndarray (F, n)
        Fold masks.
    Y : ndarray (Q, n)
        Row 0 the true labels.
    chunk_size : int, optional
        Label vectors fitted per batch (default from :func:`auto_chunk_size`).

    Returns
    -------
    fold_accuracy : ndarray (B, F, Q)
    cv_decision : ndarray (B, n)
        Decision value of each trial from the fold that tested it (true
        labels); 0 for trials no fold tests.
    """
    B, n, p = X.shape
    F, Q = train.shape[0], Y.shape[0]
    chunk = chunk_size or auto_chunk_size(
        method, B, F, n, p, Q, per_label_covariance=params.get("shrinkage") == "auto")
    dtype = X.dtype
    train_x = xp.asarray(train, dtype=dtype)
    # Each fold scores only its own test trials (about n/F of them), so the
    # decision values are computed on those rows alone: (F, m) row indices,
    # test rows first, padding masked out.
    m = max(int(np.max(np.sum(test > 0, axis=1))), 1)
    rows = np.argsort(~(test > 0), axis=1, kind="stable")[:, :m]
    inside = np.take_along_axis(test > 0, rows, axis=1)
    inside_x = xp.asarray(inside, dtype=dtype)
    X_test = xp.reshape(xp.take(X, xp.asarray(rows.reshape(-1)), axis=1), (B, F, m, p))
    X_test_t = xp.matrix_transpose(X_test)  # (B, F, p, m)
    n_test = xp.sum(inside_x, axis=1)
    fold_acc = np.empty((B, F, Q))
    cv_decision = np.zeros((B, n))
    # LDA at a fixed shrinkage scores in its standardised space: each fold's
    # few test rows are standardised once, instead of every label vector's
    # weights being converted back to raw units.
    standardised = method == "lda" and not isinstance(params.get("shrinkage", 0.0), str)
    for start in range(0, Q, chunk):
        Y_chunk = Y[start:start + chunk]
        Yc = xp.asarray(Y_chunk, dtype=dtype)
        if standardised:
            w, b, _, mean, scale = fit_lda_standardised(
                xp, X, train_x, Yc, shrinkage=params.get("shrinkage", 0.0))
            Z_test_t = (X_test_t - mean[..., None]) / scale[..., None]  # (B, F, p, m)
            D = xp.matmul(w, Z_test_t) + b[..., None]  # (B, F, Qc, m)
        else:
            coef, intercept = fit_batch(xp, method, X, train_x, Yc, params)
            D = xp.matmul(coef, X_test_t) + intercept[..., None]  # (B, F, Qc, m)
        Y_test = xp.asarray(np.moveaxis(Y_chunk[:, rows], 0, 1), dtype=dtype)  # (F, Qc, m)
        hits = _correct(xp, D, Y_test[None, ...]) * inside_x[None, :, None, :]
        fold_acc[:, :, start:start + Y_chunk.shape[0]] = to_numpy(
            xp.sum(hits, axis=-1) / n_test[None, :, None])
        if start == 0:
            cv_decision[:, rows[inside]] = to_numpy(D[:, :, 0, :])[:, inside]
    return fold_acc, cv_decision


def train_test_scores(xp: Any, method: str, X: Any, train: np.ndarray, test: np.ndarray,
                      Y: np.ndarray, params: dict[str, Any], chunk_size: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Train once on ``train`` (n,) and score the ``test`` (n,) trials.

    Parameters
    ----------
    xp : array namespace
    method : str
    X : array (B, n, p)
    train, test : ndarray (n,) of bool
    Y : ndarray (Q, n)
    params : dict
    chunk_size : int, optional
        Label vectors per batch (default: fit the memory budget).

    Returns
    -------
    accuracy : ndarray (B, Q)
    test_decision : ndarray (B, n_test) — true labels' decisions on test trials
    """
    fold_acc, dec = cv_scores(xp, method, X, train[None, :], test[None, :], Y, params,
                              chunk_size)
    return fold_acc[:, 0, :], dec[:, test > 0]
