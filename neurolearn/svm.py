"""Batched linear support-vector machines by a primal–dual interior-point method.

Solves, for many problems at once,

    min_{w, b, ξ}  ½‖w‖² + C Σᵢ ξᵢ   s.t.  yᵢ(w·xᵢ + b) ≥ 1 − ξᵢ,  ξᵢ ≥ 0,

the problem of ``sklearn.svm.SVC(kernel="linear", C=C)``, or with ``C=None``
the hard-margin problem (no ξ). An interior-point method suits the batch:
every problem takes the same few Newton steps (Mehrotra predictor–corrector),
each a (p+1)×(p+1) solve, so thousands of small problems (sessions × unit
subsamples × folds) run as one array program, where coordinate-descent or
SMO solvers need per-problem loops. Once a problem's iterate tells its
support vectors apart, a *crossover* solves for the exact optimum on them
(see :func:`_crossover`), so most problems end a few steps early with KKT
conditions met to ~1e-10, whatever ``tol``.

With ``C=None`` (the hard margin) the problems go to the dual solver of
:mod:`neurolearn.hard_margin`: a session is separable exactly when the hard
problem is feasible (the classes' convex hulls are apart), decided scale-free
and settled with a certificate either way, never by an iteration budget.

Problems of different sizes share a batch by zero padding: a padded trial is
the constraint 0 ≥ −1, always met and touching neither w nor b, so its
multiplier falls to 0 like that of any trial far from the boundary (the
unmeetable 0 ≥ 1 − ξ would instead drive its multiplier to C, which at
C = 10⁶ costs dozens of extra iterations); a padded unit is a zero feature,
whose weight the ½‖w‖² term pins to 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolearn._batch import RetiringBatch
from neurolearn.backend import to_numpy
from neurolearn.hard_margin import fit_from_support, fit_hard_margin, violation_floor

__all__ = ["fit_linear_svm", "fit_linear_svm_working_set"]

# Try the exact crossover (see _crossover) once some problem's scaled error
# is below this: earlier, the iterate rarely names the support vectors right
# and the attempt is wasted work; measured on study-shaped batches, problems
# then pass 3-5 Newton steps before they would reach tol.
_CROSSOVER_BELOW = 1e-3


def _constraints(xp: Any, X: Any, y: Any) -> tuple[Any, Any, Any, Any]:
    """Constraint rows aᵢ = yᵢ[xᵢ, 1] (N, n, p+1), their transpose, the right-hand
    sides (1 on trials, −1 — always met — on padding) and diag(P) = [1…1, 0]."""
    N, n, p = X.shape
    dtype = X.dtype
    A = xp.concat([X, xp.ones((N, n, 1), dtype=dtype)], axis=-1) * y[..., None]
    bound = 2 * xp.astype(y != 0, dtype) - 1
    Pdiag = xp.concat([xp.ones(p, dtype=dtype), xp.zeros(1, dtype=dtype)])
    return A, xp.matrix_transpose(A), bound, Pdiag


def _newton_direction(xp: Any, system: tuple[Any, ...], state: tuple[Any, ...], rs1: Any,
                      rs2: Any) -> tuple[Any, ...]:
    """Newton step of the KKT system, reduced to a (p+1)×(p+1) solve per problem.

    With complementarity right-hand sides rs1 (for λ·s) and rs2 (for μ·ξ),
    eliminating ξ, s, μ and λ leaves (P + AᵀD⁻¹A) Δz = −r_d + AᵀD⁻¹g.
    """
    A, At, K, D, r_d, r_p, r_c = system
    xi, s, lam, mu = state
    g = -r_p + (xi / mu) * r_c + rs2 / mu - rs1 / lam
    rhs = -r_d + xp.matmul(At, (g / D)[..., None])[..., 0]
    dz = xp.linalg.solve(K, rhs[..., None])[..., 0]
    dlam = (g - xp.matmul(A, dz[..., None])[..., 0]) / D
    ds = (-rs1 - s * dlam) / lam
    dxi = (xi / mu) * (dlam - r_c) - rs2 / mu
    dmu = (-rs2 - mu * dxi) / xi
    return dz, dxi, ds, dlam, dmu


def _step_to_boundary(xp: Any, state: tuple[Any, ...], direction: tuple[Any, ...]) -> Any:
    """Largest step α ≤ 1 keeping the positive variables (ξ, s, λ, μ) non-negative, per problem.

    Interior-point iterates are strictly positive, so v + α·dv ≥ 0 for all
    entries iff α·max(−dv/v) ≤ 1: one division per entry, no masking.
    """
    worst = xp.max(xp.stack([xp.max(-dv / v, axis=-1) for v, dv in zip(state, direction,
                                                                        strict=True)]), axis=0)
    return 1.0 / xp.clip(worst, 1.0, None)


def _crossover(xp: Any, A: Any, bound: Any, C: float, state: tuple[Any, ...], tol: float
               ) -> tuple[Any, Any, Any, Any]:
    """Exact solutions from the interior-point iterate's guess of the support vectors.

    An SVM's optimum is fixed by which trials are free support vectors
    (0 < αᵢ < C: yᵢ(w·xᵢ + b) = 1), bound ones (αᵢ = C) and the rest
    (αᵢ = 0). A few Newton steps from the end, the iterate already tells them
    apart (λᵢ ≫ sᵢ on the margin, ξᵢ ≫ μᵢ at the bound), and given that
    partition the optimum solves one small linear system in (α_F, b):
    Σⱼ (gᵢ·gⱼ) αⱼ + yᵢ b = 1 − C gᵢ·g_B for i ∈ F and Σ yᵢ αᵢ = −C Σ_B yᵢ,
    with gᵢ = yᵢxᵢ and g_B = Σ_B gₖ. The solution is accepted only where it
    satisfies every KKT condition (within ``tol``); elsewhere the Newton
    steps go on. Accepted problems stop several iterations early, exact to
    ~1e-10 (the regularisation's size) rather than to ``tol``.

    Returns
    -------
    z (N, p+1), xi (N, n), lam (N, n), ok (N,) bool
    """
    xi, s, lam, mu = state
    N, n, q = A.shape
    p = q - 1
    dtype = A.dtype
    trial = bound > 0  # padding never carries weight
    free = trial & (lam > s) & (mu >= xi)
    at_bound = trial & (xi > mu)
    m = min(q, n)  # a non-degenerate optimum has at most p + 1 free support vectors
    n_free = xp.sum(xp.astype(free, dtype), axis=-1)
    # Free trials first (stable order), m slots per problem.
    idx = xp.argsort(xp.astype(~free, xp.int8), axis=-1, stable=True)[:, :m]
    slot = xp.astype(xp.take_along_axis(free, idx, axis=-1), dtype)  # (N, m)
    G = A[..., :p]
    yv = A[..., p]
    G_F = xp.take_along_axis(G, xp.broadcast_to(idx[..., None], (N, m, p)), axis=1)
    G_F = G_F * slot[..., None]
    y_F = xp.take_along_axis(yv, idx, axis=-1) * slot
    B = xp.astype(at_bound, dtype)
    g_B = xp.matmul(B[:, None, :], G)[:, 0, :]  # (N, p)
    y_B = xp.sum(B * yv, axis=-1)
    Q = xp.matmul(G_F, xp.matrix_transpose(G_F))
    # A tiny ridge (and −ε in the corner) makes the system quasi-definite, so
    # it is never singular; empty slots get αⱼ = 0.
    eps = 1e-12 * (1.0 + xp.max(xp.linalg.diagonal(Q), axis=-1))[:, None]
    Q = Q + (xp.eye(m, dtype=dtype) * (eps * slot + (1.0 - slot))[:, None, :])
    top = xp.concat([Q, y_F[..., None]], axis=-1)
    corner = -eps[:, None, :]
    M = xp.concat([top, xp.concat([y_F[:, None, :], corner], axis=-1)], axis=1)
    rhs = xp.concat([(1.0 - C * xp.matmul(G_F, g_B[..., None])[..., 0]) * slot,
                     -C * y_B[:, None]], axis=-1)
    sol = xp.linalg.solve(M, rhs[..., None])[..., 0]
    alpha, b = sol[:, :m], sol[:, m]
    w = xp.matmul(xp.matrix_transpose(G_F), alpha[..., None])[..., 0] + C * g_B
    z = xp.concat([w, b[:, None]], axis=-1)
    margin = xp.matmul(A, z[..., None])[..., 0]
    scale = 1.0 + xp.max(xp.abs(alpha), axis=-1)
    rest = ~free & ~at_bound
    ok = ((n_free <= m)
          & xp.all((alpha >= -tol * scale[:, None]) & (alpha <= C + tol * scale[:, None]),
                   axis=-1)
          & xp.all(~rest | (margin >= bound - tol), axis=-1)
          & xp.all(~at_bound | (margin <= 1.0 + tol), axis=-1)
          & xp.all(xp.isfinite(sol), axis=-1))
    # α back on the trial axis: slot j of problem k sits at trial idx[k, j].
    onehot = xp.astype(idx[..., None] == xp.arange(n)[None, None, :], dtype)
    lam_x = xp.matmul((alpha * slot)[:, None, :], onehot)[:, 0, :] + C * B
    xi_x = xp.where(at_bound, 1.0 - margin, xp.zeros_like(margin))
    return z, xi_x, lam_x, ok


def fit_linear_svm(xp: Any, X: Any, y: Any, *, C: float | None = 1.0, max_iter: int = 80,
                   tol: float = 1e-9) -> dict[str, Any]:
    """Fit N linear SVMs at once.

    Parameters
    ----------
    X : array (N, n, p)
        Features (zero rows/columns pad smaller problems).
    y : array (N, n)
        Labels ±1 (0 on padded trials).
    C : float or None, default 1.0
        Penalty on margin violations; ``None`` for the hard margin, solved by
        :func:`neurolearn.hard_margin.fit_hard_margin` (separable means
        feasible; ``max_iter`` and ``tol`` then do not apply).
    max_iter : int, default 80
        Newton iterations (all problems step together).
    tol : float, default 1e-9
        Stop when a problem's scaled residuals and duality measure are below
        this (problems that pass the crossover end exact).

    Returns
    -------
    dict
        ``coef`` (N, p), ``intercept`` (N,), ``dual`` (N, n) — αᵢ ∈ [0, C],
        ``slack`` (N, n) — ξᵢ (≈ 0 on padded trials, which callers ignore),
        ``n_iter`` (int), ``converged`` (N,) bool. With ``C=None`` also
        ``separable`` (N,) bool and ``status`` (N,) int8 (1 separable, 0 not,
        −1 unconverged); ``converged`` then means the answer is settled
        either way, and ``coef``, ``intercept`` and ``slack`` are NaN where
        not separable.
    """
    if C is None:
        res = fit_hard_margin(xp, X, y)
        sep = res["separable"]
        res["slack"] = xp.where(sep[:, None], xp.zeros_like(res["dual"]),
                                xp.full_like(res["dual"], float("nan")))
        return res
    return _fit_soft(xp, X, y, C=float(C), max_iter=max_iter, tol=tol)


def _fit_soft(xp: Any, X: Any, y: Any, *, C: float, max_iter: int, tol: float
              ) -> dict[str, Any]:
    """Soft-margin interior-point solve; see :func:`fit_linear_svm`."""
    N, n, p = X.shape
    dtype = X.dtype
    q = p + 1
    A, At, bound, Pdiag = _constraints(xp, X, y)
    valid = xp.astype(y != 0, dtype)
    z = xp.zeros((N, q), dtype=dtype)
    s = xp.ones((N, n), dtype=dtype)
    lam = xp.full((N, n), min(1.0, C / 2), dtype=dtype)
    mu = C - lam
    # Balanced start: μ·ξ = λ·s, so neither complementarity pair dominates the gap.
    xi = lam * s / mu
    scale = 1.0 + C
    n_iter = 0
    batch = RetiringBatch(N)
    converged = xp.zeros(N, dtype=xp.bool)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - Newton iterations, not problems
        Az = xp.matmul(A, z[..., None])[..., 0]
        r_d = Pdiag * z - xp.matmul(At, lam[..., None])[..., 0]
        r_c = C - lam - mu
        r_p = Az + xi - s - bound
        gap = (xp.sum(lam * s, axis=-1) + xp.sum(mu * xi, axis=-1)) / (2 * n)
        # Duality gap relative to the primal objective; residuals relative to
        # the size of the terms they balance. (Padding's ξ is not a cost.)
        objective = 0.5 * xp.sum(z[:, :p] ** 2, axis=-1) + C * xp.sum(xi * valid, axis=-1)
        err = xp.max(xp.stack([
            xp.max(xp.abs(r_d), axis=-1) / (1.0 + xp.max(xp.abs(z), axis=-1)),
            xp.max(xp.abs(r_p), axis=-1),
            xp.max(xp.abs(r_c), axis=-1) / scale,
            2 * n * gap / (1.0 + objective)]), axis=0)
        converged = err < tol
        if bool(to_numpy(xp.any(err < _CROSSOVER_BELOW))):
            zx, xix, lamx, ok = _crossover(xp, A, bound, C, (xi, s, lam, mu), tol)
            ok = ok & ~converged
            z = xp.where(ok[:, None], zx, z)
            xi, lam = xp.where(ok[:, None], xix, xi), xp.where(ok[:, None], lamx, lam)
            converged = converged | ok
        finished = to_numpy(converged)
        if finished.any():
            keep = batch.retire(xp, finished, (z, xi, lam, converged))
            if not batch.ids.size:
                break
            A, At, z, xi, s, lam, mu, valid, bound, r_d, r_c, r_p, gap, converged = (
                xp.take(v, keep, axis=0) for v in (A, At, z, xi, s, lam, mu, valid, bound,
                                                   r_d, r_c, r_p, gap, converged))
        # Bounding D below (a standard dual regularisation) keeps K's condition
        # number below ~1e12 as active constraints' D → 0 near the optimum.
        D = xp.clip(xi / mu + s / lam, 1e-12, None)  # (N, n), positive
        # Positive definite: b's diagonal entry is Σ 1/Dᵢ > 0.
        K = xp.matmul(At / D[:, None, :], A) + xp.eye(q, dtype=dtype) * Pdiag

        # Predictor (affine scaling), then Mehrotra's centring-corrector.
        state = (xi, s, lam, mu)
        system = (A, At, K, D, r_d, r_p, r_c)
        dz, dxi, ds, dlam, dmu = _newton_direction(xp, system, state, lam * s, mu * xi)
        a_aff = _step_to_boundary(xp, state, (dxi, ds, dlam, dmu))[:, None]
        gap_aff = (xp.sum((lam + a_aff * dlam) * (s + a_aff * ds), axis=-1)
                   + xp.sum((mu + a_aff * dmu) * (xi + a_aff * dxi), axis=-1)) / (2 * n)
        sigma = ((gap_aff / xp.where(gap > 0, gap, xp.ones_like(gap))) ** 3)[:, None]
        target = sigma * gap[:, None]
        dz, dxi, ds, dlam, dmu = _newton_direction(xp, system, state,
                                                   lam * s + dlam * ds - target,
                                                   mu * xi + dmu * dxi - target)
        alpha = (0.99 * _step_to_boundary(xp, state, (dxi, ds, dlam, dmu)))[:, None]
        z = z + alpha * dz
        xi, s = xi + alpha * dxi, s + alpha * ds
        lam, mu = lam + alpha * dlam, mu + alpha * dmu
    z, xi, lam, converged = batch.collect(xp, (z, xi, lam, converged))
    return {"coef": z[:, :p], "intercept": z[:, p], "dual": lam, "slack": xi,
            "n_iter": n_iter, "converged": converged}


def _solve_sets(xp: Any, Xw: np.ndarray, yw: np.ndarray, *, C: float | None, max_iter: int,
                tol: float, guess: np.ndarray | None) -> dict[str, np.ndarray]:
    """One round of the working-set driver: :func:`fit_linear_svm` on the
    gathered sets, as host arrays. A hard margin with a ``guess`` at each
    set's support is first finished from it exactly
    (:func:`neurolearn.hard_margin.fit_from_support`); only the problems
    where that is not the optimum take interior-point steps."""
    keys = ("coef", "intercept", "converged", "slack") + (("separable", "dual") if C is None
                                                          else ())
    out: dict[str, np.ndarray] = {}
    if guess is not None:
        warm = fit_from_support(xp, xp.asarray(Xw), xp.asarray(yw), xp.asarray(guess))
        ok = warm["accepted"]
        out = {"coef": to_numpy(warm["coef"]), "intercept": to_numpy(warm["intercept"]),
               "dual": to_numpy(warm["dual"]), "converged": ok.copy(), "separable": ok.copy(),
               "slack": np.zeros(yw.shape)}
        todo = np.flatnonzero(~ok)
        if not todo.size:
            return out
    if not out:  # (no copy of the sets when all of them are solved)
        res = fit_linear_svm(xp, xp.asarray(Xw), xp.asarray(yw), C=C, max_iter=max_iter,
                             tol=tol)
        return {key: to_numpy(res[key]) for key in keys}
    res = fit_linear_svm(xp, xp.asarray(Xw[todo]), xp.asarray(yw[todo]), C=C,
                         max_iter=max_iter, tol=tol)
    for key in keys:
        out[key][todo] = to_numpy(res[key])
    return out


def fit_linear_svm_working_set(xp: Any, X: np.ndarray, y: np.ndarray, *,
                               C: float | None = 1.0,
                               initial_size: int | None = None, max_rounds: int = 30,
                               max_iter: int = 60, tol: float = 1e-9
                               ) -> dict[str, np.ndarray]:
    """Same problems and result as :func:`fit_linear_svm`, solved on working sets.

    Only trials on or inside the margin carry weight in an SVM, and with few
    units they are few. Each problem starts from the trials nearest the
    boundary of Fisher's discriminant; after each batched solve, the trials outside the
    working set that violate y(w·x + b) ≥ 1 are added, until none does. The
    final (w, b) then satisfies the KKT conditions of the full problem
    (trials left out have α = 0 and margin ≥ 1), so the answer is the same;
    each interior-point step touches far fewer trials.

    Parameters
    ----------
    X : ndarray (N, n, p), y : ndarray (N, n)
        Host arrays, zero-padded as for :func:`fit_linear_svm`.
    C : float or None, default 1.0
        As in :func:`fit_linear_svm` (``None``: hard margin). A problem whose
        working set is not separable is not separable.
    initial_size : int, optional
        Trials in the first working set (default 4(p+1) + 8, hard and soft).
    max_rounds : int, default 30
        Working-set enlargements.
    max_iter : int, default 60
        Interior-point iterations per round (most problems take 5–15;
        problems that do not converge are reported ``converged=False``).

    Returns
    -------
    dict of host arrays
        ``coef`` (N, p), ``intercept`` (N,), ``slack`` (N, n) over all trials,
        ``converged`` (N,), ``n_rounds`` (int); with ``C=None`` also
        ``separable`` (N,) and ``status`` (N,) int8 — 1 separable, 0 not
        separable (certified), −1 unconverged — and NaN ``coef``,
        ``intercept``, ``slack`` where not separable.
    """
    N, n, p = X.shape
    valid = y != 0
    # A hard margin has at most p + 1 support vectors in general position (a
    # soft one has every margin violator too), but the first set is generous:
    # with fewer units than trials a Newton step costs ~n·p², so a larger set
    # is cheap, while a missed support vector costs a whole new solve
    # (measured on 30 sessions of 200 trials × 15 units: 2(p+1)+4 trials took
    # 3 rounds, 4(p+1)+8 took 2 and half the time).
    k0 = min(n, initial_size or 4 * (p + 1) + 8)
    if k0 >= int(valid.sum(1).max()):
        # Every trial fits in the first working set (p ≥ n for a hard margin):
        # one solve of the full problems, no ranking to compute.
        res = fit_linear_svm(xp, xp.asarray(X), xp.asarray(y), C=C, max_iter=max_iter, tol=tol)
        out = {key: to_numpy(res[key]) for key in ("coef", "intercept", "slack", "converged")}
        out["n_rounds"] = 1
        if C is None:
            out["separable"], out["status"] = to_numpy(res["separable"]), to_numpy(res["status"])
        return out
    # Start from Fisher's direction (pooled within-class covariance, lightly
    # shrunk): it ranks trials by distance to the boundary much as the SVM
    # will, so the first working set usually holds every support vector.
    # Class sums and scatter come from batched matrix products.
    pos, neg = (y > 0).astype(float), (y < 0).astype(float)
    n1, n0 = np.maximum(pos.sum(1), 1)[:, None], np.maximum(neg.sum(1), 1)[:, None]
    mu1 = (pos[:, None, :] @ X)[:, 0] / n1
    mu0 = (neg[:, None, :] @ X)[:, 0] / n0
    Sw = (X.transpose(0, 2, 1) @ X - n1[..., None] * mu1[:, :, None] * mu1[:, None, :]
          - n0[..., None] * mu0[:, :, None] * mu0[:, None, :]) / (n1 + n0)[..., None]
    Sw += 1e-3 * np.eye(p) * np.trace(Sw, axis1=1, axis2=2)[:, None, None] / p + 1e-12 * np.eye(p)
    w0 = np.linalg.solve(Sw, (mu1 - mu0)[..., None])[..., 0]
    score = y * ((X @ w0[..., None])[..., 0] - 0.5 * np.sum(w0 * (mu1 + mu0), axis=1)[:, None])
    # The working sets as an (N, n) mask: the k0 lowest-scoring valid trials.
    first = np.argpartition(np.where(valid, score, np.inf), k0 - 1, axis=1)[:, :k0]
    working = np.zeros((N, n), bool)
    np.put_along_axis(working, first, True, axis=1)
    # Both classes from the start: each class's trial nearest the boundary.
    for cls in (pos, neg):
        nearest = np.argmin(np.where(cls > 0, score, np.inf), axis=1)
        working[np.arange(N), nearest] |= cls[np.arange(N), nearest] > 0
    working &= valid
    coef, intercept = np.zeros((N, p)), np.zeros(N)
    slack = np.zeros((N, n))
    converged = np.zeros(N, bool)
    separable = np.zeros(N, bool)
    support = np.zeros((N, n), bool)  # hard margin: each problem's last support
    active = np.arange(N)
    n_rounds = 0
    for n_rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds, not problems
        # Gather each active problem's working trials to the front (stable
        # sort keeps trial order), padded with y = 0 to the largest set.
        mask = working[active]
        size = int(mask.sum(1).max())
        rows = np.argsort(~mask, axis=1, kind="stable")[:, :size]
        inside = np.take_along_axis(mask, rows, axis=1)
        Xw = X[active[:, None], rows] * inside[..., None]
        yw = y[active[:, None], rows] * inside
        guess = None
        if C is None and n_rounds > 1:  # last support + the trials that joined
            guess = np.take_along_axis(support[active], rows, axis=1) & inside
        res = _solve_sets(xp, Xw, yw, C=C, max_iter=max_iter, tol=tol, guess=guess)
        w, b, ok, xi_w = res["coef"], res["intercept"], res["converged"], res["slack"]
        # Only a separable working set can grow (a hard margin's NaN w has no margins).
        sep = res["separable"] if C is None else np.ones(active.size, bool)
        if C is None:
            on_trials = np.zeros((active.size, n), bool)
            np.put_along_axis(on_trials, rows, (res["dual"] > 0) & inside, axis=1)
            support[active] = on_trials
        # (Indexing X by `active` copies it: skip that while all are active.)
        Xa, ya = (X, y) if active.size == N else (X[active], y[active])
        margins = ya * ((Xa @ w[..., None])[..., 0] + b[:, None])
        coef[active], intercept[active] = w, b
        # Slack: the solver's ξ on working trials, max(0, 1 − margin) elsewhere.
        full = np.where(valid[active], np.maximum(0.0, 1.0 - margins), 0.0)
        np.put_along_axis(full, rows, np.where(inside, xi_w, np.take_along_axis(full, rows, 1)),
                          axis=1)
        slack[active] = full
        # Trials outside the working set that violate the margin join it (the
        # k0 worst per problem); problems with none, or not converged, stop.
        violation = np.where(valid[active] & ~mask, 1.0 - margins, -np.inf)
        if C is None:  # the hard solver's own acceptance test, beyond the rounding of w·x
            reach = np.linalg.norm(w, axis=1) * np.sqrt(np.max(np.sum(Xa * Xa, axis=2), axis=1))
            limit = violation_floor(np.nan_to_num(reach))[:, None]
        else:
            limit = 1e-9
        bad = (violation > limit) & sep[:, None]
        has_bad = bad.any(1)
        converged[active] = ok & ~has_bad
        separable[active] = sep & ~has_bad
        grow = has_bad & ok
        # A soft margin adds every violator at once: on overlapping classes
        # every violator is a support vector, and k0 at a time would re-solve
        # ever larger sets for n/k0 rounds (the held-out margin's 4-unit SVMs:
        # 8.2-8.6 s against 10.2-11.3 s when doubling, measured on the
        # embedded study). A hard margin has few support vectors: add the
        # worst violators, as many as the set holds (at least k0).
        grow_by = n if C is not None else max(k0, int(mask.sum(1).max()))
        worst = np.argsort(-violation, axis=1)[:, :grow_by]
        join = np.take_along_axis(bad, worst, axis=1)
        sel = np.flatnonzero(grow)
        new = mask[sel]
        np.put_along_axis(new, worst[sel], join[sel] | np.take_along_axis(new, worst[sel], 1),
                          axis=1)
        support[active[sel]] |= new & ~mask[sel]  # the joiners
        working[active[sel]] = new
        active = active[sel]
        if active.size == 0:
            break
    out = {"coef": coef, "intercept": intercept, "slack": slack, "converged": converged,
           "n_rounds": n_rounds}
    if C is None:
        out["separable"] = separable & converged
        out["status"] = np.where(out["separable"], 1, np.where(converged, 0, -1)).astype(np.int8)
    return out
