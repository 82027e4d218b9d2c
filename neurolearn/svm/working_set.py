"""Linear SVMs solved on working sets: only the trials near the boundary carry weight.

Each problem starts from the trials nearest the boundary of Fisher's
discriminant; after each batched solve the trials outside the set that
violate the margin join it, until none does (see
:func:`fit_linear_svm_working_set`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolearn.backend import to_numpy
from neurolearn.session_arrays import pooled_fisher_direction
from neurolearn.svm.hard_margin import fit_active_set, fit_from_support, violation_floor
from neurolearn.svm.linear import fit_linear_svm

__all__ = ["fit_linear_svm_working_set"]

# A hard-margin working set that missed at most this many violators is
# finished by the dual active-set method rather than another round.
_FEW_MISSED = 8

# Hard-margin working sets of at most this many units are first solved by
# the dual active-set method (see _solve_sets).
_FEW_UNITS = 12

# Soft margins are solved on whole problems where Fisher's direction
# misclassifies more than this fraction of the trials (see
# fit_linear_svm_working_set).
_DENSE_SUPPORT = 0.1

# Batches of at most this many trial × (unit + 2) entries are "small" for
# the first working set's size (see fit_linear_svm_working_set).
_SMALL_BATCH = 2**20


def _solve_sets(xp: Any, Xw: np.ndarray, yw: np.ndarray, *, C: float | None, max_iter: int,
                tol: float, guess: np.ndarray | None) -> dict[str, np.ndarray]:
    """One round of the working-set driver: :func:`fit_linear_svm` on the
    gathered sets, as host arrays. A hard margin with a ``guess`` at each
    set's support is first finished from it exactly
    (:func:`neurolearn.svm.hard_margin.fit_from_support`), and one with at
    most ``_FEW_UNITS`` units and no guess by the dual active-set method
    (:func:`neurolearn.svm.hard_margin.fit_active_set`); only the problems
    these do not accept take interior-point steps."""
    keys = ("coef", "intercept", "converged", "slack") + (("separable", "dual") if C is None
                                                          else ())
    out: dict[str, np.ndarray] = {}
    warm = None
    if guess is not None:
        warm = fit_from_support(xp, xp.asarray(Xw), xp.asarray(yw), xp.asarray(guess))
    elif C is None and Xw.shape[2] <= _FEW_UNITS:
        # With few units a hard margin has few support vectors, and the dual
        # active-set method reaches them in about as many small steps: about
        # half the interior point's time on the first working sets (measured
        # on 3,000 subsets of 8 units); what it leaves open is solved below.
        warm = fit_active_set(xp, xp.asarray(Xw), xp.asarray(yw),
                              max_steps=2 * (Xw.shape[2] + 1) + 8)
    if warm is not None:
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


def _whole_problems(xp: Any, X: np.ndarray, y: np.ndarray, *, C: float | None, max_iter: int,
                    tol: float) -> dict[str, Any]:
    """:func:`fit_linear_svm` on the whole problems, as the driver's host result."""
    res = fit_linear_svm(xp, xp.asarray(X), xp.asarray(y), C=C, max_iter=max_iter, tol=tol)
    out: dict[str, Any] = {key: to_numpy(res[key])
                           for key in ("coef", "intercept", "slack", "converged")}
    out["n_rounds"] = 1
    if C is None:
        out["separable"], out["status"] = to_numpy(res["separable"]), to_numpy(res["status"])
    return out


def _fisher_scores(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each trial's signed score yᵢ(w₀·xᵢ − c) (N, n) on Fisher's direction w₀
    (pooled within-class covariance, lightly shrunk) with the threshold c
    halfway between the class means: negative where w₀ misclassifies it. It
    ranks trials much as the SVM will."""
    # (One pass: the direction only ranks trials for the first working sets.)
    w0, mu1, mu0 = pooled_fisher_direction(X, y, shrinkage=1e-3, two_pass=False)
    return y * ((X @ w0[..., None])[..., 0] - 0.5 * np.sum(w0 * (mu1 + mu0), axis=1)[:, None])


def _first_sets(score: np.ndarray, y: np.ndarray, k0: int) -> np.ndarray:
    """The first working sets, an (N, n) mask: each problem's k0 trials nearest
    the boundary of Fisher's direction (lowest :func:`_fisher_scores`), so the
    first set usually holds every support vector; and each class's nearest
    trial, so both classes are there from the start."""
    N, n = score.shape
    valid = y != 0
    first = np.argpartition(np.where(valid, score, np.inf), k0 - 1, axis=1)[:, :k0]
    working = np.zeros((N, n), bool)
    np.put_along_axis(working, first, True, axis=1)
    for cls in ((y > 0), (y < 0)):
        nearest = np.argmin(np.where(cls, score, np.inf), axis=1)
        working[np.arange(N), nearest] |= cls[np.arange(N), nearest]
    return working & valid


def _gathered(X: np.ndarray, y: np.ndarray, mask: np.ndarray, active: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each active problem's working trials gathered to the front (a stable sort
    keeps trial order), padded with y = 0 to the largest set: their trial
    indices (k, size), which slots hold a trial, and the gathered X and y."""
    size = int(mask.sum(1).max())
    rows = np.argsort(~mask, axis=1, kind="stable")[:, :size]
    inside = np.take_along_axis(mask, rows, axis=1)
    return (rows, inside, X[active[:, None], rows] * inside[..., None],
            y[active[:, None], rows] * inside)


def _margins_and_slack(X: np.ndarray, y: np.ndarray, active: np.ndarray, w: np.ndarray,
                       b: np.ndarray, rows: np.ndarray, inside: np.ndarray, xi_w: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Every trial's margin yᵢ(w·xᵢ + b) in the active problems, and the slack:
    the solver's ξ on working trials, max(0, 1 − margin) elsewhere."""
    # (Indexing X by `active` copies it: skip that while all are active.)
    Xa, ya = (X, y) if active.size == X.shape[0] else (X[active], y[active])
    margins = ya * ((Xa @ w[..., None])[..., 0] + b[:, None])
    full = np.where(ya != 0, np.maximum(0.0, 1.0 - margins), 0.0)
    np.put_along_axis(full, rows, np.where(inside, xi_w, np.take_along_axis(full, rows, 1)),
                      axis=1)
    return margins, full


def _grown(mask: np.ndarray, violation: np.ndarray, bad: np.ndarray, grow_by: int
           ) -> np.ndarray:
    """The working sets ``mask`` with up to ``grow_by`` of each problem's worst
    violators (where ``bad``) added."""
    worst = np.argsort(-violation, axis=1)[:, :grow_by]
    new = mask.copy()
    np.put_along_axis(new, worst, np.take_along_axis(bad, worst, axis=1)
                      | np.take_along_axis(new, worst, axis=1), axis=1)
    return new


def _finish_from_support(xp: Any, X: np.ndarray, y: np.ndarray, ids: np.ndarray,
                         support: np.ndarray, dual: np.ndarray, coef: np.ndarray,
                         intercept: np.ndarray, slack: np.ndarray, converged: np.ndarray,
                         separable: np.ndarray, sel: np.ndarray, *, max_steps: int
                         ) -> np.ndarray:
    """The hard-margin problems ``ids`` whose working set missed a support
    vector, finished on all their trials by the dual active-set method from
    the working set's optimum (its support, multipliers ``dual`` and
    intercept: :func:`neurolearn.svm.hard_margin.fit_active_set`; the set's
    optimum is dual feasible for the whole problem, so the few violators take
    a step or two each). Writes the accepted ones into the driver's arrays
    and returns the entries of ``sel`` still open."""
    warm = fit_active_set(xp, xp.asarray(X[ids]), xp.asarray(y[ids]),
                          support=xp.asarray(support[ids]),
                          start=(xp.asarray(dual[ids]), xp.asarray(intercept[ids])),
                          max_steps=max_steps)
    ok = warm["accepted"]
    done = ids[ok]
    coef[done], intercept[done] = to_numpy(warm["coef"])[ok], to_numpy(warm["intercept"])[ok]
    slack[done] = 0.0
    converged[done] = separable[done] = True
    return sel[~ok]


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
        Trials in the first working set (default 4(p+1) + 8, hard and soft;
        6(p+1) + 4 in a batch of at most 2²⁰ trial × (unit + 2) entries).
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

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.where(np.arange(200) % 2 == 0, 1.0, -1.0)[None]
    >>> X = rng.normal(size=(1, 200, 3)) + 4.0 * y[..., None] * [1.0, 0.0, 0.0]
    >>> full = fit_linear_svm(xp, X, y, C=None)
    >>> ws = fit_linear_svm_working_set(xp, X, y, C=None)
    >>> bool(np.allclose(ws["coef"], full["coef"], rtol=1e-8))
    True
    """
    N, n, p = X.shape
    valid = y != 0
    # A hard margin has at most p + 1 support vectors in general position (a
    # soft one has every margin violator too), but the first set is generous:
    # with fewer units than trials a Newton step costs ~n·p², so a larger set
    # is cheap, while a missed support vector costs a whole new solve
    # (measured on 30 sessions of 200 trials × 15 units: 2(p+1)+4 trials took
    # 3 rounds, 4(p+1)+8 took 2 and half the time).
    # In a small batch each array operation costs its call overhead, not its
    # size, so a larger first set is free and misses fewer support vectors
    # (measured on 30 and 104 study-shaped sessions: 4(p+1)+8 trials left 9 of
    # 30 and 21 of 104 problems with a missed one, 6(p+1)+4 left 4 and 7, and
    # took 8-10 % less time); in a large batch (3,000 subsets of 8 units, most
    # not separable) the smaller set is 1.3-1.8x faster.
    small = N * n * (p + 2) <= _SMALL_BATCH
    k0 = min(n, initial_size or (6 * (p + 1) + 4 if small else 4 * (p + 1) + 8))
    if k0 >= int(valid.sum(1).max()):
        # Every trial fits in the first working set (p ≥ n for a hard margin):
        # one solve of the full problems, no ranking to compute.
        return _whole_problems(xp, X, y, C=C, max_iter=max_iter, tol=tol)
    score = _fisher_scores(X, y)
    if C is not None:
        # A soft margin's support vectors are every trial on the wrong side of
        # the margin: about 2.5 times the fraction Fisher's direction
        # misclassifies (measured on the held-out margin's 10,300 4-unit SVMs,
        # correlation 0.98). Where that is over a tenth, the sets would grow
        # to most trials, and the rounds before cost more than they save
        # (7.6 s against 6.0 s for whole problems there): those problems are
        # solved whole, the rest on working sets.
        dense = (np.sum(valid & (score < 0), axis=1)
                 > _DENSE_SUPPORT * np.sum(valid, axis=1))
        if dense.any():
            return _merged(dense, _whole_problems(xp, X[dense], y[dense], C=C,
                                                  max_iter=max_iter, tol=tol),
                           _rounds(xp, X[~dense], y[~dense], score[~dense], C=C, k0=k0,
                                   max_rounds=max_rounds, max_iter=max_iter, tol=tol)
                           if not dense.all() else None)
    return _rounds(xp, X, y, score, C=C, k0=k0, max_rounds=max_rounds, max_iter=max_iter,
                   tol=tol)


def _merged(first: np.ndarray, on_first: dict[str, Any], on_rest: dict[str, Any] | None
            ) -> dict[str, Any]:
    """One driver result from the results on the problems where ``first`` and on
    the others (None when there are none)."""
    if on_rest is None:
        return on_first
    out: dict[str, Any] = {"n_rounds": max(on_first["n_rounds"], on_rest["n_rounds"])}
    for key, value in on_first.items():
        if key == "n_rounds":
            continue
        full = np.empty((first.size,) + value.shape[1:], value.dtype)
        full[first], full[~first] = value, on_rest[key]
        out[key] = full
    return out


def _rounds(xp: Any, X: np.ndarray, y: np.ndarray, score: np.ndarray, *, C: float | None,
            k0: int, max_rounds: int, max_iter: int, tol: float) -> dict[str, Any]:
    """The working-set rounds of :func:`fit_linear_svm_working_set`, from the first
    sets of ``k0`` trials ranked by ``score`` (:func:`_fisher_scores`)."""
    N, n, p = X.shape
    valid = y != 0
    working = _first_sets(score, y, k0)
    coef, intercept = np.zeros((N, p)), np.zeros(N)
    slack = np.zeros((N, n))
    converged = np.zeros(N, bool)
    separable = np.zeros(N, bool)
    support = np.zeros((N, n), bool)  # hard margin: each problem's last support
    dual = np.zeros((N, n))  # and its multipliers, on the trials
    active = np.arange(N)
    # Each problem's largest trial norm, for the acceptance test's rounding floor.
    largest_norm = np.sqrt(np.max(np.einsum("knp,knp->kn", X, X), axis=1)) if C is None else None
    n_rounds = 0
    for n_rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds, not problems
        # Gather each active problem's working trials to the front (stable
        # sort keeps trial order), padded with y = 0 to the largest set.
        mask = working[active]
        rows, inside, Xw, yw = _gathered(X, y, mask, active)
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
            lam = np.zeros((active.size, n))
            np.put_along_axis(lam, rows, np.where(inside, res["dual"], 0.0), axis=1)
            dual[active] = lam
        coef[active], intercept[active] = w, b
        margins, slack[active] = _margins_and_slack(X, y, active, w, b, rows, inside, xi_w)
        # Trials outside the working set that violate the margin join it (the
        # k0 worst per problem); problems with none, or not converged, stop.
        violation = np.where(valid[active] & ~mask, 1.0 - margins, -np.inf)
        if C is None:  # the hard solver's own acceptance test, beyond the rounding of w·x
            reach = np.linalg.norm(w, axis=1) * largest_norm[active]
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
        sel = np.flatnonzero(grow)
        # A hard margin whose set missed only a few trials is finished on all
        # its trials by the active-set method (a step or two per missed
        # trial); one that missed many takes another interior-point round.
        few = sel[bad[sel].sum(axis=1) <= _FEW_MISSED] if C is None else sel[:0]
        if few.size:
            open_ = _finish_from_support(xp, X, y, active[few], support, dual, coef,
                                         intercept, slack, converged, separable, few,
                                         max_steps=4 * _FEW_MISSED + 8)
            sel = np.setdiff1d(sel, np.setdiff1d(few, open_))
        new = _grown(mask[sel], violation[sel], bad[sel],
                     n if C is not None else max(k0, int(mask.sum(1).max())))
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
