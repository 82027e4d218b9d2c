"""Batched linear classifiers in the array API.

Every kernel fits many binary problems at once: ``B`` feature sets (time bins)
× ``F`` training sets (CV folds) × ``Q`` label vectors (the true labels and
permutations), all on the same trials. Shapes:

``X``      (B, n, p)   features of all n trials
``train``  (F, n)      1.0 where a trial is in fold f's training set
``Y``      (Q, n)      0/1 labels (only training entries are read)

Each kernel returns raw-feature-space weights ``coef`` (B, F, Q, p) and
``intercept`` (B, F, Q) such that the decision is ``X @ coef + intercept``
(class 1 where it is > 0). Features are z-scored with each fold's training
mean and SD (population SD, as ``sklearn.preprocessing.StandardScaler``)
before fitting, so nothing from test trials leaks into training.

Why it is fast: within a fold the standardised training rows, and so their
total scatter S_T, do not depend on the labels. For two classes the pooled
within-class covariance is S_w = S_T − c·ΔμΔμᵀ with c = n₀n₁/n², so
S_w⁻¹Δμ = S_T⁻¹Δμ / (1 − cΔμᵀS_T⁻¹Δμ) (Sherman–Morrison). One
eigendecomposition of S_T per fold serves every permutation, which then costs
a few matrix–vector products; shrinkage only shifts the eigenvalues, and
ridge regression uses the same eigenbasis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from neurolearn.backend import sigmoid, softplus, to_numpy
from neurolearn.zscore import standardize

__all__ = ["fit_lda", "fit_lda_standardised", "lda_test_decisions", "fit_ridge", "fit_logistic",
           "METHODS"]

METHODS = ("lda", "ridge", "lstsq", "logistic")


def _eps(xp: Any, x: Any) -> float:
    return float(xp.finfo(x.dtype).eps)


def _class_stats(xp: Any, X: Any, Z: Any, mean: Any, scale: Any, train: Any, Y: Any
                 ) -> tuple[Any, Any, Any, Any, Any]:
    """Class sums and counts of every (fold, label vector).

    ``s1`` = Σₙ Y_qn train_fn Z_bfn is the flop-heavy part of a permutation
    null (F·Q·n·p per set). The folds share all but their left-out rows, and
    Z is X standardised per fold, so it is computed as one product over all
    trials, Y X̃, minus each fold's left-out rows (about n/F of them), then
    the fold's mean and scale: F·Q·(n/F)·p + Q·n·p flops, ~F/2 times fewer.
    X̃ is X standardised over all trials first, so the subtraction loses
    nothing to a large mean. (Where folds leave out half the trials or more,
    the direct product.) No (F, Q, n) array of masked labels is formed.
    """
    n1 = xp.matrix_transpose(xp.matmul(Y, xp.matrix_transpose(train)))  # (F, Q)
    n_f = xp.sum(train, axis=1)
    n0 = n_f[:, None] - n1
    Zm = Z * train[None, :, :, None]  # (B, F, n, p): training rows only
    total = xp.sum(Zm, axis=-2)[:, :, None, :]  # (B, F, 1, p), ~0 after centring
    trained = to_numpy(train) > 0
    left_out = int(np.max(np.sum(~trained, axis=1)))
    if 2 * left_out >= trained.shape[1]:
        s1 = xp.matmul(Y[None, None, :, :], Zm)  # (B, F, Q, p)
        return s1, total - s1, n1, n0, n_f
    g_mean = xp.mean(X, axis=1, keepdims=True)  # (B, 1, p)
    g_sd = xp.std(X, axis=1, keepdims=True)
    g_sd = xp.where(g_sd > 0, g_sd, xp.ones_like(g_sd))
    Xg = (X - g_mean) / g_sd
    full = xp.matmul(Y, Xg)  # (B, Q, p): every trial
    B, n, p = X.shape
    F = trained.shape[0]
    rows = np.argsort(trained, axis=1, kind="stable")[:, :max(left_out, 1)]  # (F, r)
    keep = xp.asarray(np.take_along_axis(~trained, rows, axis=1), dtype=X.dtype)
    flat = xp.asarray(rows.reshape(-1))
    # Each fold's left-out labels as a (Q, r) block, gathered along Y's rows
    # (contiguous) and viewed fold-first: BLAS reads the blocks in place.
    r = rows.shape[1]
    Y_out = xp.permute_dims(xp.reshape(xp.take(Y, flat, axis=1), (Y.shape[0], F, r)), (1, 0, 2))
    X_out = xp.reshape(xp.take(Xg, flat, axis=1), (B, F, r, p))
    X_out = X_out * keep[None, :, :, None]  # padded slots (a fold with fewer left out) add 0
    part = xp.matmul(Y_out[None, ...], X_out)  # (B, F, Q, p)
    mean_g = (mean - g_mean) / g_sd  # the fold's mean and scale in units of X̃
    scale_g = scale / g_sd
    s1 = ((full[:, None, :, :] - part - n1[None, :, :, None] * mean_g[:, :, None, :])
          / scale_g[:, :, None, :])
    return s1, total - s1, n1, n0, n_f


def _to_raw(xp: Any, w: Any, b: Any, mean: Any, scale: Any) -> tuple[Any, Any]:
    """Standardised-space weights (B, F, ..., p) -> weights on the raw features.

    ``mean`` and ``scale`` are (B, F, p); the axes between (label vectors,
    and classes for K-class weights) broadcast.
    """
    index = (slice(None), slice(None)) + (None,) * (w.ndim - mean.ndim) + (slice(None),)
    coef = w / scale[index]
    intercept = b - xp.sum(coef * mean[index], axis=-1)
    return coef, intercept


def _scatter_eigh(xp: Any, Z: Any, train: Any, n_f: Any) -> tuple[Any, Any]:
    Zm = Z * train[None, :, :, None]
    S_T = xp.matmul(xp.matrix_transpose(Zm), Zm) / n_f[None, :, None, None]
    S_T = 0.5 * (S_T + xp.matrix_transpose(S_T))
    return xp.linalg.eigh(S_T)


def _pinv_scale(xp: Any, d: Any, lam_max: Any, p: int, n: Any) -> Any:
    # Eigenvalues below LAPACK's lstsq cut-off (eps·max(n, p)·λ_max) are
    # treated as zero: the minimum-norm solution sklearn's lsqr solver returns.
    cut = _eps(xp, d) * max(p, 1) * xp.abs(lam_max) * n
    return xp.where(d > cut, 1.0 / xp.where(d > cut, d, xp.ones_like(d)), xp.zeros_like(d))


def _shrunk_inverse(xp: Any, lam: Any, shrinkage: float | Any,
                    between: Callable[[], Any]) -> tuple[Any, Any]:
    """Inverse eigenvalues of A = (1−α)S_T + βI, β = α·tr(S_w)/p, in S_T's eigenbasis.

    ``lam`` (B, F, p) are S_T's eigenvalues; tr(S_w) = tr(S_T) − ``between()``
    (B, F, Q), the between-class part of every label vector, called only
    when shrunk. Returns α (B, F) and the inverse eigenvalues: (B, F, 1, p)
    unshrunk — A = S_T does not depend on the labels, so they are computed
    once per fold, not per permutation — else (B, F, Q, p). Eigenvalues below
    the lstsq cut-off count as zero (:func:`_pinv_scale`).
    """
    p = lam.shape[-1]
    if isinstance(shrinkage, (int, float)):
        alpha = xp.full(lam.shape[:2], float(shrinkage), dtype=lam.dtype)
    else:
        alpha = xp.asarray(shrinkage, dtype=lam.dtype)
    lam_max = xp.max(lam, axis=-1)[:, :, None, None]
    if isinstance(shrinkage, (int, float)) and shrinkage == 0:
        return alpha, _pinv_scale(xp, lam[:, :, None, :], lam_max, p, 1.0)
    beta = alpha[:, :, None] * (xp.sum(lam, axis=-1)[:, :, None] - between()) / p  # (B, F, Q)
    d = (1.0 - alpha)[:, :, None, None] * lam[:, :, None, :] + beta[..., None]
    return alpha, _pinv_scale(xp, d, lam_max, p, 1.0)


def fit_lda(xp: Any, X: Any, train: Any, Y: Any, *, shrinkage: float | str | Any = 0.0
            ) -> tuple[Any, Any, Any]:
    """Two-class LDA with pooled covariance, optionally shrunk.

    Matches ``make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
    solver="lsqr", shrinkage=shrinkage))``: S_w = Σ_k π_k C_k (biased class
    covariances), shrunk as (1−α)S_w + α·tr(S_w)/p·I, priors from class
    frequencies. ``shrinkage="auto"`` shrinks each class covariance by its
    own Ledoit–Wolf coefficient instead (see :func:`_fit_lda_ledoit_wolf`).

    Parameters
    ----------
    shrinkage : float, "auto" or array of shape (B, F)
        α in [0, 1]; an array gives one value per (feature set, fold).

    Returns
    -------
    coef (B, F, Q, p), intercept (B, F, Q), shrinkage used (B, F), or with
    ``"auto"`` the mean of the two classes' Ledoit–Wolf coefficients
    (B, F, Q)
    """
    if isinstance(shrinkage, str):  # "auto"; the parameter contract allows no other string
        return _fit_lda_ledoit_wolf(xp, X, train, Y)
    w, b, alpha, mean, scale = fit_lda_standardised(xp, X, train, Y, shrinkage=shrinkage)
    coef, intercept = _to_raw(xp, w, b, mean, scale)
    return coef, intercept, alpha


def fit_lda_standardised(xp: Any, X: Any, train: Any, Y: Any, *,
                         shrinkage: float | Any = 0.0) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`fit_lda` (a number or per-fold array ``shrinkage``) in the
    standardised space: the decision on a trial x is w·(x − mean)/scale + b.

    Scoring test trials there (their few rows standardised once per fold)
    spares converting every label vector's weights back to raw units.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
    shrinkage : float or array (B, F), default 0

    Returns
    -------
    w (B, F, Q, p), b (B, F, Q), shrinkage used (B, F), and each fold's
    training mean and scale (B, F, p)
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    s1, s0, n1, n0, n_f = _class_stats(xp, X, Z, mean, scale, train, Y)
    mu1 = s1 / n1[None, :, :, None]
    mu0 = s0 / n0[None, :, :, None]
    delta = mu1 - mu0  # (B, F, Q, p)
    lam, V = _scatter_eigh(xp, Z, train, n_f)  # (B, F, p), (B, F, p, p)
    c = (n0 * n1) / (n_f[:, None] ** 2)  # (F, Q)
    alpha, inv = _shrunk_inverse(xp, lam, shrinkage,
                                 lambda: c[None, ...] * xp.sum(delta * delta, axis=-1))
    u = xp.matmul(delta, V) * inv
    v = xp.matmul(u, xp.matrix_transpose(V))  # A⁻¹Δμ with A = (1−α)S_T + βI
    denom = 1.0 - (1.0 - alpha)[:, :, None] * c[None, ...] * xp.sum(delta * v, axis=-1)
    # S_w = S_T − cΔμΔμᵀ is positive semi-definite, so the exact denominator is
    # ≥ 0. It is 0 when S_w is singular along Δμ — units ≥ training trials − 1,
    # the classes then lying on two parallel hyperplanes — and rounding leaves
    # a ±1e-16 there, whose sign would flip the decoder at random (and its
    # inverse overflow). Held at ≥ 1e-10 it gives the limit of shrinkage → 0+:
    # the direction A⁺Δμ (maximal data piling, Ahn & Marron 2010), with the
    # class prior's share of the threshold negligible (≤ 1e-10 relative), which
    # is what LDA(solver="lsqr", shrinkage=1e-9) returns. (scikit-learn's
    # unshrunk lsqr solution is not defined there: its weights reach ~1e13
    # along rounding-noise directions.)
    denom = xp.clip(denom, 1e-10, None)
    w = v / denom[..., None]
    b = -0.5 * xp.sum(w * (mu1 + mu0), axis=-1) + xp.log(n1 / n0)[None, ...]
    return w, b, alpha, mean, scale


def lda_test_decisions(xp: Any, X: Any, train: Any, Y: Any, X_test_t: Any, *,
                       shrinkage: float | Any = 0.0) -> Any:
    """:func:`fit_lda_standardised`'s decision values on each fold's test rows,
    without forming any label vector's weights.

    In a fold's standardised space the training rows sum to zero, so both
    class means follow from the class-1 sums s₁: μ₁ = s₁/n₁, μ₀ = −s₁/n₀,
    Δμ = k·s₁ with k = n/(n₁n₀). With t = Vᵀs₁ in S_T's eigenbasis and
    u = A⁻¹ there (u = t ⊙ 1/d), the Sherman–Morrison denominator is
    1 − (1−α)·tᵀu/(n₁n₀), the threshold −½·k(n₀−n₁)/(n₁n₀)·tᵀu/denom +
    log(n₁/n₀), and the decision on a test row z is k/denom · uᵀ(Vᵀz).
    And t itself is Y times the training rows turned into the eigenbasis,
    (train ⊙ Z)V, which do not depend on the labels: every fold's t of every
    label vector is one matrix product, Y (Q, n) @ (n, B·F·p). A label
    vector then costs t, u, their dot product and one product with the
    fold's label-free VᵀZ_test, instead of class sums, A⁻¹Δμ, the weights'
    division and the class-mean threshold (a dozen passes over (B, F, Q, p)
    arrays; the permutation null's largest cost at p ≪ n).

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
        0/1 labels.
    X_test_t : array (B, F, p, m)
        Each fold's test rows (raw features), transposed (:func:`~neurolearn.
        decoding.engine.test_rows`).
    shrinkage : float or array (B, F), default 0

    Returns
    -------
    array (B, F, Q, m)
        Decision values (class 1 where > 0), equal to those of the weights
        :func:`fit_lda_standardised` returns up to rounding.
    """
    B, n, p = X.shape
    F, Q = train.shape[0], Y.shape[0]
    Z, mean, scale, *_ = standardize(xp, X, train)
    n_f = xp.sum(train, axis=1)
    # The formulas need the training rows to sum to zero. For rates far from
    # zero (around 1e8) the fold's mean, taken from the raw values, leaves sums
    # of ~1e-6 SD (decisions off by as much); re-centred, they vanish to
    # rounding. (Shifting training and test rows alike leaves LDA unchanged.)
    offset = xp.matmul(train[None, :, None, :], Z)[:, :, 0, :] / n_f[:, None]  # (B, F, p)
    Z = Z - offset[:, :, None, :]
    lam, V = _scatter_eigh(xp, Z, train, n_f)  # (B, F, p), (B, F, p, p)
    rows = xp.matmul(Z * train[None, :, :, None], V)  # (B, F, n, p), label-free
    Z_test_t = (X_test_t - mean[..., None]) / scale[..., None] - offset[..., None]  # (B, F, p, m)
    W = xp.matmul(xp.matrix_transpose(V), Z_test_t)  # Vᵀz, label-free (B, F, p, m)
    n1 = xp.matrix_transpose(xp.matmul(Y, xp.matrix_transpose(train)))  # (F, Q)
    n0 = n_f[:, None] - n1
    n10 = n1 * n0
    # Every fold's t of every label vector in one product whose long sides BLAS
    # runs well: Y (Q, n) @ (n, B·F·p).
    t = xp.matmul(Y, xp.reshape(xp.permute_dims(rows, (2, 0, 1, 3)), (n, B * F * p)))
    t = xp.permute_dims(xp.reshape(t, (Q, B, F, p)), (1, 2, 0, 3))  # (B, F, Q, p)
    # tr(S_w) = tr(S_T) − c‖Δμ‖², c‖Δμ‖² = ‖s₁‖²/(n₁n₀) (only when shrunk).
    alpha, inv = _shrunk_inverse(xp, lam, shrinkage,
                                 lambda: xp.sum(t * t, axis=-1) / n10[None, ...])
    u = t * inv  # A⁻¹s₁ in the eigenbasis (B, F, Q, p)
    quad = xp.sum(t * u, axis=-1)  # s₁ᵀA⁻¹s₁ (B, F, Q)
    # Held at ≥ 1e-10 as in fit_lda_standardised (units ≥ training trials − 1).
    denom = xp.maximum(1.0 - (1.0 - alpha)[:, :, None] * quad / n10[None, ...], 1e-10)
    gain = (n_f[:, None] / n10)[None, ...] / denom  # k/denom (B, F, Q)
    b = (-0.5 * gain * (n0 - n1)[None, ...] / n10[None, ...] * quad
         + xp.log(n1 / n0)[None, ...])
    return xp.matmul(u * gain[..., None], W) + b[..., None]


def _ledoit_wolf_class_cov(xp: Any, Z: Any, M: Any) -> tuple[Any, Any, Any]:
    """Ledoit–Wolf shrunk covariance of the rows ``M`` selects, for every (B, F, Q).

    As ``sklearn.discriminant_analysis._cov(X, "auto")``: the class's rows are
    z-scored with their own mean and SD (ddof 0; a feature constant in the
    class keeps scale 1), ``sklearn.covariance.ledoit_wolf`` shrinks that
    correlation-like matrix R towards μ·I (μ = tr R / p) with coefficient
    δ = min(β, d)/d, β = (Σᵢ‖uᵢ‖⁴/n − ‖R‖²_F)/(pn), d = ‖R − μI‖²_F/p, and
    the result is scaled back: (1−δ)C + δμ·diag(s²).

    Parameters
    ----------
    Z : (B, F, n, p)
    M : (F, Q, n)
        1.0 on the class's training rows.

    Returns
    -------
    cov (B, F, Q, p, p), mean (B, F, Q, p), δ (B, F, Q)
    """
    p = Z.shape[-1]
    n_k = xp.sum(M, axis=-1)[None, ..., None]  # (1, F, Q, 1)
    Mb = M[None, ...]
    first = xp.matmul(Mb, Z) / n_k  # class means (B, F, Q, p)
    # Exact centring for the scatter: the class rows minus their mean, per (F, Q).
    centred = Z[:, :, None, :, :] - first[:, :, :, None, :]  # (B, F, Q, n, p)
    centred = centred * M[None, :, :, :, None]
    C = xp.matmul(xp.matrix_transpose(centred), centred) / n_k[..., None]
    sd = xp.sqrt(xp.linalg.diagonal(C))
    tiny = 10 * _eps(xp, Z) * (1.0 + xp.max(xp.abs(first), axis=-1, keepdims=True))
    s = xp.where(sd > tiny, sd, xp.ones_like(sd))
    U = centred / s[:, :, :, None, :]
    R = C / (s[..., :, None] * s[..., None, :])
    mu = xp.sum(xp.linalg.diagonal(R), axis=-1) / p  # (B, F, Q)
    sq = xp.sum(U * U, axis=-1)  # ‖uᵢ‖², 0 off the class
    n1 = n_k[..., 0]
    beta_sum = xp.sum(sq * sq, axis=-1)
    frob = xp.sum(R * R, axis=(-2, -1))
    beta = (beta_sum / n1 - frob) / (p * n1)
    d = (frob - 2 * mu * xp.sum(xp.linalg.diagonal(R), axis=-1) + p * mu * mu) / p
    beta = xp.minimum(beta, d)
    delta = xp.where(beta > 0, beta / xp.where(d > 0, d, xp.ones_like(d)),
                     xp.zeros_like(beta))
    eye = xp.eye(p, dtype=Z.dtype)
    cov = ((1.0 - delta)[..., None, None] * C
           + (delta * mu)[..., None, None] * eye * (s * s)[..., None, :])
    return cov, first, delta


def _fit_lda_ledoit_wolf(xp: Any, X: Any, train: Any, Y: Any) -> tuple[Any, Any, Any]:
    """LDA with each class covariance shrunk by its Ledoit–Wolf coefficient.

    ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")`` after a
    ``StandardScaler``. The coefficient depends on the labels, so unlike the
    fixed-α kernel no eigenbasis is shared between label vectors: each
    (feature set, fold, label vector) gets its own p×p covariance, and the
    memory is that of B·F·Q·(n + p)·p numbers (the engine sizes its label
    chunks for it). The solve is the minimum-norm one, as scikit-learn's
    ``lstsq``.
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    p = X.shape[-1]
    YM = Y[None, :, :] * train[:, None, :]  # (F, Q, n)
    NM = (1.0 - Y)[None, :, :] * train[:, None, :]
    cov1, mu1, d1 = _ledoit_wolf_class_cov(xp, Z, YM)
    cov0, mu0, d0 = _ledoit_wolf_class_cov(xp, Z, NM)
    n1, n0 = xp.sum(YM, axis=-1), xp.sum(NM, axis=-1)  # (F, Q)
    pi1 = (n1 / (n1 + n0))[None, ..., None, None]
    S_w = pi1 * cov1 + (1.0 - pi1) * cov0
    S_w = 0.5 * (S_w + xp.matrix_transpose(S_w))
    lam, V = xp.linalg.eigh(S_w)
    inv = _pinv_scale(xp, lam, xp.max(lam, axis=-1, keepdims=True), p, 1.0)
    delta = mu1 - mu0
    w = xp.matmul(V, (xp.matmul(xp.matrix_transpose(V), delta[..., None])[..., 0]
                      * inv)[..., None])[..., 0]
    b = -0.5 * xp.sum(w * (mu1 + mu0), axis=-1) + xp.log(n1 / n0)[None, ...]
    coef, intercept = _to_raw(xp, w, b, mean, scale)
    return coef, intercept, 0.5 * (d1 + d0)


def fit_ridge(xp: Any, X: Any, train: Any, Y: Any, *, alpha: float = 1.0) -> tuple[Any, Any]:
    """Ridge regression on ±1 targets, as ``sklearn.linear_model.RidgeClassifier``.

    Matches ``make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha))``;
    ``alpha=0`` is ordinary least squares (minimum-norm where singular).

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
        Features of all trials (B feature sets).
    train : array (F, n)
        1.0 on each fold's training trials.
    Y : array (Q, n)
        0/1 label vectors (only training entries are read).
    alpha : float, default 1.0
        The L2 penalty (0: least squares).

    Returns
    -------
    coef : array (B, F, Q, p)
    intercept : array (B, F, Q)
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    s1, s0, n1, n0, n_f = _class_stats(xp, X, Z, mean, scale, train, Y)
    lam, V = _scatter_eigh(xp, Z, train, n_f)
    lam_g = lam * n_f[None, :, None]  # eigenvalues of ZᵀZ
    # Zᵀt with t = ±1 (the fit centres t; Z's training rows are centred already).
    rhs = s1 - s0
    d = lam_g[:, :, None, :] + alpha
    p = X.shape[-1]
    inv = (1.0 / d if alpha > 0 else
           _pinv_scale(xp, d, xp.max(lam_g, axis=-1)[:, :, None, None], p, 1.0))
    w = xp.matmul(xp.matmul(rhs, V) * inv, xp.matrix_transpose(V))
    b = ((n1 - n0) / n_f[:, None])[None, ...] + xp.zeros(w.shape[:-1], dtype=X.dtype)
    return _to_raw(xp, w, b, mean, scale)


def _logistic_objective(xp: Any, theta: Any, Zt: Any, train: Any, Y: Any, C: float) -> Any:
    eta = xp.matmul(theta, xp.matrix_transpose(Zt))  # (B, F, Q, n)
    loss = softplus(xp, eta) - Y * eta  # log(1 + e^η) − yη, without overflow
    data = C * xp.sum(loss * train[None, :, None, :], axis=-1)
    return data + 0.5 * xp.sum(theta[..., :-1] ** 2, axis=-1)


def fit_logistic(xp: Any, X: Any, train: Any, Y: Any, *, C: float = 1.0, max_iter: int = 100,
                 tol: float = 1e-10) -> tuple[Any, Any, Any]:
    """L2-penalised logistic regression by batched Newton steps with backtracking.

    Minimises C·Σ log-loss + ½‖w‖² (intercept not penalised) on standardised
    features, the objective of ``sklearn.linear_model.LogisticRegression(C=C)``
    after ``StandardScaler``.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
        Features of all trials (B feature sets).
    train : array (F, n)
        1.0 on each fold's training trials.
    Y : array (Q, n)
        0/1 label vectors (only training entries are read).
    C : float, default 1.0
        Inverse penalty, as scikit-learn's.
    max_iter : int, default 100
        Newton steps.
    tol : float, default 1e-10
        Stop when the largest entry of the last Newton step is below this.

    Returns
    -------
    coef (B, F, Q, p), intercept (B, F, Q), n_iter (int)
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    B, F, n, p = Z.shape
    Q = Y.shape[0]
    Zt = xp.concat([Z, xp.ones((B, F, n, 1), dtype=Z.dtype)], axis=-1)
    theta = xp.zeros((B, F, Q, p + 1), dtype=Z.dtype)
    penal = xp.concat([xp.ones(p, dtype=Z.dtype), xp.zeros(1, dtype=Z.dtype)])
    M = train[None, :, None, :]
    Yb = Y[None, None, :, :]
    obj = _logistic_objective(xp, theta, Zt, train, Yb, C)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - Newton iterations, not problems
        eta = xp.matmul(theta, xp.matrix_transpose(Zt))
        prob = sigmoid(xp, eta)
        grad = C * xp.matmul((prob - Yb) * M, Zt) + theta * penal
        weight = C * prob * (1.0 - prob) * M  # (B, F, Q, n)
        H = xp.matmul(xp.matrix_transpose(Zt)[:, :, None, :, :],
                      Zt[:, :, None, :, :] * weight[..., None])
        H = H + xp.eye(p + 1, dtype=Z.dtype) * penal
        step = xp.linalg.solve(H, grad[..., None])[..., 0]
        # Backtracking, vectorised over problems: halve where the objective rose.
        t = xp.ones(obj.shape, dtype=Z.dtype)
        for _ in range(30):
            trial = theta - t[..., None] * step
            new = _logistic_objective(xp, trial, Zt, train, Yb, C)
            worse = new > obj + 1e-12 * xp.abs(obj)
            if not bool(xp.any(worse)):
                break
            t = xp.where(worse, 0.5 * t, t)
        theta, obj = trial, new
        if float(xp.max(xp.abs(t[..., None] * step))) < tol:
            break
    return (*_to_raw(xp, theta[..., :-1], theta[..., -1], mean, scale), n_iter)
