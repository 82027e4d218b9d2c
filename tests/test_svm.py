import array_api_compat.numpy as xnp
import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from sklearn.svm import SVC

from neurolearn.backend import to_numpy
from neurolearn.svm import HARD_MARGIN_C, fit_linear_svm


def _problem(seed, n, p, shift):
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    X = rng.normal(size=(n, p))
    X[:, 0] += shift * y
    return X, y


def _lp_separable(X, y):
    A = -(y[:, None] * np.c_[X, np.ones(len(y))])
    res = linprog(np.zeros(X.shape[1] + 1), A_ub=A, b_ub=-np.ones(len(y)),
                  bounds=[(None, None)] * (X.shape[1] + 1), method="highs")
    return res.status == 0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(12, 80), p=st.integers(1, 8),
       shift=st.floats(2.5, 6.0))
def test_hard_margin_matches_sklearn(seed, n, p, shift):
    X, y = _problem(seed, n, p, shift)
    if not _lp_separable(X, y):
        return
    res = fit_linear_svm(xnp, X[None], y[None], C=HARD_MARGIN_C)
    assert res["converged"][0] and res["slack"].max() < 1e-6
    ours = 1 / np.linalg.norm(res["coef"][0])
    sk = SVC(kernel="linear", C=HARD_MARGIN_C, tol=1e-9).fit(X, y)
    # sklearn's hyperplane may violate constraints slightly: its geometric
    # margin is min_i y_i f(x_i) / ||w||, which the max-margin cannot beat.
    sk_margin = np.min(y * sk.decision_function(X)) / np.linalg.norm(sk.coef_)
    assert ours == pytest.approx(sk_margin, rel=1e-4)
    assert ours >= sk_margin * (1 - 1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(12, 80), p=st.integers(1, 8),
       shift=st.floats(0.0, 2.0), C=st.sampled_from([0.1, 1.0, 10.0]))
def test_soft_margin_matches_sklearn(seed, n, p, shift, C):
    X, y = _problem(seed, n, p, shift)
    res = fit_linear_svm(xnp, X[None], y[None], C=C)
    sk = SVC(kernel="linear", C=C, tol=1e-9).fit(X, y)

    def objective(w, b):
        return 0.5 * w @ w + C * np.maximum(0, 1 - y * (X @ w + b)).sum()

    ours_obj = objective(res["coef"][0], res["intercept"][0])
    sk_obj = objective(sk.coef_[0], sk.intercept_[0])
    assert ours_obj <= sk_obj * (1 + 1e-7)  # at least as optimal
    if np.linalg.norm(sk.coef_) > 1e-3:  # w = 0 is a degenerate optimum
        assert 1 / np.linalg.norm(res["coef"][0]) == pytest.approx(
            1 / np.linalg.norm(sk.coef_), rel=1e-3)


def test_batch_with_padding_equals_single_fits():
    probs = [_problem(s, n, p, 3.0) for s, n, p in ((0, 30, 2), (1, 50, 5), (2, 41, 3))]
    n, p = 50, 5
    Xb, yb = np.zeros((3, n, p)), np.zeros((3, n))
    for i, (X, y) in enumerate(probs):
        Xb[i, :X.shape[0], :X.shape[1]] = X
        yb[i, :y.size] = y
    batch = fit_linear_svm(xnp, Xb, yb, C=1.0)
    for i, (X, y) in enumerate(probs):
        single = fit_linear_svm(xnp, X[None], y[None], C=1.0)
        np.testing.assert_allclose(batch["coef"][i, :X.shape[1]], single["coef"][0], rtol=1e-7,
                                   atol=1e-9)
        assert np.all(batch["coef"][i, X.shape[1]:] == 0)


def test_array_api_strict_agrees():
    X, y = _problem(3, 40, 3, 1.0)
    a = fit_linear_svm(xnp, X[None], y[None], C=1.0)
    b = fit_linear_svm(array_api_strict, array_api_strict.asarray(X[None]),
                       array_api_strict.asarray(y[None]), C=1.0)
    np.testing.assert_allclose(to_numpy(b["coef"]), a["coef"], rtol=1e-10)


@pytest.mark.parametrize("C", [1.0, HARD_MARGIN_C])
def test_working_set_equals_full_solve(C):
    from neurolearn.svm import fit_linear_svm_working_set

    rng = np.random.default_rng(4)
    N, n, p = 40, 90, 5
    X = rng.normal(size=(N, n, p))
    y = np.where(rng.random((N, n)) < 0.5, 1.0, -1.0)
    X[..., 0] += rng.uniform(1.0, 4.0, N)[:, None] * y
    y[:5, 70:] = 0.0  # padded trials
    X[:5, 70:] = 0.0
    full = fit_linear_svm(xnp, X, y, C=C)
    ws = fit_linear_svm_working_set(xnp, X, y, C=C)
    both = full["converged"] & ws["converged"]
    assert both.mean() > 0.8
    np.testing.assert_allclose(ws["coef"][both], full["coef"][both], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ws["coef"][both], axis=1),
                               np.linalg.norm(full["coef"][both], axis=1), rtol=1e-6)
    # Padded trials' slack is meaningless (the full solver leaves them at ξ = 1).
    sep_full = full["converged"] & (np.where(y != 0, full["slack"], 0).max(1) < 1e-6)
    sep_ws = ws["converged"] & (np.where(y != 0, ws["slack"], 0).max(1) < 1e-6)
    np.testing.assert_array_equal(sep_full, sep_ws)
