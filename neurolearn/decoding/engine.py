"""Cross-validated scores of many label vectors and feature sets at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurolearn.backend import to_numpy
from neurolearn.decoding._linear import (
    METHODS,
    fit_lda,
    fit_logistic,
    fit_ridge,
    lda_test_decisions,
)
from neurolearn.decoding._multiclass import (
    fit_lda_multiclass,
    fit_logistic_multinomial,
    fit_ridge_multiclass,
    lda_multiclass_decisions,
)
from neurolearn.errors import ParameterError

__all__ = ["fit_batch", "cv_scores", "cv_class_scores", "train_test_class_scores", "CVScores",
           "test_rows", "auto_chunk_size", "MEMORY_BUDGET", "HAS_POSTERIOR"]

#: Bytes the largest temporary of one permutation chunk may take by default.
MEMORY_BUDGET = 256 * 2**20


def fit_batch(xp: Any, method: str, X: Any, train: Any, Y: Any, params: dict[str, Any],
              n_classes: int = 2) -> tuple[Any, Any]:
    """Dispatch to the batched kernel of ``method``; returns raw-space (coef, intercept).

    Parameters
    ----------
    xp : array namespace
    method : {"lda", "ridge", "lstsq", "logistic"}
    X : array (B, n, p)
    train : array (F, n)
        Training masks (1.0 in the set).
    Y : array (Q, n)
        Labels: 0/1 for two classes, class indices 0..K−1 for K ≥ 3.
    params : dict
        The method's ``shrinkage``, ``alpha`` or ``C``.
    n_classes : int, default 2
        K. Two classes use the binary kernels (one decision value, class 1
        where it is > 0); K ≥ 3 the multi-class ones (one value per class).

    Returns
    -------
    coef : array (B, F, Q, p), or (B, F, Q, K, p) for K ≥ 3
    intercept : array (B, F, Q), or (B, F, Q, K)
    """
    if method not in METHODS:
        raise ParameterError(f"`method` must be one of {METHODS}; got {method!r}.")
    if n_classes > 2:
        if method == "lda":
            coef, intercept, _ = fit_lda_multiclass(xp, X, train, Y, n_classes,
                                                    shrinkage=params.get("shrinkage", 0.0))
        elif method == "logistic":
            coef, intercept, _ = fit_logistic_multinomial(xp, X, train, Y, n_classes,
                                                          C=params.get("C", 1.0))
        else:
            alpha = params.get("alpha", 1.0) if method == "ridge" else 0.0
            coef, intercept = fit_ridge_multiclass(xp, X, train, Y, n_classes, alpha=alpha)
    elif method == "lda":
        coef, intercept, _ = fit_lda(xp, X, train, Y, shrinkage=params.get("shrinkage", 0.0))
    elif method == "ridge":
        coef, intercept = fit_ridge(xp, X, train, Y, alpha=params.get("alpha", 1.0))
    elif method == "lstsq":
        coef, intercept = fit_ridge(xp, X, train, Y, alpha=0.0)
    else:
        coef, intercept, _ = fit_logistic(xp, X, train, Y, C=params.get("C", 1.0))
    return coef, intercept


def auto_chunk_size(method: str, n_sets: int, n_folds: int, n_trials: int, n_units: int,
                    n_labels: int, budget: int = MEMORY_BUDGET, *,
                    per_label_covariance: bool = False, n_classes: int = 2) -> int:
    """Label vectors per chunk so that the largest temporary stays under ``budget`` bytes.

    The largest temporaries are the decision values and class statistics,
    8·B·F·chunk·K'·(n + 4p) bytes (K' = 1 for two classes, else K); for
    logistic regression the per-problem Hessian products,
    8·B·F·chunk·K'²·n·(p + 2) bytes; and for LDA with Ledoit–Wolf shrinkage
    (``per_label_covariance``) each label vector's centred class rows and
    covariances, 8·B·F·chunk·K'·(3np + 6p²) bytes.

    Parameters
    ----------
    method : str
    n_sets, n_folds, n_trials, n_units, n_labels : int
        B, F, n, p and Q of the problem.
    budget : int, default 256 MiB
        Bytes the largest temporary may take.
    per_label_covariance : bool, default False
        LDA with Ledoit–Wolf shrinkage (a covariance per label vector).
    n_classes : int, default 2
        K.

    Returns
    -------
    int
        Label vectors per chunk, at least 1 and at most ``n_labels``.

    Examples
    --------
    >>> auto_chunk_size("lda", 1, 10, 200, 15, 1001) <= 1001
    True
    """
    k = 1 if n_classes <= 2 else n_classes
    per_label = 8 * n_sets * n_folds * k * (n_trials + 4 * n_units)
    if method == "logistic":
        per_label = 8 * n_sets * n_folds * k * k * n_trials * (n_units + 2)
    elif per_label_covariance:
        per_label = 8 * n_sets * n_folds * k * (3 * n_trials * n_units + 6 * n_units ** 2)
    return int(max(1, min(n_labels, budget // max(per_label, 1))))


@dataclass(frozen=True)
class CVScores:
    """Cross-validated scores of every label vector (see :func:`cv_class_scores`).

    Attributes
    ----------
    fold_accuracy : ndarray (B, F, Q)
        Accuracy of each fold's test trials.
    class_hits : ndarray (B, Q, K)
        Correctly decoded test trials of each true class, over all folds.
    class_counts : ndarray (Q, K)
        Test trials of each true class, over all folds.
    posterior_sum : ndarray (B, Q)
        Σ over test trials of the posterior probability of the true class
        (NaN for a method without posteriors: ridge, least squares).
    decision : ndarray (B, n) or (B, n, K)
        True labels: each trial's decision value(s) from the fold that tested
        it; 0 for trials no fold tests.
    predicted : ndarray (B, n) of int
        True labels: each tested trial's predicted class index; −1 elsewhere.
    """

    fold_accuracy: np.ndarray
    class_hits: np.ndarray
    class_counts: np.ndarray
    posterior_sum: np.ndarray
    decision: np.ndarray
    predicted: np.ndarray


#: Methods whose decision values are log-odds: LDA and logistic regression.
HAS_POSTERIOR = ("lda", "logistic")


def _chunk_decisions(xp: Any, method: str, X: Any, X_test_t: Any, train_x: Any, Yc: Any,
                     params: dict[str, Any], n_classes: int) -> Any:
    """Decision values on each fold's test rows: (B, F, Qc, m) or (B, F, Qc, K, m)."""
    multi = n_classes > 2
    if method == "lda" and not isinstance(params.get("shrinkage", 0.0), str):
        # LDA at a fixed shrinkage scores in its standardised space: each fold's
        # few test rows are standardised once, and no label vector's weights
        # are formed (see lda_test_decisions).
        shrinkage = params.get("shrinkage", 0.0)
        if multi:
            return lda_multiclass_decisions(xp, X, train_x, Yc, n_classes, X_test_t,
                                            shrinkage=shrinkage)
        return lda_test_decisions(xp, X, train_x, Yc, X_test_t, shrinkage=shrinkage)
    coef, intercept = fit_batch(xp, method, X, train_x, Yc, params, n_classes)
    if multi:
        return xp.matmul(coef, X_test_t[:, :, None, :, :]) + intercept[..., None]
    return xp.matmul(coef, X_test_t) + intercept[..., None]


def _chunk_scores(xp: Any, D: Any, Y_test: Any, inside: Any, n_classes: int,
                  posterior: bool) -> tuple[Any, Any, Any]:
    """Hits, summed true-class posteriors, and the true labels' predictions, of a chunk.

    Returns
    -------
    hits : (B, F, Qc, m) 1.0 where a test row is decoded right (0 on padding)
    post_sum : (B, Qc) Σ over test rows of the true class's posterior, or None
    pred0 : (B, F, m) predicted class of label vector 0
    """
    dtype = D.dtype
    mask = inside[None, :, None, :]
    # Without padding (folds of equal size) the mask is all ones: not applied.
    padded = inside.shape[-1] * inside.shape[0] != int(xp.sum(inside))

    def masked(a: Any) -> Any:
        return a * mask if padded else a

    if n_classes > 2:
        pred = xp.astype(xp.argmax(D, axis=-2), dtype)
        hits = masked(xp.astype(xp.equal(pred, Y_test[None, ...]), dtype))
        if not posterior:
            return hits, None, pred[:, :, 0, :]
        # softmax_y = exp(D_y − max) / Σ_k exp(D_k − max); padding slots may
        # hold a held-out trial's −1 (masked out).
        top = xp.max(D, axis=-2, keepdims=True)
        index = xp.astype(xp.broadcast_to(xp.clip(Y_test, 0, None)[None, :, :, None, :],
                                          (D.shape[0], *Y_test.shape[:2], 1, D.shape[-1])),
                          xp.int64)
        true = xp.take_along_axis(D, index, axis=-2)
        post = xp.exp(true - top)[..., 0, :] / xp.sum(xp.exp(D - top), axis=-2)
        return hits, xp.sum(masked(post), axis=(1, 3)), pred[:, :, 0, :]
    positive = Y_test > 0.5
    hits = masked(xp.astype(xp.equal(D > 0, positive[None, ...]), dtype))
    pred0 = xp.astype(D[:, :, 0, :] > 0, dtype)
    if not posterior:
        return hits, None, pred0
    # σ(±D) = ½ + ½ tanh(±D/2): one pass, and no overflow.
    half = xp.astype(positive, dtype) - 0.5  # ±½
    t = masked(xp.tanh(half[None, ...] * D))
    return hits, 0.5 * xp.sum(t, axis=(1, 3)) + 0.5 * xp.sum(inside), pred0


def test_rows(xp: Any, X: Any, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """Each fold's test rows, gathered: decisions are computed on those alone.

    A fold tests about n/F trials, so scoring only them (padded to the
    largest fold, padding masked out) spares F−1 of every F decision values.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    test : ndarray (F, n)
        Test masks.

    Returns
    -------
    rows : ndarray (F, m) of int
        Trial indices, each fold's test trials first.
    inside : ndarray (F, m) of bool
        False on padding.
    X_test_t : array (B, F, p, m)
        The rows' features, transposed.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> test = np.array([[1.0, 0, 1, 0, 0], [0, 1, 0, 1, 1]])
    >>> rows, inside, X_t = test_rows(xp, xp.zeros((1, 5, 2)), test)
    >>> rows.tolist(), inside.tolist(), X_t.shape
    ([[0, 2, 1], [1, 3, 4]], [[True, True, False], [True, True, True]], (1, 2, 2, 3))
    """
    B, _, p = X.shape
    F = test.shape[0]
    m = max(int(np.max(np.sum(test > 0, axis=1))), 1)
    rows = np.argsort(~(test > 0), axis=1, kind="stable")[:, :m]
    inside = np.take_along_axis(test > 0, rows, axis=1)
    X_test = xp.reshape(xp.take(X, xp.asarray(rows.reshape(-1)), axis=1), (B, F, m, p))
    return rows, inside, xp.matrix_transpose(X_test)


def cv_class_scores(xp: Any, method: str, X: Any, train: np.ndarray, test: np.ndarray,
                    Y: np.ndarray, params: dict[str, Any], chunk_size: int | None = None,
                    n_classes: int = 2) -> CVScores:
    """Cross-validated accuracy, per-class hits and posteriors of every label vector.

    Parameters
    ----------
    xp : array namespace
    method : {"lda", "ridge", "lstsq", "logistic"}
    X : array (B, n, p) in namespace ``xp``
    train, test : ndarray (F, n)
        Fold masks.
    Y : ndarray (Q, n)
        Class indices (0/1 for two classes); row 0 the true labels.
    params : dict
        The method's ``shrinkage``, ``alpha`` or ``C``.
    chunk_size : int, optional
        Label vectors fitted per batch (default from :func:`auto_chunk_size`).
    n_classes : int, default 2
        K.

    Returns
    -------
    CVScores

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 3.0  # three classes
    >>> X = rng.normal(size=(60, 4)) + y[:, None]
    >>> test = (np.arange(60)[None, :] % 5 == np.arange(5)[:, None]).astype(float)
    >>> s = cv_class_scores(xp, "lda", xp.asarray(X[None]), 1.0 - test, test, y[None],
    ...                     {"shrinkage": 0.0}, n_classes=3)
    >>> s.fold_accuracy.shape, s.class_counts.tolist()
    ((1, 5, 1), [[20.0, 20.0, 20.0]])
    """
    B, n, p = X.shape
    F, Q = train.shape[0], Y.shape[0]
    K = max(n_classes, 2)
    chunk = chunk_size or auto_chunk_size(
        method, B, F, n, p, Q, per_label_covariance=params.get("shrinkage") == "auto",
        n_classes=n_classes)
    dtype = X.dtype
    train_x = xp.asarray(train, dtype=dtype)
    rows, inside, X_test_t = test_rows(xp, X, test)
    inside_x = xp.asarray(inside, dtype=dtype)
    n_test = xp.sum(inside_x, axis=1)
    posterior = method in HAS_POSTERIOR
    fold_acc = np.empty((B, F, Q))
    class_hits = np.empty((B, Q, K))
    posterior_sum = np.full((B, Q), np.nan)
    Y_rows = Y[:, rows]  # (Q, F, m)
    class_counts = np.stack([np.sum((Y_rows == k) & inside[None], axis=(1, 2))
                             for k in range(K)], axis=-1).astype(float)
    decision = np.zeros((B, n) if n_classes <= 2 else (B, n, K))
    predicted = np.full((B, n), -1, dtype=np.int64)
    for start in range(0, Q, chunk):
        stop = min(start + chunk, Q)
        Yc = xp.asarray(Y[start:stop], dtype=dtype)
        D = _chunk_decisions(xp, method, X, X_test_t, train_x, Yc, params, n_classes)
        Y_test = xp.asarray(np.moveaxis(Y_rows[start:stop], 0, 1), dtype=dtype)  # (F, Qc, m)
        hits, post_sum, pred0 = _chunk_scores(xp, D, Y_test, inside_x, n_classes, posterior)
        fold_hits = xp.sum(hits, axis=-1)  # (B, F, Qc)
        fold_acc[:, :, start:stop] = to_numpy(fold_hits / n_test[None, :, None])
        # Per-class hits: the first K − 1 classes by mask, the last the rest.
        total = to_numpy(xp.sum(fold_hits, axis=1))  # (B, Qc)
        for k in range(K - 1):  # the classes; label vectors stay batched
            of_k = xp.astype(xp.equal(Y_test, float(k)), dtype)[None, ...]
            class_hits[:, start:stop, k] = to_numpy(xp.sum(hits * of_k, axis=(1, 3)))
        class_hits[:, start:stop, K - 1] = total - class_hits[:, start:stop, :K - 1].sum(-1)
        if post_sum is not None:
            posterior_sum[:, start:stop] = to_numpy(post_sum)
        if start == 0:
            tested = rows[inside]
            D0 = to_numpy(D[:, :, 0, ...])  # (B, F, m) or (B, F, K, m)
            if n_classes > 2:
                decision[:, tested, :] = np.moveaxis(D0, 2, 3)[:, inside, :]
            else:
                decision[:, tested] = D0[:, inside]
            predicted[:, tested] = to_numpy(pred0)[:, inside].astype(np.int64)
    return CVScores(fold_acc, class_hits, class_counts, posterior_sum, decision, predicted)


def cv_scores(xp: Any, method: str, X: Any, train: np.ndarray, test: np.ndarray,
              Y: np.ndarray, params: dict[str, Any], chunk_size: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Fold accuracies of every 0/1 label vector, and the true labels' CV decisions.

    The two-class view of :func:`cv_class_scores`.

    Parameters
    ----------
    xp : array namespace
    method : {"lda", "ridge", "lstsq", "logistic"}
    X : array (B, n, p) in namespace ``xp``
    train, test : ndarray (F, n)
        Fold masks.
    Y : ndarray (Q, n)
        Row 0 the true labels.
    params : dict
    chunk_size : int, optional
        Label vectors fitted per batch (default from :func:`auto_chunk_size`).

    Returns
    -------
    fold_accuracy : ndarray (B, F, Q)
    cv_decision : ndarray (B, n)
        Decision value of each trial from the fold that tested it (true
        labels); 0 for trials no fold tests.
    """
    scores = cv_class_scores(xp, method, X, train, test, Y, params, chunk_size)
    return scores.fold_accuracy, scores.decision


def train_test_class_scores(xp: Any, method: str, X: Any, train: np.ndarray,
                            test: np.ndarray, Y: np.ndarray, params: dict[str, Any],
                            chunk_size: int | None = None, n_classes: int = 2) -> CVScores:
    """Train once on ``train`` (n,) and score the ``test`` (n,) trials.

    Parameters
    ----------
    xp : array namespace
    method : str
    X : array (B, n, p)
    train, test : ndarray (n,)
        1.0 on the training and the test trials.
    Y : ndarray (Q, n)
    params : dict
    chunk_size : int, optional
        Label vectors per batch (default: fit the memory budget).
    n_classes : int, default 2

    Returns
    -------
    CVScores
        With one "fold" (F = 1).

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> y = np.arange(40) % 2.0
    >>> X = np.random.default_rng(1).normal(size=(40, 3)) + 2 * y[:, None]
    >>> train = (np.arange(40) < 30).astype(float)
    >>> s = train_test_class_scores(xp, "lda", xp.asarray(X[None]), train, 1.0 - train,
    ...                             y[None], {})
    >>> s.fold_accuracy.shape, bool(s.fold_accuracy[0, 0, 0] > 0.7)
    ((1, 1, 1), True)
    """
    return cv_class_scores(xp, method, X, train[None, :], test[None, :], Y, params,
                           chunk_size, n_classes)
