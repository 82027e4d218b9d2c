"""Batched K-class linear classifiers (K ≥ 3) in the array API.

The shapes are those of :mod:`neurolearn.decoding._linear`, with one more
axis for the classes:

``X``      (B, n, p)      features of all n trials
``train``  (F, n)         1.0 where a trial is in fold f's training set
``Y``      (Q, n)         class indices 0..K−1 (only training entries are read)

Each kernel returns raw-feature-space weights ``coef`` (B, F, Q, K, p) and
``intercept`` (B, F, Q, K): the decision value of class k is
``X @ coef[..., k, :] + intercept[..., k]`` and the prediction is the class
of the largest one (the first on a tie, as ``numpy.argmax`` and
scikit-learn). Features are z-scored with each fold's training mean and
population SD first, as ``StandardScaler``.

Why one eigenbasis still serves every permutation: within a fold the total
scatter S_T of the standardised training rows does not depend on the
labels, and the pooled within-class covariance is
S_w = S_T − M Π Mᵀ, M the p×K class means and Π the class shares — a
rank-(K−1) change (Σ π_k μ_k = 0). By Woodbury,
S_w⁻¹M = A⁻¹M (Π⁻¹ − MᵀA⁻¹M)⁻¹ Π⁻¹ with A = S_T (shrinkage shifts A's
eigenvalues), so each label vector costs its class means and a K×K solve.
"""

from __future__ import annotations

from typing import Any

from neurolearn.decoding._linear import (
    _class_stats,
    _ledoit_wolf_class_cov,
    _pinv_scale,
    _scatter_eigh,
    _shrunk_inverse,
    _to_raw,
)
from neurolearn.zscore import standardize

__all__ = ["one_hot", "fit_lda_multiclass", "fit_lda_multiclass_standardised",
           "lda_multiclass_decisions",
           "fit_ridge_multiclass", "fit_logistic_multinomial"]

#: Smallest eigenvalue kept of the dimensionless capacitance I − Π½GΠ½ (see
#: :func:`fit_lda_multiclass_standardised`); the two-class kernel clips its
#: Sherman–Morrison denominator at the same value.
_PILING_FLOOR = 1e-10


def one_hot(xp: Any, Y: Any, n_classes: int) -> Any:
    """Class indicators of label vectors: (K, ...) of 0.0/1.0 from Y (...), e.g. (Q, n).

    Parameters
    ----------
    xp : array namespace
    Y : array
        Class indices 0..K−1 (any other value belongs to no class).
    n_classes : int
        K.

    Returns
    -------
    array (K, *Y.shape)
    """
    classes = xp.reshape(xp.arange(n_classes, dtype=Y.dtype), (n_classes,) + (1,) * Y.ndim)
    return xp.astype(xp.equal(Y[None, ...], classes), Y.dtype)


def _class_sums(xp: Any, X: Any, Z: Any, mean: Any, scale: Any, train: Any, Y: Any,
                n_classes: int) -> tuple[Any, Any, Any]:
    """Standardised class sums (B, F, Q, K, p), counts (F, Q, K) and fold sizes (F,).

    The first K−1 classes go through the two-class kernel's
    :func:`~neurolearn.decoding._linear._class_stats` (one product over all
    trials minus each fold's left-out rows) as one stack of indicator
    vectors; the last class is the fold's total minus the others.
    """
    B, p = X.shape[0], X.shape[-1]
    Q = Y.shape[0]
    K = n_classes
    H = xp.reshape(one_hot(xp, Y, K - 1), ((K - 1) * Q, -1))
    s, rest, n_sel, _, n_f = _class_stats(xp, X, Z, mean, scale, train, H)
    F = n_f.shape[0]
    total = s[:, :, :1, :] + rest[:, :, :1, :]  # (B, F, 1, p)
    s = xp.reshape(s, (B, F, K - 1, Q, p))
    last = total - xp.sum(s, axis=2)  # (B, F, Q, p)
    sums = xp.permute_dims(xp.concat([s, last[:, :, None, :, :]], axis=2), (0, 1, 3, 2, 4))
    n_sel = xp.reshape(n_sel, (F, K - 1, Q))
    counts = xp.concat([n_sel, (n_f[:, None] - xp.sum(n_sel, axis=1))[:, None, :]], axis=1)
    return sums, xp.permute_dims(counts, (0, 2, 1)), n_f


def fit_lda_multiclass(xp: Any, X: Any, train: Any, Y: Any, n_classes: int, *,
                       shrinkage: float | str | Any = 0.0) -> tuple[Any, Any, Any]:
    """K-class LDA with pooled covariance, optionally shrunk, on raw features.

    Matches ``make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
    solver="lsqr", shrinkage=shrinkage))``: coef_k = S_w⁺ μ_k and
    intercept_k = −½ μ_k·coef_k + log π_k, with S_w = Σ_k π_k C_k (biased
    class covariances) shrunk as (1−α)S_w + α·tr(S_w)/p·I, and priors from
    class frequencies. ``"auto"`` shrinks each class covariance by its own
    Ledoit–Wolf coefficient, as scikit-learn.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
        Class indices 0..K−1.
    n_classes : int
        K (every class must have training trials in every fold).
    shrinkage : float, "auto" or array (B, F), default 0

    Returns
    -------
    coef (B, F, Q, K, p), intercept (B, F, Q, K), and the shrinkage used:
    (B, F), or with ``"auto"`` the mean of the classes' Ledoit–Wolf
    coefficients (B, F, Q)
    """
    if isinstance(shrinkage, str):  # "auto"
        return _fit_lda_multiclass_ledoit_wolf(xp, X, train, Y, n_classes)
    w, b, alpha, mean, scale = fit_lda_multiclass_standardised(
        xp, X, train, Y, n_classes, shrinkage=shrinkage)
    coef, intercept = _to_raw(xp, w, b, mean, scale)
    return coef, intercept, alpha


def _lda_parts(xp: Any, X: Any, train: Any, Y: Any, n_classes: int,
               shrinkage: float | Any) -> dict[str, Any]:
    """The pieces of K-class LDA every route shares, in each fold's eigenbasis V of S_T.

    ``u`` = MᵀV (class means in the eigenbasis), ``ui`` = u·A⁻¹'s eigenvalues
    (so A⁻¹μ_k = V uiₖ), and ``G0`` = MᵀA⁻¹M = ui uᵀ (B, F, Q, K, K). The
    (Q·K, p) × (p, p) product is one matrix product per fold.
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    sums, counts, n_f = _class_sums(xp, X, Z, mean, scale, train, Y, n_classes)
    mu = sums / counts[None, ..., None]  # (B, F, Q, K, p)
    pi = counts / n_f[:, None, None]  # (F, Q, K)
    lam, V = _scatter_eigh(xp, Z, train, n_f)  # (B, F, p), (B, F, p, p)
    B, F, Q, K, p = mu.shape
    alpha, inv = _shrunk_inverse(  # between-class trace Σ_k π_k‖μ_k‖² when shrunk
        xp, lam, shrinkage, lambda: xp.sum(pi[None, ...] * xp.sum(mu * mu, axis=-1), axis=-1))
    u = xp.reshape(xp.matmul(xp.reshape(mu, (B, F, Q * K, p)), V), (B, F, Q, K, p))
    ui = u * inv[..., None, :]  # the same for every class
    return {"mu": mu, "pi": pi, "V": V, "alpha": alpha, "mean": mean, "scale": scale,
            "u": u, "ui": ui, "G0": xp.matmul(ui, xp.matrix_transpose(u))}


def _capacitance_inverse(xp: Any, G: Any, pi: Any) -> Any:
    """S = (I − GΠ)⁻¹ = Π^-½ (I − Π½GΠ½)⁻¹ Π½ for every (B, F, Q): G (…, K, K), pi (F, Q, K).

    The explicit K×K inverse where the symmetric I − Π½GΠ½ is comfortably
    positive definite (every Cholesky pivot² ≥ 1e-6: S_w non-singular along
    the class means) — for a handful of classes a batched inverse and
    product beat a batched solve of as many tiny systems (5 ms against 14 ms
    for 10,010 3×3 systems) — else through its eigenvalues held at ≥ 1e-10
    (see :func:`fit_lda_multiclass_standardised`).
    """
    root = xp.sqrt(pi)[None, ...]  # (1, F, Q, K)
    K = G.shape[-1]
    eye = xp.eye(K, dtype=G.dtype)
    cap = eye - root[..., :, None] * G * root[..., None, :]
    cap = 0.5 * (cap + xp.matrix_transpose(cap))
    try:
        L = xp.linalg.cholesky(cap)
    except ValueError:  # numpy's LinAlgError: not positive definite
        L = None
    if L is not None:
        pivots = xp.linalg.diagonal(L)
        if bool(xp.all(xp.isfinite(pivots))) and float(xp.min(pivots * pivots)) >= 1e-6:
            return xp.linalg.inv(eye - G * pi[None, :, :, None, :])
    c, E = xp.linalg.eigh(cap)
    c = xp.clip(c, _PILING_FLOOR, None)
    inner = xp.matrix_transpose(E) * root[..., None, :] / c[..., None]
    return xp.matmul(E, inner) / root[..., None]


def fit_lda_multiclass_standardised(xp: Any, X: Any, train: Any, Y: Any, n_classes: int, *,
                                    shrinkage: float | Any = 0.0
                                    ) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`fit_lda_multiclass` at a fixed shrinkage, in the standardised space.

    The decision of class k on a trial x is w_k·(x − mean)/scale + b_k.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
        Class indices 0..K−1.
    n_classes : int
    shrinkage : float or array (B, F), default 0

    Returns
    -------
    w (B, F, Q, K, p), b (B, F, Q, K), shrinkage used (B, F), and each fold's
    training mean and scale (B, F, p)

    Notes
    -----
    With A = (1−α)S_T + βI (β = α·tr(S_w)/p) and G = (1−α)MᵀA⁻¹M, the
    weights are W = A⁻¹M (Π⁻¹ − G)⁻¹ Π⁻¹. The K×K inverse is taken through
    the dimensionless I − Π½GΠ½, whose eigenvalues lie in [0, 1]: 0 exactly
    where S_w is singular along a class-mean direction (units ≥ training
    trials − K + 1), where rounding would decide the decoder. There its
    eigenvalues are held at ≥ 1e-10, the limit shrinkage → 0+ (maximal data
    piling), as the two-class kernel does with its denominator.
    """
    parts = _lda_parts(xp, X, train, Y, n_classes, shrinkage)
    Vb = parts["V"][:, :, None, :, :]
    ainv_mu = xp.matmul(parts["ui"], xp.matrix_transpose(Vb))  # rows A⁻¹μ_k
    c = (1.0 - parts["alpha"])[:, :, None, None, None]
    w = xp.matmul(_capacitance_inverse(xp, c * parts["G0"], parts["pi"]), ainv_mu)
    b = -0.5 * xp.sum(w * parts["mu"], axis=-1) + xp.log(parts["pi"])[None, ...]
    return w, b, parts["alpha"], parts["mean"], parts["scale"]


def lda_multiclass_decisions(xp: Any, X: Any, train: Any, Y: Any, n_classes: int,
                             X_test_t: Any, *, shrinkage: float | Any = 0.0) -> Any:
    """K-class LDA decision values on each fold's test rows, without forming weights.

    The same decoder as :func:`fit_lda_multiclass_standardised`, scored as
    D = S·(MᵀA⁻¹z) + b with S = Π^-½(I − Π½GΠ½)⁻¹Π½ and
    b_k = −½(S MᵀA⁻¹M)_kk + log π_k: every label vector costs its class means
    in the fold's eigenbasis and a K×K solve, and no (K, p) weights.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
        Class indices 0..K−1.
    n_classes : int
    X_test_t : array (B, F, p, m)
        Each fold's test rows (raw features), transposed.
    shrinkage : float or array (B, F), default 0

    Returns
    -------
    array (B, F, Q, K, m)
    """
    parts = _lda_parts(xp, X, train, Y, n_classes, shrinkage)
    Z_test_t = (X_test_t - parts["mean"][..., None]) / parts["scale"][..., None]
    Zv = xp.matmul(xp.matrix_transpose(parts["V"]), Z_test_t)  # (B, F, p, m)
    G1 = xp.matmul(parts["ui"], Zv[:, :, None, :, :])  # (B, F, Q, K, m): μ_kᵀA⁻¹z
    c = (1.0 - parts["alpha"])[:, :, None, None, None]
    S = _capacitance_inverse(xp, c * parts["G0"], parts["pi"])
    # b_k = −½ Σ_l S_kl (MᵀA⁻¹M)_lk + log π_k
    b = -0.5 * xp.sum(S * xp.matrix_transpose(parts["G0"]), axis=-1) + xp.log(parts["pi"])
    return xp.matmul(S, G1) + b[..., None]


def _fit_lda_multiclass_ledoit_wolf(xp: Any, X: Any, train: Any, Y: Any, n_classes: int
                                    ) -> tuple[Any, Any, Any]:
    """K-class LDA with each class covariance shrunk by its Ledoit–Wolf coefficient.

    As the two-class ``_fit_lda_ledoit_wolf``: a p×p covariance per (feature
    set, fold, label vector), the minimum-norm solve of scikit-learn's
    ``lstsq``.
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    p = X.shape[-1]
    masks = one_hot(xp, Y, n_classes)[:, None, :, :] * train[None, :, None, :]  # (K, F, Q, n)
    n_f = xp.sum(train, axis=1)[:, None]
    S_w, means, deltas, priors = 0.0, [], [], []
    for k in range(n_classes):  # the K classes; permutations stay batched inside
        cov, mu, delta = _ledoit_wolf_class_cov(xp, Z, masks[k])
        prior = xp.sum(masks[k], axis=-1) / n_f  # (F, Q)
        S_w = S_w + prior[None, ..., None, None] * cov
        means.append(mu)
        deltas.append(delta)
        priors.append(prior)
    S_w = 0.5 * (S_w + xp.matrix_transpose(S_w))
    lam, V = xp.linalg.eigh(S_w)
    inv = _pinv_scale(xp, lam, xp.max(lam, axis=-1, keepdims=True), p, 1.0)[:, :, :, None, :]
    mu = xp.stack(means, axis=3)  # (B, F, Q, K, p)
    Vb = V[:, :, :, None, :, :]
    w = xp.matmul(Vb, (xp.matmul(xp.matrix_transpose(Vb), mu[..., None])[..., 0]
                       * inv)[..., None])[..., 0]
    b = -0.5 * xp.sum(w * mu, axis=-1) + xp.log(xp.stack(priors, axis=-1))[None, ...]
    coef, intercept = _to_raw(xp, w, b, mean, scale)
    return coef, intercept, sum(deltas) / n_classes


def fit_ridge_multiclass(xp: Any, X: Any, train: Any, Y: Any, n_classes: int, *,
                         alpha: float = 1.0) -> tuple[Any, Any]:
    """One-vs-rest ridge regression on ±1 targets, as ``RidgeClassifier``.

    Matches ``make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha))``
    with K ≥ 3 classes: one ridge fit per class of the target +1 in the class
    and −1 outside it, all through the fold's one eigenbasis of ZᵀZ;
    ``alpha=0`` is least squares (minimum-norm where singular).

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
        Class indices 0..K−1.
    n_classes : int
    alpha : float, default 1.0

    Returns
    -------
    coef (B, F, Q, K, p), intercept (B, F, Q, K)
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    sums, counts, n_f = _class_sums(xp, X, Z, mean, scale, train, Y, n_classes)
    lam, V = _scatter_eigh(xp, Z, train, n_f)
    lam_g = lam * n_f[None, :, None]  # eigenvalues of ZᵀZ
    rhs = 2.0 * sums - xp.sum(sums, axis=-2, keepdims=True)  # Zᵀt_k, t = ±1
    d = lam_g[:, :, None, None, :] + alpha
    p = X.shape[-1]
    inv = (1.0 / d if alpha > 0 else
           _pinv_scale(xp, d, xp.max(lam_g, axis=-1)[:, :, None, None, None], p, 1.0))
    Vb = V[:, :, None, :, :]
    w = xp.matmul(xp.matmul(rhs, Vb) * inv, xp.matrix_transpose(Vb))
    b = ((2.0 * counts - n_f[:, None, None]) / n_f[:, None, None])[None, ...]
    return _to_raw(xp, w, b + xp.zeros(w.shape[:-1], dtype=X.dtype), mean, scale)


def _log_softmax_parts(xp: Any, eta: Any) -> tuple[Any, Any]:
    """log Σ_k exp(η_k) over axis −2 (the classes) and the softmax, without overflow."""
    top = xp.max(eta, axis=-2, keepdims=True)
    e = xp.exp(eta - top)
    total = xp.sum(e, axis=-2, keepdims=True)
    return top + xp.log(total), e / total


def _multinomial_objective(xp: Any, theta: Any, Zt: Any, M: Any, Yh: Any, C: float) -> Any:
    eta = xp.matmul(theta, xp.matrix_transpose(Zt)[:, :, None, :, :])  # (B, F, Q, K, n)
    lse, _ = _log_softmax_parts(xp, eta)
    loss = lse[..., 0, :] - xp.sum(Yh * eta, axis=-2)  # (B, F, Q, n)
    data = C * xp.sum(loss * M, axis=-1)
    return data + 0.5 * xp.sum(theta[..., :-1] ** 2, axis=(-2, -1))


def fit_logistic_multinomial(xp: Any, X: Any, train: Any, Y: Any, n_classes: int, *,
                             C: float = 1.0, max_iter: int = 100, tol: float = 1e-10
                             ) -> tuple[Any, Any, int]:
    """Multinomial L2 logistic regression by batched Newton steps with backtracking.

    Minimises C·Σᵢ −log softmax(W zᵢ + b)_{yᵢ} + ½‖W‖²_F (intercepts not
    penalised) on standardised features: the objective of
    ``LogisticRegression(C=C)`` (lbfgs, multinomial for K ≥ 3) after
    ``StandardScaler``. Shifting every intercept by one constant changes
    nothing, so the Newton system carries a 1e-8 ridge on the intercepts
    and each step is projected onto Σ_k b_k = 0.

    Parameters
    ----------
    xp : array namespace
    X : array (B, n, p)
    train : array (F, n)
    Y : array (Q, n)
        Class indices 0..K−1.
    n_classes : int
    C : float, default 1.0
    max_iter : int, default 100
    tol : float, default 1e-10
        Stop when the largest entry of the last Newton step is below this.

    Returns
    -------
    coef (B, F, Q, K, p), intercept (B, F, Q, K), n_iter (int)
    """
    Z, mean, scale, *_ = standardize(xp, X, train)
    B, F, n, p = Z.shape
    Q, K = Y.shape[0], n_classes
    P1 = p + 1
    Zt = xp.concat([Z, xp.ones((B, F, n, 1), dtype=Z.dtype)], axis=-1)  # (B, F, n, p+1)
    Yh = xp.permute_dims(one_hot(xp, Y, K), (1, 0, 2))[None, None, ...]  # (1, 1, Q, K, n)
    M = train[None, :, None, :]  # (1, F, 1, n)
    theta = xp.zeros((B, F, Q, K, P1), dtype=Z.dtype)
    penal = xp.concat([xp.ones(p, dtype=Z.dtype), xp.full((1,), 1e-8, dtype=Z.dtype)])
    ridge = xp.eye(K * P1, dtype=Z.dtype) * xp.concat([penal] * K)  # diagonal
    weights_penal = xp.concat([xp.ones(p, dtype=Z.dtype), xp.zeros(1, dtype=Z.dtype)])
    Zb = Zt[:, :, None, None, None, :, :]  # (B, F, 1, 1, 1, n, p+1)
    eye_k = xp.eye(K, dtype=Z.dtype)[:, :, None]
    obj = _multinomial_objective(xp, theta, Zt, M, Yh, C)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - Newton iterations, not problems
        eta = xp.matmul(theta, xp.matrix_transpose(Zt)[:, :, None, :, :])
        _, prob = _log_softmax_parts(xp, eta)  # (B, F, Q, K, n)
        grad = (C * xp.matmul((prob - Yh) * M[:, :, :, None, :], Zt[:, :, None, :, :])
                + theta * weights_penal)
        # Hessian blocks H_kl = C Σᵢ (p_ik δ_kl − p_ik p_il) zᵢ zᵢᵀ over training trials.
        cw = C * (prob[..., :, None, :] * eye_k - prob[..., :, None, :] * prob[..., None, :, :])
        cw = cw * M[:, :, :, None, None, :]  # (B, F, Q, K, K, n)
        H = xp.matmul(xp.matrix_transpose(Zb), Zb * cw[..., None])  # (B, F, Q, K, K, P1, P1)
        H = xp.reshape(xp.permute_dims(H, (0, 1, 2, 3, 5, 4, 6)), (B, F, Q, K * P1, K * P1))
        step = xp.linalg.solve(H + ridge, xp.reshape(grad, (B, F, Q, K * P1, 1)))
        step = xp.reshape(step, (B, F, Q, K, P1))
        # Remove the step's share along the loss-free shift of all intercepts,
        # which rounding would otherwise walk along: Σ_k b_k stays 0.
        shift = xp.mean(step[..., -1:], axis=-2, keepdims=True)
        step = step - xp.concat([xp.zeros_like(step[..., :-1]), xp.broadcast_to(
            shift, step[..., -1:].shape)], axis=-1)
        t = xp.ones(obj.shape, dtype=Z.dtype)
        for _ in range(30):  # backtracking, vectorised over problems
            trial = theta - t[..., None, None] * step
            new = _multinomial_objective(xp, trial, Zt, M, Yh, C)
            worse = new > obj + 1e-12 * xp.abs(obj)
            if not bool(xp.any(worse)):
                break
            t = xp.where(worse, 0.5 * t, t)
        theta, obj = trial, new
        if float(xp.max(xp.abs(t[..., None, None] * step))) < tol:
            break
    return (*_to_raw(xp, theta[..., :-1], theta[..., -1], mean, scale), n_iter)
