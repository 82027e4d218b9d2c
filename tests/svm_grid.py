"""A seeded grid of hard-margin problems at every edge, and an exact QP reference.

:func:`grid` yields the 385 problems of the hard-margin issue: Gaussian
classes at three separations (overlapping, touching, apart), barely
separable classes (a planted gap of 1e-3 or 3e-4 along one axis), and
well-separated classes with one pair of opposite-class trials 2ε apart
(ε = 1e-3 or 1e-4, so the margin is at most ε), each at 11 shapes from
20 trials × 2 units to 300 × 400, five seeds each. :func:`qp_margin` solves
min ½‖w‖² s.t. yᵢ(w·xᵢ + b) ≥ 1 with cvxpy and CLARABEL: the margin 1/‖w‖,
or NaN where CLARABEL certifies the problem infeasible.
"""

from __future__ import annotations

import numpy as np

SHAPES = [(20, 2), (20, 5), (20, 50), (60, 5), (60, 15), (60, 100), (100, 15), (100, 200),
          (200, 15), (150, 300), (300, 400)]
KINDS = [("gauss", 0.5), ("gauss", 2.0), ("gauss", 6.0), ("gap", 1e-3), ("gap", 3e-4),
         ("pair", 1e-3), ("pair", 1e-4)]
N_SEEDS = 5


def make_problem(kind: str, value: float, n: int, p: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One problem: trials X (n, p) (z-scored scale) and labels y (n,) in {−1, +1}."""
    rng = np.random.default_rng([seed, n, p, int(value * 1e6), len(kind)])
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    X = rng.normal(size=(n, p))
    if kind == "gauss":
        X[:, 0] += 0.5 * value * y
    elif kind == "gap":
        # Along the first unit, each class starts `value` from the boundary,
        # the nearest trial of each class exactly there.
        X[:, 0] = y * (value + np.abs(rng.normal(size=n)))
        X[0, 0], X[1, 0] = value, -value
    else:  # "pair": far-apart classes, then one opposite-class trial 2ε from a trial
        X[:, 0] += 3.0 * y
        r = rng.normal(size=p)
        X[1] = X[0] + 2 * value * r / np.linalg.norm(r)
    return X, y


def grid(subset: bool = False):
    """Yield (name, X, y): all 385 problems, or a 42-problem subset with every kind
    (barely separable and p ≥ n included)."""
    shapes = [(20, 5), (60, 100), (200, 15)] if subset else SHAPES
    seeds = range(2) if subset else range(N_SEEDS)
    for kind, value in KINDS:
        for n, p in shapes:
            for seed in seeds:
                X, y = make_problem(kind, value, n, p, seed)
                yield f"{kind}{value:g}-n{n}-p{p}-s{seed}", X, y


def qp_margin(X: np.ndarray, y: np.ndarray) -> float:
    """Exact hard margin 1/‖w‖ by CLARABEL (NaN where certified infeasible)."""
    import cvxpy as cp

    w, b = cp.Variable(X.shape[1]), cp.Variable()
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w)),
                         [cp.multiply(y, X @ w + b) >= 1])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12,
                  tol_feas=1e-12, max_iter=500)
    if problem.status in ("infeasible", "infeasible_inaccurate"):
        return float("nan")
    return 1.0 / float(np.linalg.norm(w.value))
