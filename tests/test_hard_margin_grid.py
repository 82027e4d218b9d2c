"""The hard margin against an exact QP (cvxpy + CLARABEL) on a grid of edge cases.

Measured on the full 385-problem grid of :mod:`svm_grid` (``pytest -m slow``;
2026-12-02, 2-core machine):

=====================  ===================  =======================
QP says                 ours: separable      ours: not separable
=====================  ===================  =======================
feasible (313)          313                  0
infeasible (72)         0                    72
=====================  ===================  =======================

0 unconverged, 0 NaN on a feasible problem; the largest relative error of
1/‖w‖ is 2.8e-9 (barely separable problems, margins down to 2e-5,
included), and no accepted hyperplane violates a constraint by more than
1e-10 beyond the rounding of w·x. The default run keeps a 42-problem subset
with every kind, barely separable and p ≥ n cases included.
"""

import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from svm_grid import grid, qp_margin

from neurolearn.svm import fit_linear_svm_working_set
from neurolearn.svm.hard_margin import VIOLATION_TOL, fit_hard_margin

pytest.importorskip("cvxpy")


def _check(problems):
    rows = []
    for name, X, y in problems:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate"
            ref = qp_margin(X, y)
        direct = fit_hard_margin(xnp, X[None], y[None])
        ws = fit_linear_svm_working_set(xnp, X[None], y[None], C=None)
        for res, margin in ((direct, float(direct["margin"][0])),
                            (ws, 1 / np.linalg.norm(ws["coef"][0]))):
            status = int(res["status"][0])
            rows.append((name, ref, margin, status))
            if status == 1:
                w, b = res["coef"][0], res["intercept"][0]
                slack = 1 - y * (X @ w + b)
                reach = np.linalg.norm(w) * np.linalg.norm(X, axis=1).max()
                rounding = 64 * np.finfo(float).eps * reach
                assert slack.max() <= VIOLATION_TOL + rounding, (name, slack.max())
    feasible = np.array([np.isfinite(r[1]) for r in rows])
    status = np.array([r[3] for r in rows])
    confusion = {(f, s): int(np.sum((feasible == f) & (status == s)))
                 for f in (True, False) for s in (1, 0, -1)}
    # Separable exactly when the QP is feasible; never unconverged.
    assert confusion[(True, 0)] == confusion[(False, 1)] == 0, confusion
    assert confusion[(True, -1)] == confusion[(False, -1)] == 0, confusion
    rel = [abs(m - r) / r for _, r, m, s in rows if np.isfinite(r)]
    assert np.isfinite(rel).all() and max(rel) < 1e-8, max(rel)
    return confusion, max(rel)


def test_hard_margin_grid_subset():
    confusion, worst = _check(grid(subset=True))
    assert confusion[(True, 1)] > 0 and confusion[(False, 0)] > 0  # both verdicts occur


@pytest.mark.slow
def test_hard_margin_full_grid():
    confusion, worst = _check(grid())
    assert confusion[(True, 1)] + confusion[(False, 0)] == 2 * 385


@pytest.mark.parametrize("factor", [1e-4, 1.0, 1e4])
def test_decisions_are_scale_free(factor):
    # The textbook anchor: the classes on the lines x₁ = ±1, margin exactly 1.
    X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, -2.0], [-1.0, 0.0], [-1.0, 1.0], [-1.0, 3.0]])
    y = np.array([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    res = fit_hard_margin(xnp, (factor * X)[None], y[None])
    assert res["status"][0] == 1
    assert res["margin"][0] == pytest.approx(factor, rel=1e-12)
    np.testing.assert_allclose(res["coef"][0] * factor, [1.0, 0.0], atol=1e-12)
    # A target on the non-targets' segment: the hulls meet, certified at any scale.
    X_bad = np.vstack([X, [[-1.0, 0.5]]])
    res = fit_hard_margin(xnp, (factor * X_bad)[None], np.r_[y, 1.0][None])
    assert res["status"][0] == 0 and np.isnan(res["margin"][0])
    assert res["distance_bound"][0] <= 1e-6 * factor * np.linalg.norm(X_bad, axis=1).max()


def test_one_padded_batch_equals_single_solves():
    """Problems settle on their own, whatever else shares their batch (a rule
    decided over the whole batch once left some problems unconverged)."""
    problems = list(grid(subset=True))
    n = max(X.shape[0] for _, X, _ in problems)
    p = max(X.shape[1] for _, X, _ in problems)
    Xb, yb = np.zeros((len(problems), n, p)), np.zeros((len(problems), n))
    for i, (_, X, y) in enumerate(problems):
        Xb[i, :X.shape[0], :X.shape[1]], yb[i, :y.size] = X, y
    batch = fit_linear_svm_working_set(xnp, Xb, yb, C=None)
    for i, (name, X, y) in enumerate(problems):
        single = fit_linear_svm_working_set(xnp, X[None], y[None], C=None)
        assert batch["status"][i] == single["status"][0] != -1, name
        if single["status"][0] == 1:
            assert np.linalg.norm(batch["coef"][i]) == pytest.approx(
                np.linalg.norm(single["coef"][0]), rel=1e-9), name
