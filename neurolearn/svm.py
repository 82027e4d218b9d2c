"""Batched linear support-vector machines by a primal–dual interior-point method.

Solves, for many problems at once,

    min_{w, b, ξ}  ½‖w‖² + C Σᵢ ξᵢ   s.t.  yᵢ(w·xᵢ + b) ≥ 1 − ξᵢ,  ξᵢ ≥ 0,

the problem of ``sklearn.svm.SVC(kernel="linear", C=C)``. An interior-point
method suits the batch: every problem takes the same few dozen Newton steps
(Mehrotra predictor–corrector), each a (p+1)×(p+1) solve, so thousands of
small problems (sessions × unit subsamples × folds) run as one array program
and converge to ~1e-9 relative accuracy, where coordinate-descent or SMO
solvers need per-problem loops. A hard margin is the limit C → ∞;
``C=HARD_MARGIN_C`` (1e6, as in the design) reproduces it on separable data.

Problems of different sizes share a batch by zero padding: a padded trial is
the constraint 0 ≥ 1 − ξ, which touches neither w nor b, and a padded unit is
a zero feature, whose weight the ½‖w‖² term pins to 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolearn.backend import to_numpy

__all__ = ["fit_linear_svm", "HARD_MARGIN_C"]

HARD_MARGIN_C = 1e6


def _host_indices(xp: Any, mask: np.ndarray) -> Any:
    """Integer indices (in namespace ``xp``) of the True entries of a host mask."""
    return xp.asarray(np.flatnonzero(mask))


def _max_step(xp: Any, v: Any, dv: Any) -> Any:
    """Largest α ≤ 1 keeping v + α·dv ≥ 0, per problem (last axis reduced)."""
    # Only strictly decreasing entries bound the step; others get ratio 2 (> 1).
    neg = dv < -1e-300
    ratio = xp.where(neg, -v / xp.where(neg, dv, -xp.ones_like(dv)), xp.full_like(v, 2.0))
    return xp.clip(xp.min(ratio, axis=-1), None, 1.0)


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
    """Largest step ≤ 1 keeping ξ, s, λ and μ non-negative, per problem."""
    return xp.min(xp.stack([_max_step(xp, v, dv) for v, dv in zip(state, direction,
                                                                  strict=True)]), axis=0)


def fit_linear_svm(xp: Any, X: Any, y: Any, *, C: float = 1.0, max_iter: int = 80,
                   tol: float = 1e-10) -> dict[str, Any]:
    """Fit N linear SVMs at once.

    Parameters
    ----------
    X : array (N, n, p)
        Features (zero rows/columns pad smaller problems).
    y : array (N, n)
        Labels ±1 (0 on padded trials).
    C : float, default 1.0
        Penalty on margin violations.
    max_iter : int, default 80
        Newton iterations (all problems step together).
    tol : float, default 1e-10
        Stop when every problem's scaled residuals and duality measure are
        below this.

    Returns
    -------
    dict
        ``coef`` (N, p), ``intercept`` (N,), ``dual`` (N, n) — αᵢ ∈ [0, C],
        ``slack`` (N, n) — ξᵢ (1 on padded trials, which callers ignore),
        ``n_iter`` (int), ``converged`` (N,) bool.
    """
    N, n, p = X.shape
    dtype = X.dtype
    A = xp.concat([X, xp.ones((N, n, 1), dtype=dtype)], axis=-1) * y[..., None]
    valid = xp.astype(y != 0, dtype)
    q = p + 1
    Pdiag = xp.concat([xp.ones(p, dtype=dtype), xp.zeros(1, dtype=dtype)])
    At = xp.matrix_transpose(A)
    z = xp.zeros((N, q), dtype=dtype)
    xi = xp.ones((N, n), dtype=dtype)
    s = xp.ones((N, n), dtype=dtype)
    lam = xp.full((N, n), min(1.0, C / 2), dtype=dtype)
    mu = C - lam
    scale = 1.0 + C
    n_iter = 0
    # Converged problems leave the batch, so late iterations cost only what
    # the slow problems need; `ids` maps the active rows to the input order.
    ids = np.arange(N)
    done: list[tuple[np.ndarray, Any, Any, Any, Any]] = []
    converged = xp.zeros(N, dtype=xp.bool)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - Newton iterations, not problems
        Az = xp.matmul(A, z[..., None])[..., 0]
        r_d = Pdiag * z - xp.matmul(At, lam[..., None])[..., 0]
        r_c = C - lam - mu
        r_p = Az + xi - s - 1.0
        gap = (xp.sum(lam * s, axis=-1) + xp.sum(mu * xi, axis=-1)) / (2 * n)
        # Duality gap relative to the primal objective; residuals relative to
        # the size of the terms they balance.
        # Padded trials (y = 0) sit at ξ = 1 and must not inflate the objective.
        objective = 0.5 * xp.sum(z[:, :p] ** 2, axis=-1) + C * xp.sum(xi * valid, axis=-1)
        err = xp.max(xp.stack([
            xp.max(xp.abs(r_d), axis=-1) / (1.0 + xp.max(xp.abs(z), axis=-1)),
            xp.max(xp.abs(r_p), axis=-1),
            xp.max(xp.abs(r_c), axis=-1) / scale,
            2 * n * gap / (1.0 + objective)]), axis=0)
        converged = err < tol
        finished = to_numpy(converged)
        if finished.any():
            out = _host_indices(xp, finished)
            done.append((ids[finished], *(xp.take(v, out, axis=0) for v in (z, xi, lam,
                                                                            converged))))
            if finished.all():
                break
            keep = _host_indices(xp, ~finished)
            ids = ids[~finished]
            A, At, z, xi, s, lam, mu, valid = (xp.take(v, keep, axis=0)
                                               for v in (A, At, z, xi, s, lam, mu, valid))
            r_d, r_c, r_p, gap = (xp.take(v, keep, axis=0) for v in (r_d, r_c, r_p, gap))
            converged = xp.take(converged, keep, axis=0)
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
    else:
        done.append((ids, z, xi, lam, converged))
    order = np.concatenate([block[0] for block in done])
    inverse = xp.asarray(np.argsort(order))
    z, xi, lam, converged = (xp.take(xp.concat([block[k] for block in done], axis=0), inverse,
                                     axis=0) for k in (1, 2, 3, 4))
    return {"coef": z[:, :p], "intercept": z[:, p], "dual": lam, "slack": xi,
            "n_iter": n_iter, "converged": converged}


def fit_linear_svm_working_set(xp: Any, X: np.ndarray, y: np.ndarray, *, C: float = 1.0,
                               initial_size: int | None = None, max_rounds: int = 30,
                               max_iter: int = 60, tol: float = 1e-10
                               ) -> dict[str, np.ndarray]:
    """Same problems and result as :func:`fit_linear_svm`, solved on working sets.

    Only trials on or inside the margin carry weight in an SVM, and with few
    units they are few. Each problem starts from the trials nearest the
    class-mean boundary; after each batched solve, the trials outside the
    working set that violate y(w·x + b) ≥ 1 are added, until none does. The
    final (w, b) then satisfies the KKT conditions of the full problem
    (trials left out have α = 0 and margin ≥ 1), so the answer is the same;
    each interior-point step touches far fewer trials.

    Parameters
    ----------
    X : ndarray (N, n, p), y : ndarray (N, n)
        Host arrays, zero-padded as for :func:`fit_linear_svm`.
    initial_size : int, optional
        Trials in the first working set (default 4(p+1) + 8).
    max_rounds : int, default 30
        Working-set enlargements.
    max_iter : int, default 60
        Interior-point iterations per round (separable problems converge in
        ~25; problems that do not converge are reported ``converged=False``).

    Returns
    -------
    dict of host arrays
        ``coef`` (N, p), ``intercept`` (N,), ``slack`` (N, n) over all trials,
        ``converged`` (N,), ``n_rounds`` (int).
    """
    N, n, p = X.shape
    valid = y != 0
    k0 = min(n, initial_size or 4 * (p + 1) + 8)
    # Start from the class-mean direction: trials with the smallest margin under it.
    pos, neg = (y > 0)[..., None], (y < 0)[..., None]
    mu1 = (X * pos).sum(1) / np.maximum(pos.sum(1), 1)
    mu0 = (X * neg).sum(1) / np.maximum(neg.sum(1), 1)
    w0 = mu1 - mu0
    score = y * (np.einsum("knp,kp->kn", X, w0) - 0.5 * np.sum(w0 * (mu1 + mu0), axis=1)[:, None])
    score[~valid] = np.inf
    order = np.argsort(score, axis=1)
    working = [list(order[i, :min(k0, int(valid[i].sum()))]) for i in range(N)]
    coef, intercept = np.zeros((N, p)), np.zeros(N)
    slack = np.zeros((N, n))
    converged = np.zeros(N, bool)
    active = np.arange(N)
    n_rounds = 0
    for n_rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds, not problems
        size = max(len(working[i]) for i in active)
        Xw = np.zeros((active.size, size, p))
        yw = np.zeros((active.size, size))
        for j, i in enumerate(active):
            rows = np.asarray(working[i], dtype=int)
            Xw[j, :rows.size], yw[j, :rows.size] = X[i, rows], y[i, rows]
        res = fit_linear_svm(xp, xp.asarray(Xw), xp.asarray(yw), C=C, max_iter=max_iter, tol=tol)
        w, b = to_numpy(res["coef"]), to_numpy(res["intercept"])
        ok, xi_w = to_numpy(res["converged"]), to_numpy(res["slack"])
        margins = y[active] * (np.einsum("knp,kp->kn", X[active], w) + b[:, None])
        still = []
        for j, i in enumerate(active):
            rows = np.asarray(working[i], dtype=int)
            outside = valid[i].copy()
            outside[rows] = False
            violation = np.where(outside, 1.0 - margins[j], -np.inf)
            bad = np.flatnonzero(violation > 1e-9)
            coef[i], intercept[i] = w[j], b[j]
            slack[i] = np.where(valid[i], np.maximum(0.0, 1.0 - margins[j]), 0.0)
            slack[i, rows] = xi_w[j, :rows.size]
            if bad.size == 0 or not ok[j]:
                converged[i] = bool(ok[j]) and bad.size == 0
                continue
            worst = bad[np.argsort(-violation[bad])][:k0]
            working[i].extend(worst.tolist())
            still.append(i)
        active = np.asarray(still, dtype=int)
        if active.size == 0:
            break
    return {"coef": coef, "intercept": intercept, "slack": slack, "converged": converged,
            "n_rounds": n_rounds}
