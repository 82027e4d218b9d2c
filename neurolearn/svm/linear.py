"""Batched linear support-vector machines: one entry point for the soft and the hard margin.

With a finite ``C`` the problems go to the primal–dual interior-point method
of :mod:`neurolearn.svm.soft_margin`; with ``C=None`` (the hard margin) to
the dual solver of :mod:`neurolearn.svm.hard_margin`: a session is separable
exactly when the hard problem is feasible (the classes' convex hulls are
apart), decided scale-free and settled with a certificate either way, never
by an iteration budget.
"""

from __future__ import annotations

from typing import Any

from neurolearn.svm.hard_margin import fit_hard_margin
from neurolearn.svm.soft_margin import fit_soft_margin

__all__ = ["fit_linear_svm"]


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
        :func:`neurolearn.svm.hard_margin.fit_hard_margin` (separable means
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

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> X = np.array([[[0.0, 0.0], [2.0, 0.0], [0.0, 3.0], [2.0, 3.0]]])
    >>> y = np.array([[-1.0, -1.0, 1.0, 1.0]])
    >>> res = fit_linear_svm(xp, X, y, C=None)  # hard margin: the gap is 3 wide
    >>> bool(res["separable"][0]), round(float(res["margin"][0]), 10)
    (True, 1.5)
    """
    if C is None:
        res = fit_hard_margin(xp, X, y)
        sep = res["separable"]
        res["slack"] = xp.where(sep[:, None], xp.zeros_like(res["dual"]),
                                xp.full_like(res["dual"], float("nan")))
        return res
    return fit_soft_margin(xp, X, y, C=float(C), max_iter=max_iter, tol=tol)
