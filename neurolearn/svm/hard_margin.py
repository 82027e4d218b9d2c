"""Batched hard-margin linear SVMs, solved in the dual as the nearest points of two hulls.

The hard-margin SVM  min ½‖w‖²  s.t.  yᵢ(w·xᵢ + b) ≥ 1  is feasible exactly
when the convex hulls of the two classes are apart, and its margin 1/‖w‖ is
half their distance d (Bennett & Bredensteiner 2000). The distance is the
value of a quadratic program that is always feasible and bounded,

    d² = min_α ‖Σᵢ αᵢ yᵢ xᵢ‖²   s.t.  Σ_{yᵢ=+1} αᵢ = 1,  Σ_{yᵢ=−1} αᵢ = 1,  α ≥ 0,

so, unlike the primal (whose multipliers grow without bound as the classes
touch), its iterates stay in two simplices however barely the classes
separate, and every iterate is a certificate: u = Σαᵢyᵢxᵢ joins a point of
each hull, so d ≤ ‖u‖. A session is reported

* **separable** when the exact optimum is found (see :func:`_exact_on_support`)
  and its hyperplane w = 2u/d², b = −w·(p₊ + p₋)/2 (p± the two nearest
  points) meets every constraint to ``1e-10`` plus the rounding of w·x;
* **not separable** when an iterate certifies d ≤ ``resolution`` × the
  largest trial norm: the hulls meet, or come closer than the data's own
  precision can resolve (a Farkas-type certificate: Σαᵢyᵢxᵢ ≈ 0 with α ≥ 0);
* **unconverged** otherwise, when ``max_iter`` runs out (never silently "not
  separable").

The decisions are relative to the data's scale: the trials are divided by
their largest norm before solving, so scaling the data by 10⁻⁴ changes no
decision and scales the margin by 10⁻⁴.

The interior-point method is Mehrotra's predictor–corrector on the KKT
system of the QP, batched over problems. Each iteration factors one
positive-definite matrix per problem on the smaller side, shared by the
predictor and the corrector: n-square on the trials' Gram matrix where units
outnumber trials (its cost does not grow with p beyond forming the Gram
matrix, n²p), (p + 2)-square in the units' space otherwise (see
:func:`_newton_system`). With fewer units than trials there is no n×n
Gram matrix at all (products with it go through G). The exact solve is
tried on a rough iterate only once its support has held for two steps, and
never twice on one support, and only once a quarter of the open problems
are ready for one (a try costs about as much for one problem as for the
batch). With fewer units than trials the working-set driver in
:mod:`neurolearn.svm.working_set` also keeps n small (only support vectors
carry weight, at most p + 1 of them in general position), and finishes a
problem whose working set missed a support vector by
:func:`fit_active_set`, a dual active-set method that starts from the
working set's optimum and takes a step or two per missed trial;
:func:`fit_from_support` finishes a problem from a guessed support with no
Newton steps at all. Padding trials (y = 0) get a unit linear cost and no
constraint, so their αᵢ fall to 0 without touching the others.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from neurolearn.backend import spd_solver, to_numpy
from neurolearn.svm.active_slots import active_set_steps
from neurolearn.svm.retiring import RetiringBatch

__all__ = ["fit_hard_margin", "fit_from_support", "fit_active_set", "violation_floor",
           "RESOLUTION", "VIOLATION_TOL"]

#: Hull distances at or below this fraction of the largest trial norm are
#: reported as "not separable": the iterate's certificate cannot tell them
#: from touching hulls at double precision (½d² is resolved to ~1e-15).
RESOLUTION = 1e-6
#: The largest constraint violation 1 − yᵢ(w·xᵢ + b) an accepted hyperplane
#: may leave, beyond the rounding of w·x (64 ε ‖w‖ max‖xᵢ‖).
VIOLATION_TOL = 1e-10


def violation_floor(reach: Any) -> Any:
    """The largest violation 1 − yᵢ(w·xᵢ + b) an accepted hyperplane may leave:
    :data:`VIOLATION_TOL` plus the rounding of w·x, 64 ε ``reach`` with
    ``reach`` = ‖w‖ maxᵢ‖xᵢ‖ (works on arrays of any namespace).

    Parameters
    ----------
    reach : float or array
        ‖w‖ · maxᵢ‖xᵢ‖ of each hyperplane.

    Returns
    -------
    float or array
    """
    return VIOLATION_TOL + 64 * float(np.finfo(np.float64).eps) * reach


# Try the exact solve on the iterate's support once its residuals are below
# this: earlier, the support is rarely named right.
_EXACT_BELOW = 1e-3


# Constraint residuals (scaled units) and relative Σλᵢyᵢ below which a
# support solve needs no refinement: 1000× under VIOLATION_TOL.
_REFINED = 1e-13


# Systems up to this order are small for :func:`_factor`.
_SMALL = 96


def _hyperplane(xp: Any, G: Any, alpha: Any, E: Any) -> tuple[Any, Any, Any]:
    """(w, b, d) of the hyperplane bisecting the hull points α names (scaled units).

    u = Σαᵢyᵢxᵢ = p₊ − p₋; w = 2u/d², b = −w·(p₊ + p₋)/2, so w·p± + b = ±1.
    """
    u = xp.matmul(xp.matrix_transpose(G), alpha[..., None])[..., 0]  # (N, p)
    d2 = xp.sum(u * u, axis=-1)
    # Σ αᵢxᵢ over each class: x = y·g, so p₊ + p₋ = Σ α (E₊ − E₋) g.
    signed = alpha * (E[..., 0] - E[..., 1])
    mid = xp.matmul(xp.matrix_transpose(G), signed[..., None])[..., 0] / 2
    safe = xp.where(d2 > 0, d2, xp.ones_like(d2))
    w = 2 * u / safe[:, None]
    b = -xp.sum(w * mid, axis=-1)
    return w, b, xp.sqrt(d2)


def _margins(xp: Any, G: Any, E: Any, w: Any, b: Any, padding: float = float("inf")) -> Any:
    """yᵢ(w·xᵢ + b) of every trial (``padding`` on padded ones)."""
    y = E[..., 0] - E[..., 1]
    m = xp.matmul(G, w[..., None])[..., 0] + y * b[:, None]
    return xp.where(y != 0, m, xp.full_like(m, padding))


def _solve_on_support(xp: Any, G: Any, Q: Any, E: Any, S: Any) -> tuple[Any, Any, Any, Any]:
    """The hyperplane with yᵢ(w·xᵢ + b) = 1 on the support S, w = Σ_S λᵢyᵢxᵢ.

    Solves [Q_SS  y_S; y_Sᵀ  0] [λ; b] = [1; 0] (Q_SS gathered from the Gram
    matrix Q into the first m = max|S| slots) through one factorisation of
    Q_SS plus a rounding-level ridge (a support with more points than the
    hyperplane needs has many λ but one w) and the Schur complement on b,
    then refines it twice against the *constraint residuals*
    1 − yᵢ(w·xᵢ + b), computed from w itself: where classes nearly touch,
    λ ~ 1/d² is only known to cond·ε, but each refinement shrinks the
    residuals that decide feasibility by that factor, down to the rounding
    of w·x.

    Returns
    -------
    w (N, p), b (N,), λ (N, n), margins yᵢ(w·xᵢ + b) (N, n)
    """
    N, n, p = G.shape
    dtype = G.dtype
    yv = E[..., 0] - E[..., 1]
    m = max(1, int(to_numpy(xp.max(xp.sum(xp.astype(S, xp.int32), axis=-1)))))
    gather = 4 * m < 3 * n  # else the trials stay in place, the support masked
    if gather:
        # The support first (stable: in trial order), and the way back.
        order = xp.argsort(xp.astype(~S, xp.int8), axis=-1, stable=True)
        back = xp.argsort(order, axis=-1)
        idx = order[:, :m]
        if Q is None:  # (fewer units than trials: from the support's own rows of G)
            G_S = xp.take_along_axis(G, xp.broadcast_to(idx[..., None], (N, m, p)), axis=1)
            Q_S = xp.matmul(G_S, xp.matrix_transpose(G_S))
        else:
            rows = xp.take_along_axis(Q, xp.broadcast_to(idx[..., None], (N, m, n)), axis=1)
            Q_S = xp.take_along_axis(rows, xp.broadcast_to(idx[:, None, :], (N, m, m)),
                                     axis=2)
        slot = xp.astype(xp.take_along_axis(S, idx, axis=-1), dtype)  # (N, m)
        y_S = xp.take_along_axis(yv, idx, axis=-1) * slot
    else:
        m, Q_S = n, (xp.matmul(G, xp.matrix_transpose(G)) if Q is None else Q)
        slot = xp.astype(S, dtype)
        y_S = yv * slot
    Q_S = Q_S * slot[:, :, None] * slot[:, None, :]
    # Empty slots get a unit diagonal (λ = 0 there); a ridge at the rounding
    # level keeps a support with more points than the hyperplane needs (Q_SS
    # singular) positive definite; its λ is then the near-minimum-norm one,
    # and the refinements below remove the ridge's effect on w.
    ridge = float(np.finfo(np.float64).eps) * (m + 1)
    big = xp.max(xp.linalg.diagonal(Q_S), axis=-1)
    A = (Q_S + xp.eye(m, dtype=dtype) * (1.0 - slot)[:, None, :]
         + xp.eye(m, dtype=dtype) * (ridge * big)[:, None, None])
    solve_A = _factor(xp, A)
    joint = solve_A(xp.stack([y_S, slot], axis=-1))  # A⁻¹y and A⁻¹1 in one solve
    Ay = joint[..., 0]
    yAy = xp.sum(y_S * Ay, axis=-1)
    yAy = xp.where(yAy > 0, yAy, xp.ones_like(yAy))

    def solve(r: Any, t: Any) -> tuple[Any, Any]:
        # [A y; yᵀ 0][λ; b] = [r; t] through the Schur complement on b.
        Ar = solve_A(r[..., None])[..., 0]
        b = (xp.sum(y_S * Ar, axis=-1) - t) / yAy
        return (Ar - Ay * b[:, None]) * slot, b

    def on_trials(v: Any) -> Any:  # slot j of problem k is trial idx[k, j]
        if not gather:
            return v * slot
        full = xp.concat([v * slot, xp.zeros((N, n - m), dtype=dtype)], axis=-1)
        return xp.take_along_axis(full, back, axis=-1)

    def on_slots(v: Any) -> Any:
        return xp.take_along_axis(v, idx, axis=-1) if gather else v

    def weights(lam: Any) -> Any:
        return xp.matmul(xp.matrix_transpose(G), on_trials(lam)[..., None])[..., 0]

    b = xp.sum(y_S * joint[..., 1], axis=-1) / yAy  # solve(1, 0), from the joint solve
    lam = (joint[..., 1] - Ay * b[:, None]) * slot
    w = weights(lam)
    for _ in range(2):
        Gw = on_slots(xp.matmul(G, w[..., None])[..., 0])
        resid = slot * (1.0 - Gw - y_S * b[:, None])
        balance = -xp.sum(y_S * lam, axis=-1)
        # (Well-conditioned supports are exact after the first solve: skip.)
        worst = xp.max(xp.maximum(xp.max(xp.abs(resid), axis=-1), xp.abs(balance)
                                  / xp.maximum(xp.sum(xp.abs(lam), axis=-1), 1.0)))
        if float(to_numpy(worst)) <= _REFINED:
            break
        dlam, db = solve(resid, balance)
        lam, b = lam + dlam, b + db
        w = w + weights(dlam)
    return w, b, on_trials(lam), _margins(xp, G, E, w, b)


def _put_rows(xp: Any, base: Any, hit: np.ndarray, values: Any) -> Any:
    """``base`` with the rows where the host mask ``hit`` is True replaced by
    ``values`` (one row per True entry, in order): the array API has no
    indexed assignment, so a gather and a ``where``."""
    pick = xp.asarray(np.maximum(np.cumsum(hit) - 1, 0))
    mask = xp.reshape(xp.asarray(hit), (hit.size,) + (1,) * (base.ndim - 1))
    return xp.where(mask, xp.take(values, pick, axis=0), base)


def _take_rows(xp: Any, arrays: tuple[Any, ...], rows: np.ndarray, total: int | None = None
               ) -> tuple[Any, ...]:
    """The ``rows`` (host indices) of each array; the arrays themselves, uncopied,
    when ``rows`` is all ``total`` of them in order."""
    if total is not None and rows.size == total:
        return arrays
    take = xp.asarray(rows)
    return tuple(None if v is None else xp.take(v, take, axis=0) for v in arrays)


def _accept(xp: Any, base: tuple[Any, ...], rows: np.ndarray, good: np.ndarray,
            values: tuple[Any, ...]) -> tuple[np.ndarray, list[Any]]:
    """Write the accepted rows of ``values`` (computed for batch rows ``rows``;
    accepted where the host mask ``good``) into the full-batch arrays ``base``.

    Returns the host mask of the batch rows written and the updated arrays.
    """
    hit = np.zeros(base[0].shape[0], dtype=bool)
    hit[rows[good]] = True
    sel = xp.asarray(np.flatnonzero(good))
    return hit, [_put_rows(xp, old, hit, xp.take(new, sel, axis=0))
                 for old, new in zip(base, values, strict=True)]


def _argmax_mask(xp: Any, v: Any) -> Any:
    """Boolean mask (N, n) of each row's (first) largest entry of ``v``, where positive."""
    top = xp.argmax(v, axis=-1)
    hit = xp.arange(v.shape[-1])[None, :] == top[:, None]
    return hit & (xp.max(v, axis=-1) > 0)[:, None]


def _argmin_mask(xp: Any, v: Any) -> Any:
    """Boolean mask (N, n) of each row's (first) smallest entry of ``v``."""
    return xp.arange(v.shape[-1])[None, :] == xp.argmin(v, axis=-1)[:, None]


def _exact_on_support(xp: Any, G: Any, Q: Any, E: Any, alpha: Any, s: Any, rounds: int = 4,
                      one_at_a_time: bool = False) -> tuple[Any, Any, Any, np.ndarray]:
    """The exact optimum from the support the iterate names, and whether it is the optimum.

    Given the support S (αᵢ > sᵢ), the optimum solves one linear system
    (:func:`_solve_on_support`). It is accepted where λ ≥ 0 and every
    constraint holds (:data:`VIOLATION_TOL` beyond rounding). Where the
    iterate misnamed a few trials (degenerate ones, on the margin with
    λ ≈ 0, are common in high dimension), up to ``rounds`` active-set
    corrections drop the trials with λ < 0 and add the violated ones, on the
    problems still open; elsewhere the Newton steps go on.

    Returns
    -------
    w (N, p), b (N,), λ (N, n) — in the scaled units of ``G``; ok (N,) host bool
    """
    N, n, p = G.shape
    trial = (E[..., 0] + E[..., 1]) > 0
    S = trial & (alpha > s)
    w = xp.zeros((N, p), dtype=G.dtype)
    b = xp.zeros((N,), dtype=G.dtype)
    lam = xp.zeros((N, n), dtype=G.dtype)
    ok = np.zeros(N, dtype=bool)
    rows = np.arange(N)  # the problems still open
    for _ in range(rounds):
        Gr, Qr, Er, tr = _take_rows(xp, (G, Q, E, trial), rows, N)
        wr, br, lr, margin = _solve_on_support(xp, Gr, Qr, Er, S)
        wnorm = xp.sqrt(xp.sum(wr * wr, axis=-1))
        floor = violation_floor(wnorm)  # scaled trials: ‖x̃ᵢ‖ ≤ 1
        negative = S & (lr < -1e-9 * xp.max(xp.abs(lr), axis=-1, keepdims=True))
        violated = tr & (margin < 1.0 - floor[:, None])
        good = to_numpy(~xp.any(negative, axis=-1) & ~xp.any(violated, axis=-1)
                        & (2.0 / xp.where(wnorm > 0, wnorm, xp.ones_like(wnorm)) > RESOLUTION)
                        & xp.all(xp.isfinite(wr), axis=-1) & xp.isfinite(br))
        if good.any():
            hit, (w, b, lam) = _accept(xp, (w, b, lam), rows, good, (wr, br, lr))
            ok |= hit
        if good.all():
            break
        # Correct the supports of the problems still open: all at once (a
        # nearly optimal iterate misnames few trials), or, from a rougher
        # guess, as a primal active-set method does: drop the most negative
        # λ, else add the most violated trial.
        still = xp.asarray(np.flatnonzero(~good))
        if one_at_a_time:
            drop = _argmax_mask(xp, xp.where(negative, -lr, xp.zeros_like(lr)))
            add = _argmax_mask(xp, xp.where(violated, 1.0 - margin, xp.zeros_like(margin)))
            any_negative = xp.any(negative, axis=-1)[:, None]
            S = (S & ~(drop & any_negative)) | (add & ~any_negative)
            S = xp.take(S, still, axis=0)
        else:
            S = xp.take((S & ~negative) | violated, still, axis=0)
        rows = rows[~good]
    return w, b, xp.maximum(lam, 0.0), ok


def _newton_system(xp: Any, G: Any, Q: Any, E: Any, alpha: Any, s: Any, r_d: Any,
                   GE: Any = None) -> Any:
    """Factor the Newton matrix of the iterate (α, s) once; return its solver.

    The step (Δα, Δν, Δs) solves Q Δα − E Δν − Δs = −r_d, Eᵀ Δα = −r_p,
    s Δα + α Δs = −rc. Eliminating Δs leaves [H  E; Eᵀ  −δI] [Δα; −Δν] =
    [r₁; −r_p] with H = Q + D, D = diag(s/α) + δI and r₁ = −r_d − rc/α; the
    tiny δ (a standard primal–dual regularisation) keeps the system
    quasi-definite, so never singular, when two opposite-class trials nearly
    coincide. Only rc differs between Mehrotra's predictor and corrector, so
    the matrix is factored once per iteration (:func:`neurolearn.backend.spd_solver`):

    * units at least trials (p + 2 ≥ n): H is positive definite, and the
      Schur complement on the two class multipliers gives
      Δν = (EᵀH⁻¹E + δI)⁻¹(−r_p − EᵀH⁻¹r₁), Δα = H⁻¹(r₁ + EΔν);
    * fewer units than trials: Q = GGᵀ, so with v = GᵀΔα the system reduces
      to the positive-definite (p+2)-square
      [I + GᵀD⁻¹G  GᵀD⁻¹E; EᵀD⁻¹G  EᵀD⁻¹E + δI] [Δv; −Δν] =
      [GᵀD⁻¹r₁; EᵀD⁻¹r₁ + r_p], then Δα = D⁻¹(r₁ − GΔv + EΔν).

    Either way the cost per problem is that of the smaller side,
    min(n, p + 2)³/3, once per iteration. ``GE``, if given, is [G E]
    (N, n, p + 2), which does not change between iterations.

    Returns
    -------
    callable
        ``step(r_d, r_p, rc, predictor=False)`` → (Δα, Δν, Δs);
        ``predictor=True`` (for rc = αs and the ``r_d`` given here) reuses a
        solve made with the factorisation's first.
    """
    N, n = alpha.shape
    p = G.shape[-1]
    dtype = G.dtype
    delta = 1e-13
    D = s / alpha + delta
    if p + 2 < n:
        GE = xp.concat([G, E], axis=-1) if GE is None else GE
        F = GE / D[..., None]  # D⁻¹[G E], (N, n, p+2)
        K = xp.matmul(xp.matrix_transpose(GE), F) + _k_diagonal(xp, p, delta, dtype)
        solve_K = _factor(xp, K)

        def step(r_d: Any, r_p: Any, rc: Any, predictor: bool = False
                 ) -> tuple[Any, Any, Any]:
            r1 = -r_d - rc / alpha
            rhs = xp.matmul(xp.matrix_transpose(F), r1[..., None])[..., 0]
            rhs = rhs + xp.concat([xp.zeros((N, p), dtype=dtype), r_p], axis=-1)
            sol = solve_K(rhs[..., None])[..., 0]  # [Δv; −Δν]
            dalpha = (r1 - xp.matmul(GE, sol[..., None])[..., 0]) / D
            return dalpha, -sol[:, p:], (-rc - s * dalpha) / alpha
    else:
        solve_H = _factor(xp, Q, diagonal=D)  # H = Q + diag(D)
        # H⁻¹E and the predictor's H⁻¹r₁ (rc = αs, so r₁ = −r_d − s) in one solve.
        predictor_r1 = -r_d - s
        joint = solve_H(xp.concat([E, predictor_r1[..., None]], axis=-1))
        HE = joint[..., :2]  # H⁻¹E, (N, n, 2)
        schur = xp.matmul(xp.matrix_transpose(E), HE) + delta * xp.eye(2, dtype=dtype)

        def step(r_d: Any, r_p: Any, rc: Any, predictor: bool = False
                 ) -> tuple[Any, Any, Any]:
            r1 = -r_d - rc / alpha
            h = joint[..., 2] if predictor else solve_H(r1[..., None])[..., 0]
            dnu = xp.linalg.solve(schur, (-r_p - xp.matmul(xp.matrix_transpose(E),
                                                           h[..., None])[..., 0])[..., None])
            dalpha = h + xp.matmul(HE, dnu)[..., 0]
            return dalpha, dnu[..., 0], (-rc - s * dalpha) / alpha
    return step


@functools.lru_cache(maxsize=16)
def _k_diagonal_host(p: int, delta: float) -> np.ndarray:
    return np.diag(np.concatenate([np.ones(p), np.full(2, delta)]))


def _k_diagonal(xp: Any, p: int, delta: float, dtype: Any) -> Any:
    """diag(1, …, 1, δ, δ) of order p + 2, the identity on v and δ on the class
    multipliers of the reduced Newton matrix (built once per (p, δ) on the host)."""
    return xp.asarray(_k_diagonal_host(p, delta), dtype=dtype)


def _factor(xp: Any, A: Any, diagonal: Any = None) -> Any:
    """A solver for a stack of positive-definite systems.

    Large systems (order > :data:`_SMALL`) are Cholesky-factored once and
    solved by triangular solves (:func:`neurolearn.backend.spd_solver`), so
    repeated solves cost m² each; small ones are re-solved by batched LU on
    each call, where SciPy's triangular solves, which loop over the stack in
    Python, would cost more than the flops they save. (An explicit inverse
    would be cheaper still, but its cond·ε error stalls the interior-point
    method near the optimum: measured, 13 of the grid subset's 68 problems.)
    Where rounding has cost a matrix its definiteness (it is still
    non-singular), plain solves. ``diagonal`` (N, m), if given, is added to
    A's diagonal (without forming A + diag on NumPy's Cholesky path).
    """
    if A.shape[-1] > _SMALL:
        try:
            return spd_solver(xp, A, diagonal=diagonal)
        except np.linalg.LinAlgError:
            pass
    if diagonal is not None:
        A = A + xp.eye(A.shape[-1], dtype=A.dtype) * diagonal[:, None, :]
    return lambda B: xp.linalg.solve(A, B)


def _max_step(xp: Any, pairs: tuple[tuple[Any, Any], ...]) -> Any:
    """Largest step ≤ 1 keeping every (v, dv) pair's v + step·dv ≥ 0, per problem."""
    worst = xp.max(-pairs[0][1] / pairs[0][0], axis=-1)
    for v, dv in pairs[1:]:
        worst = xp.maximum(worst, xp.max(-dv / v, axis=-1))
    # (maximum, not clip: array-api-compat's clip costs ten times as much.)
    return 1.0 / xp.maximum(worst, 1.0)


def _scaled(xp: Any, X: Any, y: Any) -> tuple[Any, Any, Any, Any]:
    """(E, scale, G, Q): class indicators (N, n, 2), each problem's largest trial
    norm, gᵢ = yᵢxᵢ/scale and their Gram matrix Q = GGᵀ where units at least
    trials (p + 2 ≥ n); with fewer units ``Q`` is None and every product with
    it goes through G (Qα = G(Gᵀα): 2np flops, not n², and no n×n array)."""
    dtype = X.dtype
    E = xp.stack([xp.astype(y > 0, dtype), xp.astype(y < 0, dtype)], axis=-1)
    scale = xp.max(xp.sqrt(xp.sum(X * X, axis=-1)), axis=-1)
    scale = xp.where(scale > 0, scale, xp.ones_like(scale))
    G = X * (y / scale[:, None])[..., None]
    if X.shape[-1] + 2 < X.shape[-2]:
        return E, scale, G, None
    return E, scale, G, xp.matmul(G, xp.matrix_transpose(G))


def _in_units_of_x(xp: Any, w: Any, b: Any, lam: Any, scale: Any, separable: Any
                   ) -> dict[str, Any]:
    """``coef``, ``intercept``, ``margin`` and ``dual`` back in the units of X:
    x = scale·x̃, so w = w̃/scale, b = b̃, 1/‖w‖ = scale/‖w̃‖ and the
    multipliers of w = Σλᵢyᵢxᵢ are λ̃/scale²."""
    wnorm = xp.sqrt(xp.sum(w * w, axis=-1))
    margin = xp.where(separable, scale / xp.where(separable, wnorm, xp.ones_like(wnorm)),
                      xp.full_like(b, float("nan")))
    return {"coef": w / scale[:, None], "intercept": b, "margin": margin,
            "dual": lam / (scale * scale)[:, None]}


def fit_from_support(xp: Any, X: Any, y: Any, support: Any, *, rounds: int = 12
                     ) -> dict[str, Any]:
    """The exact hard margin from a guessed support, without interior-point steps.

    Solves for the hyperplane with yᵢ(w·xᵢ + b) = 1 on ``support`` and
    corrects the support up to ``rounds`` times as a primal active-set method
    does (drop the trial with the most negative λ, else add the most violated
    one), accepting a problem only as :func:`fit_hard_margin` does: λ ≥ 0 and
    every constraint met to :data:`VIOLATION_TOL` beyond rounding. A warm
    start: the working-set driver (:mod:`neurolearn.svm.working_set`) calls it with the
    last set's support and the trials that joined (measured on 30
    study-shaped sessions: 8 of the 9 problems that needed a second round
    finished here).

    Parameters
    ----------
    X : array (N, n, p), y : array (N, n)
        As in :func:`fit_hard_margin` (±1 labels, 0 on padding).
    support : bool array (N, n)

    Returns
    -------
    dict
        ``coef``, ``intercept``, ``margin``, ``dual`` as from
        :func:`fit_hard_margin` where ``accepted`` (N,) (host bool); other
        problems are undecided (not "not separable"): solve them in full.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> X = np.array([[[0.0], [1.0], [2.0], [3.0]]])
    >>> y = np.array([[-1.0, -1.0, 1.0, 1.0]])
    >>> warm = fit_from_support(xp, X, y, np.array([[False, True, True, False]]))  # the support
    >>> warm["accepted"].tolist(), round(float(warm["margin"][0]), 10)
    ([True], 0.5)
    """
    E, scale, G, Q = _scaled(xp, X, y)
    alpha = xp.astype(support, X.dtype)
    w, b, lam, ok = _exact_on_support(xp, G, Q, E, alpha, xp.full_like(alpha, 0.5),
                                      rounds=rounds, one_at_a_time=True)
    out = _in_units_of_x(xp, w, b, lam, scale, xp.asarray(ok))
    out["accepted"] = ok
    return out


def _closest_pair(xp: Any, G: Any, E: Any) -> Any:
    """Each problem's first active set: per class, the trial nearest the
    bisector of the class means along their difference (N, n) bool."""
    counts = xp.clip(xp.sum(E, axis=1), 1.0, None)  # (N, 2)
    yv = E[..., 0] - E[..., 1]
    X = G * yv[..., None]  # the scaled trials themselves
    means = xp.matmul(xp.matrix_transpose(E), X) / counts[..., None]  # (N, 2, p)
    d = means[:, 0, :] - means[:, 1, :]
    mid = xp.sum(d * (means[:, 0, :] + means[:, 1, :]), axis=-1) / 2
    score = yv * (xp.matmul(X, d[..., None])[..., 0] - mid[:, None])
    pair = xp.zeros(yv.shape, dtype=xp.bool)
    for k in range(2):
        own = xp.where(E[..., k] > 0, score, xp.full_like(score, float("inf")))
        pair = pair | (_argmin_mask(xp, own) & (E[..., k] > 0))
    return pair


def fit_active_set(xp: Any, X: Any, y: Any, *, support: Any = None, start: Any = None,
                   max_steps: int | None = None) -> dict[str, Any]:
    """Hard margins by a dual active-set method, for problems with few units.

    Goldfarb & Idnani's dual method (1983) on min ½‖w‖² s.t.
    yᵢ(w·xᵢ + b) ≥ 1: from the hyperplane of one trial per class, the most
    violated trial's multiplier is raised while the active constraints stay
    tight, an active trial leaving when its λ reaches 0, until no trial
    violates its constraint. The active set (at most p + 1 trials in general
    position) lives in fixed slots with the inverse of its KKT matrix carried
    from step to step by rank-one updates
    (:func:`neurolearn.svm.active_slots.active_set_steps`), so with few units
    the hard margin takes about p + 1 small steps, and touches the n trials
    only through their margins. A finished problem is accepted as it
    stands where its iterate already passes the acceptance test of
    :func:`fit_hard_margin` and is exact (λ ≥ 0, every constraint met to
    :data:`VIOLATION_TOL` beyond rounding, the active ones tight to that
    much and Σλᵢyᵢ = 0 to 1e-13 of Σλᵢ: the KKT conditions); otherwise its
    support goes through the exact solve and that test; problems that do not finish in
    ``max_steps``, or whose last step cannot be taken (the classes touch),
    are left undecided for :func:`fit_hard_margin`, which certifies them.

    Parameters
    ----------
    X : array (N, n, p), y : array (N, n)
        As in :func:`fit_hard_margin` (±1 labels, 0 on padding).
    support : bool array (N, n), optional
        The first active set: the support of an optimum over a subset of the
        trials (the working-set driver's warm start: its multipliers are
        feasible for the whole problem, so only the trials outside the
        subset that violate their constraints need steps). Default: one
        trial per class.
    start : tuple of arrays (λ (N, n), b (N,)), optional
        The optimum on ``support``, in the units of X (``dual`` and
        ``intercept`` of a solve on the subset, λ scattered back to the
        trials): the first iterate, instead of a solve on ``support``.
    max_steps : int, optional
        Steps before the open problems are handed on (default 3(p + 1) + 10).

    Returns
    -------
    dict
        ``coef``, ``intercept``, ``margin``, ``dual`` as from
        :func:`fit_hard_margin` where ``accepted`` (N,) (host bool), and
        ``n_steps`` (int); other problems are undecided (not "not
        separable").

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.where(np.arange(200) % 2 == 0, 1.0, -1.0)[None]
    >>> X = rng.normal(size=(1, 200, 5)) + 3.0 * y[..., None] * [1.0, 0, 0, 0, 0]
    >>> fast, full = fit_active_set(xp, X, y), fit_hard_margin(xp, X, y)
    >>> bool(fast["accepted"][0]), bool(np.isclose(fast["margin"][0], full["margin"][0],
    ...                                            rtol=1e-10))
    (True, True)
    """
    N, n, p = X.shape
    dtype = X.dtype
    E, scale, G, Q = _scaled(xp, X, y)
    yv = E[..., 0] - E[..., 1]
    trial = yv != 0
    A = _closest_pair(xp, G, E) if support is None else support & trial
    if support is None:
        # The hyperplane of two trials, one per class (g₊ = x̃₊, g₋ = −x̃₋):
        # w = λ(g₊ + g₋), λ = 2/‖g₊ + g₋‖², b = −w·(g₊ − g₋)/2 puts both on
        # their margins.
        Gt = xp.matrix_transpose(G)
        d = xp.matmul(Gt, xp.astype(A, dtype)[..., None])[..., 0]
        half = xp.matmul(Gt, (xp.astype(A, dtype) * yv)[..., None])[..., 0] / 2
        dd = xp.sum(d * d, axis=-1)
        pair = 2.0 / xp.where(dd > 0, dd, xp.ones_like(dd)) * xp.astype(dd > 0, dtype)
        lam = xp.astype(A, dtype) * pair[:, None]
        b = -pair * xp.sum(d * half, axis=-1)
    elif start is None:
        _, b, lam, _ = _solve_on_support(xp, G, Q, E, A)
    else:  # (x = scale·x̃: λ̃ = scale²λ, b̃ = b)
        lam, b = start[0] * (scale * scale)[:, None], start[1]
    # The steps, on fixed slots with the KKT matrix's inverse carried along
    # (neurolearn.svm.active_slots); rows whose steps ran out or could not
    # be taken come back unfinished.
    A, lam, b, w, exact, finished, n_steps = active_set_steps(
        xp, G, E, A, lam, b, max_steps=max_steps or 3 * (p + 1) + 10,
        floor_of=violation_floor, refined=_REFINED, resolution=RESOLUTION)
    G0, E0 = G, E
    exact_h = to_numpy(exact) & finished
    finished &= ~exact_h
    rows = np.flatnonzero(finished)
    keep_iterate = xp.asarray(exact_h)
    w = xp.where(keep_iterate[:, None], w, xp.zeros_like(w))
    b = xp.where(keep_iterate, b, xp.zeros_like(b))
    lam = xp.where(keep_iterate[:, None], xp.maximum(lam, 0.0), xp.zeros_like(lam))
    ok = exact_h.copy()
    if rows.size:
        Gr, Qr, Er, Ar = _take_rows(xp, (G0, Q, E0, A), rows, N)
        wr, br, lr, good = _exact_on_support(xp, Gr, Qr, Er, xp.astype(Ar, dtype),
                                             xp.full_like(xp.astype(Ar, dtype), 0.5), rounds=1)
        if good.any():
            hit, (w, b, lam) = _accept(xp, (w, b, lam), rows, good, (wr, br, lr))
            ok |= hit
    out = _in_units_of_x(xp, w, b, lam, scale, xp.asarray(ok))
    out.update({"accepted": ok, "n_steps": n_steps})
    return out


def fit_hard_margin(xp: Any, X: Any, y: Any, *, max_iter: int = 200, tol: float = 1e-14
                    ) -> dict[str, Any]:
    """Fit N hard-margin linear SVMs at once, in the dual (see the module notes).

    Parameters
    ----------
    X : array (N, n, p)
        Trials (zero rows and columns pad smaller problems).
    y : array (N, n)
        Labels ±1; 0 on padded trials. Each problem needs both classes.
    max_iter : int, default 200
        Interior-point iterations (most problems end in 10–30 through the
        exact solve; problems still open after this are ``unconverged``).
    tol : float, default 1e-14
        Scaled KKT residuals at which an iterate whose exact solve is still
        rejected stops as ``unconverged`` (it cannot improve further).

    Returns
    -------
    dict of arrays over the N problems
        ``coef`` (N, p), ``intercept`` (N,) — NaN where not separable;
        ``margin`` (N,) — 1/‖w‖ in the units of X (NaN where not
        separable); ``distance_bound`` (N,) — the last iterate's certified
        bound on the hulls' distance (≥ 2·margin); ``dual`` (N, n) — the
        SVM's multipliers λ (0 where not separable); ``separable``,
        ``converged`` (N,) bool (``converged``: settled either way);
        ``status`` (N,) int8 — 1 separable, 0 not separable, −1
        unconverged; ``n_iter`` (int).

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> X = np.array([[[0.0], [1.0], [2.0], [3.0]], [[0.0], [2.0], [1.0], [3.0]]])
    >>> y = np.array([[-1.0, -1.0, 1.0, 1.0]] * 2)  # the second pair of classes overlaps
    >>> res = fit_hard_margin(xp, X, y)
    >>> res["status"].tolist(), round(float(res["margin"][0]), 10)
    ([1, 0], 0.5)
    """
    N, n, p = X.shape
    dtype = X.dtype
    E, scale, G, Q = _scaled(xp, X, y)  # scale-free: each problem over its largest norm
    GE = None if Q is not None else xp.concat([G, E], axis=-1)  # (the Newton matrix's factor)
    cost = 1.0 - xp.astype(y != 0, dtype)  # padding: unit cost, no constraint
    counts = xp.clip(xp.sum(E, axis=1), 1.0, None)  # (every problem has both classes)
    alpha = xp.sum(E / counts[:, None, :], axis=-1) + cost  # uniform on each simplex
    # Slacks of the size of α (≈ 2/n): a start nearer the central path than
    # s = 1 (measured: 14 → 12 iterations on 30 study-shaped working sets,
    # 10 → 8 at p ≥ n; the 385-problem grid's answers unchanged).
    s = xp.full((N, n), 1.0 / n, dtype=dtype)
    nu = xp.zeros((N, 2), dtype=dtype)
    status = xp.full((N,), -1, dtype=xp.int8)
    w = xp.full((N, p), float("nan"), dtype=dtype)
    b = xp.full((N,), float("nan"), dtype=dtype)
    lam = xp.zeros((N, n), dtype=dtype)
    bound = xp.full((N,), float("inf"), dtype=dtype)
    tried = xp.zeros((N, n), dtype=xp.bool)  # the support of the last rejected exact try
    previous = tried  # the support at the previous step
    batch = RetiringBatch(N)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - Newton iterations, not problems
        Qa = (xp.matmul(G, xp.matmul(xp.matrix_transpose(G), alpha[..., None]))[..., 0]
              if Q is None else xp.matmul(Q, alpha[..., None])[..., 0])
        r_d = Qa + cost - xp.matmul(E, nu[..., None])[..., 0] - s
        class_sums = xp.matmul(xp.matrix_transpose(E), alpha[..., None])[..., 0]  # (N, 2)
        r_p = class_sums - 1.0
        gap = xp.sum(alpha * s, axis=-1) / n
        err = xp.maximum(xp.maximum(xp.max(xp.abs(r_d), axis=-1), xp.max(xp.abs(r_p), axis=-1)),
                         n * gap)
        # The certificate: α renormalised onto the two simplices joins a point
        # of each hull, so the hulls are at most ‖u‖ apart.
        on_simplex = alpha * xp.matmul(E, 1.0 / class_sums[..., None])[..., 0]
        u = xp.matmul(xp.matrix_transpose(G), on_simplex[..., None])[..., 0]
        bound = xp.minimum(bound, xp.sqrt(xp.sum(u * u, axis=-1)))
        status = xp.where(bound <= RESOLUTION, xp.zeros_like(status), status)
        # Exact tries, per problem: one solve while the iterate is rough, with
        # active-set corrections once it is nearly optimal (where a misnamed
        # trial is a degenerate one). A try depends on the iterate only through
        # its support, so a rough iterate's is tried once it has held for two
        # steps (early on it changes every step, and tries on it fail), and
        # never twice.
        support = (alpha > s) & (cost == 0)
        fresh = to_numpy(xp.any(support != tried, axis=-1)
                         & xp.all(support == previous, axis=-1))
        previous = support
        err_h, open_h = to_numpy(err), to_numpy(status < 0)
        rough = (err_h < _EXACT_BELOW) & (err_h >= 1e-8) & open_h & fresh
        ready = (err_h < 1e-8) & open_h
        # A try costs about the same for one problem as for the batch (its
        # steps are small array operations): wait until a quarter of the open
        # problems are ready for one, unless some are nearly optimal.
        if (rough | ready).sum() * 4 < open_h.sum() and not ready.any():
            rough = ready
        for near, rounds in ((rough, 1), (ready, 4)):
            if not near.any():
                continue
            rows = np.flatnonzero(near)
            wx, bx, lamx, ok = _exact_on_support(
                xp, *_take_rows(xp, (G, Q, E, alpha, s), rows, near.size), rounds=rounds)
            tried = _put_rows(xp, tried, near, _take_rows(xp, (support,), rows, near.size)[0])
            if ok.any():
                hit, (w, b, lam) = _accept(xp, (w, b, lam), rows, ok, (wx, bx, lamx))
                status = xp.where(xp.asarray(hit), xp.ones_like(status), status)
        stalled = (err < tol) & (status < 0)
        finished = to_numpy((status >= 0) | stalled)
        if finished.any():
            keep = batch.retire(xp, finished, (w, b, lam, bound, status))
            if not batch.ids.size:
                break
            (G, Q, GE, E, cost, alpha, s, nu, status, w, b, lam, bound, r_d, r_p, gap, tried,
             previous) = (None if v is None else xp.take(v, keep, axis=0) for v in (
                G, Q, GE, E, cost, alpha, s, nu, status, w, b, lam, bound, r_d, r_p, gap, tried,
                previous))
        # Mehrotra: affine predictor, then the centring corrector, on one factorisation.
        newton = _newton_system(xp, G, Q, E, alpha, s, r_d, GE)
        da, dn, ds = newton(r_d, r_p, alpha * s, predictor=True)
        step = _max_step(xp, ((alpha, da), (s, ds)))[:, None]
        gap_aff = xp.sum((alpha + step * da) * (s + step * ds), axis=-1) / n
        sigma = (gap_aff / xp.where(gap > 0, gap, xp.ones_like(gap))) ** 3
        rc = alpha * s + da * ds - (sigma * gap)[:, None]
        da, dn, ds = newton(r_d, r_p, rc)
        step = 0.99 * _max_step(xp, ((alpha, da), (s, ds)))[:, None]
        alpha, s, nu = alpha + step * da, s + step * ds, nu + step * dn
    w, b, lam, bound, status = batch.collect(xp, (w, b, lam, bound, status))
    separable = status == 1
    out = _in_units_of_x(xp, w, b, lam, scale, separable)
    out.update({"distance_bound": bound * scale, "separable": separable,
                "converged": status >= 0, "status": status, "n_iter": n_iter})
    return out
