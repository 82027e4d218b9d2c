"""The soft-margin linear SVM of many problems at once, by a primal–dual interior-point method.

Solves, for many problems at once,

    min_{w, b, ξ}  ½‖w‖² + C Σᵢ ξᵢ   s.t.  yᵢ(w·xᵢ + b) ≥ 1 − ξᵢ,  ξᵢ ≥ 0,

the problem of ``sklearn.svm.SVC(kernel="linear", C=C)``. An interior-point
method suits the batch: every problem takes the same few Newton steps
(Mehrotra predictor–corrector), each a (p+1)×(p+1) solve, so thousands of
small problems (sessions × unit subsamples × folds) run as one array
program, where coordinate-descent or SMO solvers need per-problem loops.
Once a problem's iterate tells its support vectors apart, a *crossover*
solves for the exact optimum on them (see :func:`_crossover`), so most
problems end a few steps early with KKT conditions met to ~1e-10, whatever
``tol``.

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
from array_api_compat import is_numpy_namespace

from neurolearn.backend import to_numpy
from neurolearn.svm.retiring import RetiringBatch

__all__ = ["fit_soft_margin"]

# Try the exact crossover (see _crossover) once some problem's scaled error
# is below this: earlier, the iterate rarely names the support vectors right
# and the attempt is wasted work; measured on study-shaped batches, problems
# then pass 3-5 Newton steps before they would reach tol.
_CROSSOVER_BELOW = 1e-3

# Active-set passes of one crossover, and its free slots beyond the p + 1
# unknowns of (w, b) (see _crossover and _free_slots). Measured on the
# held-out margin's 8,029 whole 4-unit problems (median of 8 interleaved
# runs): 1, 2, 3 and 4 passes 1.45, 1.41, 1.40 and 1.42 s with 10 extra
# slots; one pass and no extra slot (the plain crossover) 1.56 s. Extra
# slots, 0, 2, 4, 6 and 10 (median of 6, three passes): 1.52, 1.33, 1.30,
# 1.29 and 1.29 s there, and 0.358, 0.349, 0.351, 0.366 and 0.369 s on
# 3,000 soft margins of 8-unit subsets (bench_margins.py's sessions),
# where larger slots cost more than they save.
_CROSSOVER_PASSES = 3
_EXTRA_FREE_SLOTS = 4

# Problems × trials per block of a CPU solve (see fit_soft_margin).
_BLOCK_ENTRIES = 2**17


def _constraints(xp: Any, X: Any, y: Any) -> tuple[Any, Any, Any, Any]:
    """Constraint rows aᵢ = yᵢ[xᵢ, 1] (N, n, p+1), their transpose, the right-hand
    sides (1 on trials, −1 — always met — on padding) and diag(P) = [1…1, 0]."""
    N, n, p = X.shape
    dtype = X.dtype
    A = xp.concat([X, xp.ones((N, n, 1), dtype=dtype)], axis=-1) * y[..., None]
    bound = 2 * xp.astype(y != 0, dtype) - 1
    Pdiag = xp.concat([xp.ones(p, dtype=dtype), xp.zeros(1, dtype=dtype)])
    return A, xp.matrix_transpose(A), bound, Pdiag


def _reduced_solve(xp: Any, A: Any, At: Any, K: Any, inv_D: Any, r_d: Any, g: Any
                   ) -> tuple[Any, Any]:
    """(Δz, Δλ) of a Newton step from its reduced right-hand side g (N, n).

    Eliminating ξ, s, μ and λ from the KKT system leaves
    (P + AᵀD⁻¹A) Δz = −r_d + AᵀD⁻¹g, a (p+1)×(p+1) solve per problem, and
    Δλ = D⁻¹(g − AΔz).
    """
    rhs = xp.matmul(At, (g * inv_D)[..., None])[..., 0] - r_d
    dz = xp.linalg.solve(K, rhs[..., None])[..., 0]
    return dz, (g - xp.matmul(A, dz[..., None])[..., 0]) * inv_D


def _step_to_boundary(xp: Any, inverses: tuple[Any, ...], direction: tuple[Any, ...]) -> Any:
    """Largest step α ≤ 1 keeping the positive variables (ξ, s, λ, μ) non-negative, per problem.

    Interior-point iterates are strictly positive, so v + α·dv ≥ 0 for all
    entries iff α·max(−dv/v) ≤ 1, i.e. α·(−min(dv·v⁻¹)) ≤ 1 with the
    iteration's reciprocals ``inverses``: two passes per variable, no masking.
    """
    least = xp.min(xp.stack([xp.min(dv * inv, axis=-1) for inv, dv in zip(inverses, direction,
                                                                           strict=True)]), axis=0)
    return 1.0 / xp.maximum(-least, 1.0)  # (clip costs ten times as much)


def _crossover(xp: Any, A: Any, bound: Any, C: float, state: tuple[Any, ...], tol: float
               ) -> list[tuple[np.ndarray, Any, Any, Any]]:
    """Exact solutions from the interior-point iterate's guess of the support vectors.

    An SVM's optimum is fixed by which trials are free support vectors
    (0 < αᵢ < C: yᵢ(w·xᵢ + b) = 1), bound ones (αᵢ = C) and the rest
    (αᵢ = 0). A few Newton steps from the end, the iterate already tells them
    apart (λᵢ ≫ sᵢ on the margin, ξᵢ ≫ μᵢ at the bound), and given that
    partition the optimum solves one small linear system
    (:func:`_partition_optimum`). Where its solution breaks a KKT condition,
    the partition is corrected as an active-set method does (free trials
    whose α left [0, C] go to the bound they crossed, the worst violator of
    the margin becomes free; see :func:`_next_partition`) and solved again,
    up to ``_CROSSOVER_PASSES`` times: a guess from a few steps before the
    end is usually a few trials off, and a pass costs about a sixth of a
    Newton step. Solutions are accepted only where they satisfy every KKT
    condition (within ``tol``); elsewhere the Newton steps go on. Accepted
    problems stop several iterations early, exact to ~1e-10 (the
    regularisation's size) rather than to ``tol``.

    Parameters
    ----------
    xp : array namespace
    A : array (N, n, p+1)
        Constraint rows yᵢ[xᵢ, 1].
    bound : array (N, n)
        Right-hand sides (1 on trials, −1 on padding).
    C : float
    state : tuple of arrays
        The iterate's (ξ, s, λ, μ), each (N, n).
    tol : float

    Returns
    -------
    list of (rows, z, xi, lam)
        Per pass that solved any problem: their host positions ``rows`` (k,)
        among the N, and their z (k, p+1), ξ (k, n) and λ (k, n).
    """
    xi, s, lam, mu = state
    trial = bound > 0  # padding never carries weight
    free = trial & (lam > s) & (mu >= xi)
    at_bound = trial & (xi > mu)
    rows = np.arange(A.shape[0])
    solved = []
    for done_passes in range(1, _CROSSOVER_PASSES + 1):
        z, xi_x, lam_x, margin, ok = _partition_optimum(xp, A, bound, C, free, at_bound, tol)
        ok = to_numpy(ok)
        if ok.any():
            first = xp.asarray(np.flatnonzero(ok))
            solved.append((rows[ok],) + tuple(xp.take(v, first, axis=0)
                                              for v in (z, xi_x, lam_x)))
        if done_passes == _CROSSOVER_PASSES:  # (no correction after the last pass)
            break
        new_free, new_bound = _next_partition(xp, trial, free, at_bound, lam_x, margin, C)
        # Go on with the rejected problems whose partition changed and still
        # fits the free slots (an unchanged one would give the same solution).
        moved = xp.any((new_free != free) | (new_bound != at_bound), axis=-1)
        fits = xp.sum(xp.astype(new_free, xp.int32), axis=-1) <= _free_slots(A.shape)
        again = ~ok & to_numpy(moved & fits)
        if not again.any():
            break
        rows = rows[again]
        keep = xp.asarray(np.flatnonzero(again))
        A, bound, trial, free, at_bound = (xp.take(v, keep, axis=0)
                                           for v in (A, bound, trial, new_free, new_bound))
    return solved


def _free_slots(shape: tuple[int, ...]) -> int:
    """Free support vectors a crossover solve holds for problems of ``shape`` (N, n, p+1).

    A non-degenerate optimum has at most p + 1, but the iterate's guess and
    the active-set corrections pass through larger free sets on their way
    there (see ``_EXTRA_FREE_SLOTS``).
    """
    _, n, q = shape
    return min(n, q + _EXTRA_FREE_SLOTS)


def _partition_optimum(xp: Any, A: Any, bound: Any, C: float, free: Any, at_bound: Any,
                       tol: float) -> tuple[Any, Any, Any, Any, Any]:
    """The SVM optimum for a given partition of the trials, and whether it is one.

    With F the free trials and B those at the bound, the optimum solves
    Σⱼ (gᵢ·gⱼ) αⱼ + yᵢ b = 1 − C gᵢ·g_B for i ∈ F and Σ yᵢ αᵢ = −C Σ_B yᵢ,
    with gᵢ = yᵢxᵢ and g_B = Σ_B gₖ, in ``_free_slots`` slots per problem.

    Parameters
    ----------
    xp : array namespace
    A : array (N, n, p+1)
        Constraint rows yᵢ[xᵢ, 1].
    bound : array (N, n)
        Right-hand sides (1 on trials, −1 on padding).
    C : float
    free, at_bound : bool arrays (N, n)
        The partition (neither: α = 0).
    tol : float

    Returns
    -------
    z (N, p+1), xi (N, n), lam (N, n) on the trial axis, margin yᵢ(w·xᵢ + b)
    (N, n), ok (N,) bool: every KKT condition holds within ``tol``.
    """
    N, _, q = A.shape
    p = q - 1
    dtype = A.dtype
    m = _free_slots(A.shape)
    n_free = xp.sum(xp.astype(free, xp.int32), axis=-1)
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
    y_B = xp.vecdot(B, yv)
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
          # More free trials than p + 1 overdetermine (w, b): the ridge then
          # returns a regularised answer whose free margins are not 1.
          & xp.all(~free | (xp.abs(margin - 1.0) <= tol), axis=-1)
          & xp.all(xp.isfinite(sol), axis=-1))
    # α back on the trial axis: the k-th free trial of a problem sits in slot
    # k (stable order), so its slot is the running count of free trials − 1.
    place = xp.clip(xp.cumulative_sum(xp.astype(free, xp.int32), axis=-1) - 1, 0, m - 1)
    lam_x = xp.where(free, xp.take_along_axis(alpha, xp.astype(place, idx.dtype), axis=-1),
                     xp.zeros_like(B)) + C * B
    xi_x = xp.where(at_bound, 1.0 - margin, xp.zeros_like(margin))
    return z, xi_x, lam_x, margin, ok


def _next_partition(xp: Any, trial: Any, free: Any, at_bound: Any, lam: Any, margin: Any,
                    C: float) -> tuple[Any, Any]:
    """An active-set correction of a partition from its solution.

    Free trials stay free while 0 < α < C and otherwise go to the bound they
    crossed; of the trials off the margin that violate it (α = 0 inside the
    margin, y(w·x + b) < 1, or α = C outside it), the worst becomes free.
    One at a time: moving every violator at once, as a primal–dual active-set
    method does, overshoots from a guess a few trials off (on the held-out
    margin's 4-unit problems three such passes solved 1-7 % fewer problems
    per crossover, and from a guess two trials off they can make most
    trials free).

    Returns
    -------
    free, at_bound : bool arrays (N, n)
    """
    zero = trial & ~free & ~at_bound
    violation = xp.where(zero, 1.0 - margin,
                         xp.where(at_bound, margin - 1.0, xp.zeros_like(margin)))
    worst = xp.argmax(violation, axis=-1)
    joins = ((xp.arange(violation.shape[-1])[None, :] == worst[:, None])
             & (violation > 0.0))
    new_free = (free & (lam > 0.0) & (lam < C)) | joins
    new_bound = (free & (lam >= C)) | (at_bound & ~joins)
    return new_free, new_bound


def fit_soft_margin(xp: Any, X: Any, y: Any, *, C: float, max_iter: int, tol: float
              ) -> dict[str, Any]:
    """Soft-margin interior-point solve of N problems; arguments and result as
    :func:`neurolearn.svm.fit_linear_svm` with a finite ``C``.

    With NumPy, problems are solved in blocks of at most 2¹⁷ problem × trial
    entries (the same answer, problem by problem, in about half the time on
    large batches); other namespaces take the batch whole.

    Parameters
    ----------
    xp : array namespace
    X : array (N, n, p)
    y : array (N, n)
        ±1 labels, 0 on padding.
    C : float
    max_iter : int
    tol : float

    Returns
    -------
    dict
        As :func:`neurolearn.svm.fit_linear_svm`: ``coef`` (N, p),
        ``intercept`` (N,), ``dual`` (N, n), ``slack`` (N, n), ``converged``
        (N,), ``n_iter``.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> from sklearn.svm import SVC
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([1.0, -1.0], 30)
    >>> X = rng.normal(size=(60, 3)) + y[:, None] * [1.0, 0.0, 0.0]
    >>> res = fit_soft_margin(xp, X[None], y[None], C=1.0, max_iter=80, tol=1e-9)
    >>> ref = SVC(kernel="linear", C=1.0, tol=1e-10).fit(X, y)
    >>> bool(np.allclose(res["coef"][0], ref.coef_[0], atol=1e-5))
    True
    """
    N, n = y.shape
    block = max(1, _BLOCK_ENTRIES // max(n, 1))
    if N <= block or not is_numpy_namespace(xp):
        return _fit_block(xp, X, y, C=C, max_iter=max_iter, tol=tol)
    # On the CPU, blocks of problems whose (problems × trials) arrays stay in
    # cache: 1.6 s against 3.2 s in one batch for the held-out margin's
    # 10,000 whole 4-unit problems of 180 trials. With the Newton steps'
    # fewer passes, 2¹⁷ entries (blocks of 728 such problems) took 1.18 s on
    # its 8,029 whole problems of the embedded study, against 1.18 s for
    # 2¹⁶, 1.23 s for 3·2¹⁶, 1.28 s for 2¹⁸ and 1.37 s for 2¹⁹ (best of 6,
    # interleaved). An accelerator takes the batch whole.
    parts = [_fit_block(xp, X[i:i + block], y[i:i + block], C=C, max_iter=max_iter, tol=tol)
             for i in range(0, N, block)]
    out: dict[str, Any] = {key: xp.concat([r[key] for r in parts], axis=0)
                           for key in parts[0] if key != "n_iter"}
    out["n_iter"] = max(r["n_iter"] for r in parts)
    return out


def _fit_block(xp: Any, X: Any, y: Any, *, C: float, max_iter: int, tol: float
               ) -> dict[str, Any]:
    """:func:`fit_soft_margin` on one batch."""
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
        residual = xp.matmul(A, z[..., None])[..., 0] - bound
        r_d = Pdiag * z - xp.matmul(At, lam[..., None])[..., 0]
        r_c = C - lam - mu
        r_p = residual + xi - s
        lam_s, mu_xi = xp.vecdot(lam, s), xp.vecdot(mu, xi)
        gap = (lam_s + mu_xi) / (2 * n)
        # Duality gap relative to the primal objective; residuals relative to
        # the size of the terms they balance. (Padding's ξ is not a cost.)
        objective = 0.5 * xp.sum(z[:, :p] ** 2, axis=-1) + C * xp.vecdot(xi, valid)
        err = xp.max(xp.stack([
            xp.max(xp.abs(r_d), axis=-1) / (1.0 + xp.max(xp.abs(z), axis=-1)),
            xp.max(xp.abs(r_p), axis=-1),
            xp.max(xp.abs(r_c), axis=-1) / scale,
            2 * n * gap / (1.0 + objective)]), axis=0)
        converged = err < tol
        finished = to_numpy(converged)
        # The crossover is tried only on the problems near their optimum (the
        # others' guesses are rarely right, and gathering their trials costs
        # as much as a Newton step); those it solves leave the batch with its
        # exact answer.
        near = np.flatnonzero(to_numpy(err < _CROSSOVER_BELOW) & ~finished)
        solved = np.zeros_like(finished)
        if near.size:
            rows = xp.asarray(near)
            for done, zx, xix, lamx in _crossover(
                    xp, xp.take(A, rows, axis=0), xp.take(bound, rows, axis=0), C,
                    tuple(xp.take(v, rows, axis=0) for v in (xi, s, lam, mu)), tol):
                batch.keep(near[done], (zx, xix, lamx, xp.ones(done.size, dtype=xp.bool)))
                solved[near[done]] = True
        if finished.any() or solved.any():
            if finished.any():
                rows = xp.asarray(np.flatnonzero(finished))
                batch.keep(np.flatnonzero(finished),
                           tuple(xp.take(v, rows, axis=0) for v in (z, xi, lam, converged)))
            keep = batch.drop(xp, finished | solved)
            if not batch.ids.size:
                break
            # (Aᵀ is a view of A, not taken again.)
            (A, z, xi, s, lam, mu, valid, bound, residual, r_d, r_c, lam_s, mu_xi, gap,
             converged) = (xp.take(v, keep, axis=0) for v in (
                 A, z, xi, s, lam, mu, valid, bound, residual, r_d, r_c, lam_s, mu_xi, gap,
                 converged))
            At = xp.matrix_transpose(A)
        # Reciprocals once per iteration: the Newton steps below are
        # elementwise passes over (N, n) arrays, each costing about as much as
        # a division, so every step is written with as few passes as it needs.
        inv_xi, inv_s, inv_lam, inv_mu = (1.0 / v for v in (xi, s, lam, mu))
        xi_mu = xi * inv_mu
        # Bounding D below (a standard dual regularisation) keeps K's condition
        # number below ~1e12 as active constraints' D → 0 near the optimum.
        inv_D = 1.0 / xp.clip(xi_mu + s * inv_lam, 1e-12, None)  # (N, n), positive
        # Positive definite: b's diagonal entry is Σ 1/Dᵢ > 0.
        K = xp.matmul(At * inv_D[:, None, :], A) + xp.eye(q, dtype=dtype) * Pdiag
        inverses = (inv_xi, inv_s, inv_lam, inv_mu)

        # Predictor (affine scaling): complementarity targets λ·s and μ·ξ, so
        # the reduced right-hand side −r_p + (ξ/μ)r_c + ξ − s is b − Az + (ξ/μ)r_c.
        g_aff = xi_mu * r_c - residual
        dz, dlam = _reduced_solve(xp, A, At, K, inv_D, r_d, g_aff)
        ds = -(s + s * dlam * inv_lam)
        dxi = xi_mu * (dlam - r_c) - xi
        dmu = -(mu + mu * dxi * inv_xi)
        a_aff = _step_to_boundary(xp, inverses, (dxi, ds, dlam, dmu))
        # Mehrotra's centring-corrector, with the second-order terms c and
        # the target σ·gap: targets λ·s + c₁ and μ·ξ + c₂.
        c1, c2 = dlam * ds, dmu * dxi
        gap_aff = (lam_s + mu_xi + a_aff * (xp.vecdot(lam, ds) + xp.vecdot(s, dlam)
                                            + xp.vecdot(mu, dxi) + xp.vecdot(xi, dmu))
                   + a_aff ** 2 * (xp.sum(c1, axis=-1) + xp.sum(c2, axis=-1))) / (2 * n)
        sigma = (gap_aff / xp.where(gap > 0, gap, xp.ones_like(gap))) ** 3
        target = (sigma * gap)[:, None]
        c1, c2 = c1 - target, c2 - target
        dz, dlam = _reduced_solve(xp, A, At, K, inv_D, r_d, g_aff + c2 * inv_mu - c1 * inv_lam)
        ds = -(s + (c1 + s * dlam) * inv_lam)
        dxi = xi_mu * (dlam - r_c) - xi - c2 * inv_mu
        dmu = -(mu + (c2 + mu * dxi) * inv_xi)
        alpha = 0.99 * _step_to_boundary(xp, inverses, (dxi, ds, dlam, dmu))
        a = alpha[:, None]
        z = z + a * dz
        xi, s = xi + a * dxi, s + a * ds
        lam, mu = lam + a * dlam, mu + a * dmu
    z, xi, lam, converged = batch.collect(xp, (z, xi, lam, converged))
    return {"coef": z[:, :p], "intercept": z[:, p], "dual": lam, "slack": xi,
            "n_iter": n_iter, "converged": converged}
