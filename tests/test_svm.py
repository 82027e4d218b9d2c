import array_api_compat.numpy as xnp
import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from sklearn.svm import SVC

from neurolearn.backend import to_numpy
from neurolearn.svm import fit_linear_svm

# A soft margin this stiff is SVC's stand-in for the hard one (C → ∞).
BIG_C = 1e6


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
        # No separating hyperplane (an LP says so): the hard-margin solver must
        # say so too, rather than the test passing without a check.
        hard = fit_linear_svm(xnp, X[None], y[None], C=None)
        assert bool(hard["converged"][0]) and not bool(hard["separable"][0])
        return
    res = fit_linear_svm(xnp, X[None], y[None], C=BIG_C)
    assert res["converged"][0] and res["slack"].max() < 1e-6
    ours = 1 / np.linalg.norm(res["coef"][0])
    sk = SVC(kernel="linear", C=BIG_C, tol=1e-9).fit(X, y)
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


@pytest.mark.parametrize("C, shift", [(1.0, 1.0), (None, 4.0), (None, 0.5)])
def test_array_api_strict_agrees(C, shift):
    X, y = _problem(3, 40, 3, shift)
    a = fit_linear_svm(xnp, X[None], y[None], C=C)
    b = fit_linear_svm(array_api_strict, array_api_strict.asarray(X[None]),
                       array_api_strict.asarray(y[None]), C=C)
    np.testing.assert_allclose(to_numpy(b["coef"]), a["coef"], rtol=1e-10)
    if C is None:  # one separable problem, one not
        assert bool(to_numpy(b["separable"])[0]) == bool(a["separable"][0]) == (shift > 2)


@pytest.mark.parametrize("C", [1.0, BIG_C])
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
    # Every problem converges in both solvers: no unconverged answer is let through.
    assert full["converged"].all() and ws["converged"].all()
    both = full["converged"] & ws["converged"]

    def objective(res):
        margin = y * (np.einsum("knp,kp->kn", X, res["coef"]) + res["intercept"][:, None])
        hinge = np.where(y != 0, np.maximum(0.0, 1.0 - margin), 0.0)
        return 0.5 * np.sum(res["coef"] ** 2, axis=1) + C * hinge.sum(axis=1)

    # The same optimum: equal objectives everywhere (at C = 1e6 the
    # non-separable problems' w is ill-conditioned in the objective, so their
    # coefficients are compared through it).
    np.testing.assert_allclose(objective(ws)[both], objective(full)[both], rtol=1e-6)
    # Padded trials' slack is meaningless.
    sep_full = full["converged"] & (np.where(y != 0, full["slack"], 0).max(1) < 1e-6)
    sep_ws = ws["converged"] & (np.where(y != 0, ws["slack"], 0).max(1) < 1e-6)
    np.testing.assert_array_equal(sep_full, sep_ws)
    well = both & (sep_full if C == BIG_C else True)
    np.testing.assert_allclose(ws["coef"][well], full["coef"][well], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ws["coef"][well], axis=1),
                               np.linalg.norm(full["coef"][well], axis=1), rtol=1e-6)


def test_soft_working_set_mixes_whole_and_working_set_problems():
    # Overlapping classes (most trials are support vectors) are solved whole,
    # well-separated ones on working sets; the merged batch keeps each
    # problem's own optimum, in its own row, equal to libsvm's.
    from neurolearn.svm import fit_linear_svm_working_set
    from neurolearn.svm.working_set import _DENSE_SUPPORT, _fisher_scores

    rng = np.random.default_rng(11)
    N, n, p = 16, 150, 4
    X = rng.normal(size=(N, n, p))
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * np.ones((N, 1))
    shift = np.where(np.arange(N) % 2 == 0, 0.6, 4.5)  # dense, sparse, dense, ...
    X[..., 0] += shift[:, None] * y
    y[:4, 120:], X[:4, 120:] = 0.0, 0.0  # padded trials in both kinds
    score = _fisher_scores(X, y)
    wrong = np.sum((y != 0) & (score < 0), axis=1) / np.sum(y != 0, axis=1)
    np.testing.assert_array_equal(wrong > _DENSE_SUPPORT, shift < 1)
    ws = fit_linear_svm_working_set(xnp, X, y, C=1.0)
    full = fit_linear_svm(xnp, X, y, C=1.0)
    assert ws["converged"].all() and ws["n_rounds"] >= 1
    np.testing.assert_allclose(ws["coef"], full["coef"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ws["intercept"], full["intercept"], rtol=1e-6, atol=1e-8)
    valid = y != 0
    np.testing.assert_allclose(ws["slack"][valid], full["slack"][valid], atol=1e-6)
    for k in range(N):
        Xk, yk = X[k][valid[k]], y[k][valid[k]]
        sk = SVC(kernel="linear", C=1.0, tol=1e-10).fit(Xk, yk)
        np.testing.assert_allclose(ws["coef"][k], sk.coef_[0], rtol=1e-4, atol=1e-5)
        assert ws["intercept"][k] == pytest.approx(sk.intercept_[0], abs=1e-4)


def test_merged_puts_each_result_in_its_problems_row():
    from neurolearn.svm.working_set import _merged

    first = np.array([True, False, False, True, False])
    on_first = {"coef": np.array([[0.0, 0.5], [3.0, 3.5]]), "converged": np.array([True, False]),
                "n_rounds": 1}
    on_rest = {"coef": np.array([[1.0, 1.5], [2.0, 2.5], [4.0, 4.5]]),
               "converged": np.array([True, True, True]), "n_rounds": 3}
    out = _merged(first, on_first, on_rest)
    np.testing.assert_array_equal(out["coef"][:, 0], [0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(out["converged"], [True, True, True, False, True])
    assert out["n_rounds"] == 3
    assert _merged(first, on_first, None) is on_first


def _kkt_violation(X, y, C, w, b, alpha):
    """Largest violation of the SVM's optimality (KKT) conditions, a closed-form check."""
    margin = y * (X @ w + b)
    stationarity = np.max(np.abs(w - (alpha * y) @ X))
    balance = abs(alpha @ y)
    feasible = np.max(np.maximum(0.0, -alpha)) + np.max(np.maximum(0.0, alpha - C))
    # α = 0 off the margin (yf > 1), α = C inside it (yf < 1).
    slack_ok = np.max(np.where(alpha < C * (1 - 1e-9), np.maximum(0.0, 1 - margin), 0.0))
    off = np.max(np.where(margin > 1 + 1e-9, alpha, 0.0))
    return max(stationarity, balance, feasible, slack_ok, off / (1 + alpha.max()))


@pytest.mark.parametrize("C, shift", [(BIG_C, 4.0), (1.0, 1.0), (0.1, 0.5)])
def test_crossover_solutions_are_exact(C, shift, monkeypatch):
    import neurolearn.svm.soft_margin as soft

    probs = [_problem(s, 60, 6, shift) for s in range(20)]
    X, y = np.stack([p[0] for p in probs]), np.stack([p[1] for p in probs])
    exact = fit_linear_svm(xnp, X, y, C=C)
    assert exact["converged"].all()
    # The crossover ends problems at machine precision: KKT holds to ~1e-10,
    # far inside the interior-point tolerance.
    worst = max(_kkt_violation(X[k], y[k], C, exact["coef"][k], exact["intercept"][k],
                               exact["dual"][k]) for k in range(len(probs)))
    assert worst < 1e-8
    monkeypatch.setattr(soft, "_CROSSOVER_BELOW", -1.0)  # Newton steps only
    newton = fit_linear_svm(xnp, X, y, C=C)
    assert newton["n_iter"] > exact["n_iter"]
    np.testing.assert_allclose(exact["coef"], newton["coef"], rtol=1e-4, atol=1e-5)


def _libsvm_partition(X, y, C):
    """libsvm's optimum at tol 1e-12 and its partition: free (0 < α < C) and
    at-bound (α = C) trials."""
    sk = SVC(kernel="linear", C=C, tol=1e-12).fit(X, y)
    alpha = np.zeros(len(y))
    alpha[sk.support_] = np.abs(sk.dual_coef_[0])
    free = (alpha > 1e-8 * C) & (alpha < C * (1 - 1e-8))
    return sk, alpha, free, alpha >= C * (1 - 1e-8)


def _constraint_rows(X, y):
    return (np.c_[X, np.ones(len(y))] * y[:, None])[None], np.ones((1, len(y)))


@pytest.mark.parametrize("C, shift", [(BIG_C, 3.0), (1.0, 1.0)])
def test_partition_optimum_rejects_a_wrong_partition(C, shift):
    from neurolearn.svm.soft_margin import _partition_optimum

    X, y = _problem(3, 60, 3, shift)
    sk, alpha, free, at_bound = _libsvm_partition(X, y, C)
    assert free.sum() <= 4 and (C < BIG_C) == bool(at_bound.any())
    A, bound = _constraint_rows(X, y)
    z, xi, lam, margin, ok = _partition_optimum(xnp, A, bound, C, free[None], at_bound[None],
                                                1e-9)
    assert ok[0]
    np.testing.assert_allclose(z[0, :3], sk.coef_[0], rtol=1e-5)
    np.testing.assert_allclose(lam[0], alpha, atol=1e-5 * C)
    np.testing.assert_allclose(xi[0], np.maximum(0.0, 1.0 - y * sk.decision_function(X)),
                               atol=1e-5)
    # One free support vector dropped from the guess: its constraint breaks.
    wrong = free.copy()
    wrong[np.flatnonzero(free)[0]] = False
    *_, ok_wrong = _partition_optimum(xnp, A, bound, C, wrong[None], at_bound[None], 1e-9)
    assert not ok_wrong[0]
    # Three trials near the margin guessed free as well: more free trials
    # than unknowns (w, b) overdetermine the margins, so not an optimum.
    extra = free.copy()
    extra[np.argsort(np.abs(y * sk.decision_function(X) - 1.0) + 10.0 * free)[:3]] = True
    assert extra.sum() == free.sum() + 3 > 4
    *_, ok_extra = _partition_optimum(xnp, A, bound, C, extra[None], at_bound[None], 1e-9)
    assert not ok_extra[0]


@pytest.mark.parametrize("namespace", ["numpy", "strict"])
@pytest.mark.parametrize("C, shift", [(BIG_C, 3.0), (1.0, 1.0)])
def test_crossover_corrects_a_guess_one_trial_off(C, shift, namespace, monkeypatch):
    import neurolearn.svm.soft_margin as soft

    xp = array_api_strict if namespace == "strict" else xnp

    X, y = _problem(4, 60, 3, shift)
    sk, alpha, free, at_bound = _libsvm_partition(X, y, C)
    A, bound = _constraint_rows(X, y)
    # An interior-point-like state one trial off: a free support vector
    # guessed off the margin (hard) or at the bound (soft).
    guess_free, guess_bound = free.copy(), at_bound.copy()
    missed = np.flatnonzero(free)[1]
    guess_free[missed] = False
    guess_bound[missed] = C < BIG_C
    lam = np.where(guess_free, 0.5 * min(C, 1.0), np.where(guess_bound, C * (1 - 1e-6), 1e-6))
    s = np.where(guess_free | guess_bound, 1e-6, 1.0)
    mu = C - lam
    xi = np.where(guess_bound, 1.0, 1e-9)
    state = tuple(xp.asarray(v[None]) for v in (xi, s, lam, mu))
    A, bound = xp.asarray(A), xp.asarray(bound)
    monkeypatch.setattr(soft, "_CROSSOVER_PASSES", 1)
    assert soft._crossover(xp, A, bound, C, state, 1e-9) == []
    monkeypatch.setattr(soft, "_CROSSOVER_PASSES", 3)
    (rows, z, xi_x, lam_x), = soft._crossover(xp, A, bound, C, state, 1e-9)
    z, lam_x = to_numpy(z), to_numpy(lam_x)
    assert rows.tolist() == [0]
    np.testing.assert_allclose(z[0, :3], sk.coef_[0], rtol=1e-5)
    np.testing.assert_allclose(z[0, 3], sk.intercept_[0], atol=1e-5)
    np.testing.assert_allclose(lam_x[0], alpha, atol=1e-5 * C)


def test_padding_costs_no_extra_iterations_at_hard_margin():
    # Padded trials are constraints that always hold; were they unmeetable
    # (0 ≥ 1 − ξ), their multipliers would have to climb to C = 1e6.
    probs = [_problem(s, 60, 4, 4.0) for s in range(10)]
    X, y = np.stack([p[0] for p in probs]), np.stack([p[1] for p in probs])
    plain = fit_linear_svm(xnp, X, y, C=BIG_C)
    Xp, yp = np.zeros((10, 90, 4)), np.zeros((10, 90))
    Xp[:, :60], yp[:, :60] = X, y
    padded = fit_linear_svm(xnp, Xp, yp, C=BIG_C)
    assert padded["n_iter"] <= plain["n_iter"] + 2
    np.testing.assert_allclose(padded["coef"], plain["coef"], rtol=1e-6, atol=1e-8)
    assert np.all(padded["slack"][:, 60:] < 1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(12, 80), p=st.integers(1, 8),
       shift=st.floats(0.0, 6.0))
def test_hard_margin_is_separable_exactly_when_an_lp_is_feasible(seed, n, p, shift):
    X, y = _problem(seed, n, p, shift)
    hard = fit_linear_svm(xnp, X[None], y[None], C=None)
    assert hard["converged"][0] and hard["status"][0] in (0, 1)
    # Separable means feasible (HiGHS's LP: some (w, b) with y(w·x + b) ≥ 1).
    assert bool(hard["separable"][0]) == _lp_separable(X, y)
    if not hard["separable"][0]:
        assert np.isnan(hard["coef"][0]).all() and hard["status"][0] == 0
        return
    margin = y * (X @ hard["coef"][0] + hard["intercept"][0])
    assert margin.min() >= 1 - 1e-10
    # Where the C = 1e6 soft margin has no slack it solves the same problem: the
    # same margin, and no hyperplane of it separates better (the soft solver
    # stops at tol 1e-9, so its coefficients lag near degenerate supports).
    soft = fit_linear_svm(xnp, X[None], y[None], C=BIG_C)
    if soft["converged"][0] and soft["slack"].max() < 1e-9:
        ours = 1 / np.linalg.norm(hard["coef"][0])
        w_soft = soft["coef"][0]
        geometric = np.min(y * (X @ w_soft + soft["intercept"][0])) / np.linalg.norm(w_soft)
        assert ours >= geometric * (1 - 1e-12)
        assert ours == pytest.approx(1 / np.linalg.norm(w_soft), rel=1e-6)


def test_hard_margin_working_set_and_padding():
    from neurolearn.svm import fit_linear_svm_working_set

    rng = np.random.default_rng(5)
    N, n, p = 60, 120, 6
    X = rng.normal(size=(N, n, p))
    y = np.where(rng.random((N, n)) < 0.5, 1.0, -1.0)
    X[..., 0] += rng.uniform(1.0, 5.0, N)[:, None] * y  # some separable, some not
    y[:6, 90:] = 0.0  # padded trials and units
    X[:6, 90:] = 0.0
    X[6:12, :, 4:] = 0.0
    full = fit_linear_svm(xnp, X, y, C=None)
    ws = fit_linear_svm_working_set(xnp, X, y, C=None)
    assert full["converged"].all() and ws["converged"].all()
    np.testing.assert_array_equal(ws["separable"], full["separable"])
    assert 0.2 < ws["separable"].mean() < 0.9
    sep = ws["separable"]
    np.testing.assert_allclose(ws["coef"][sep], full["coef"][sep], rtol=1e-6, atol=1e-8)
    assert np.all(ws["coef"][6:12, 4:][sep[6:12]] == 0)
    np.testing.assert_array_equal(ws["status"], np.where(sep, 1, 0))
    sk = [SVC(kernel="linear", C=BIG_C, tol=1e-10).fit(X[k][y[k] != 0], y[k][y[k] != 0])
          for k in np.flatnonzero(sep)[:10]]
    for k, model in zip(np.flatnonzero(sep)[:10], sk, strict=True):
        assert 1 / np.linalg.norm(ws["coef"][k]) == pytest.approx(
            1 / np.linalg.norm(model.coef_), rel=1e-4)
    for k in np.flatnonzero(~sep):
        assert not _lp_separable(X[k][y[k] != 0], y[k][y[k] != 0])


def test_warm_start_from_a_support_is_the_full_optimum_or_declines():
    """fit_from_support given the true support (and extra trials) returns the
    interior-point optimum exactly; given a support that misses the optimum's
    by more than its corrections can mend, it declines rather than guesses."""
    from neurolearn.svm.hard_margin import fit_from_support, fit_hard_margin

    rng = np.random.default_rng(11)
    N, n, p = 12, 80, 6
    X = rng.normal(size=(N, n, p))
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :].repeat(N, 0)
    X[..., 0] += 3.0 * y
    full = fit_hard_margin(xnp, X, y)
    assert full["separable"].all()
    support = full["dual"] > 1e-9 * full["dual"].max(axis=1, keepdims=True)
    extra = support | (rng.random((N, n)) < 0.1)  # ~8 trials too many, dropped one a round
    for guess, rounds in ((support, 1), (extra, 40)):
        warm = fit_from_support(xnp, X, y, guess, rounds=rounds)
        assert warm["accepted"].all()
        np.testing.assert_allclose(warm["margin"], full["margin"], rtol=1e-10)
        np.testing.assert_allclose(warm["coef"], full["coef"], rtol=1e-8, atol=1e-12)
    # Only the class means' nearest trial of one class: not the optimum, and
    # whatever is not verified optimal is not accepted.
    poor = np.zeros((N, n), bool)
    poor[:, :2] = True
    warm = fit_from_support(xnp, X, y, poor, rounds=1)
    margins = y * (np.einsum("knp,kp->kn", X, warm["coef"]) + warm["intercept"][:, None])
    accepted = warm["accepted"]
    assert (margins[accepted] >= 1 - 1e-9).all()
    np.testing.assert_allclose(warm["margin"][accepted], full["margin"][accepted], rtol=1e-10)
    assert not accepted.all()


@pytest.mark.parametrize("namespace", ["numpy", "strict"])
def test_dual_active_set_is_the_interior_point_optimum_or_declines(namespace):
    """fit_active_set (Goldfarb-Idnani from one trial per class, or from the
    support of a subset's optimum) gives the interior-point margins to 1e-10
    on every separable problem it accepts, accepts all well-separated ones,
    and never accepts a problem whose classes overlap (planted: the same
    trials with some labels flipped)."""
    from neurolearn.svm.hard_margin import fit_active_set, fit_hard_margin

    rng = np.random.default_rng(5)
    N, n, p = 16, 120, 5
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :].repeat(N, 0)
    X = rng.normal(size=(N, n, p))
    X[..., 0] += np.linspace(2.5, 5.0, N)[:, None] * y  # gaps from narrow to wide
    y[N - 3:, :6] *= -1  # the last three overlap
    full = fit_hard_margin(xnp, X, y)
    assert full["separable"].sum() == N - 3
    sep = full["separable"]
    xp = array_api_strict if namespace == "strict" else xnp
    # The optimum over the first 60 trials: dual feasible for the whole problem.
    sub = fit_hard_margin(xnp, X[:, :60], y[:, :60])
    support = np.zeros((N, n), bool)
    support[:, :60] = sub["dual"] > 0
    # And from that optimum itself (multipliers and intercept, in X's units),
    # as the working-set driver starts it, on the subsets that are separable.
    rows = np.flatnonzero(sub["separable"])
    dual = np.zeros((N, n))
    dual[:, :60] = sub["dual"]
    for start, warm in ((None, None), (support, None), (support, (dual, sub["intercept"]))):
        keep = np.arange(N) if warm is None else rows
        res = fit_active_set(xp, xp.asarray(X[keep]), xp.asarray(y[keep]),
                             support=None if start is None else xp.asarray(start[keep]),
                             start=None if warm is None else tuple(xp.asarray(a[keep])
                                                                   for a in warm))
        ok = res["accepted"]
        assert not ok[~sep[keep]].any()
        assert ok[sep[keep]].all()
        np.testing.assert_allclose(to_numpy(res["margin"])[ok], full["margin"][keep][ok],
                                   rtol=1e-10)
        coef = to_numpy(res["coef"])[ok]
        margins = y[keep][ok] * (np.einsum("knp,kp->kn", X[keep][ok], coef)
                                 + to_numpy(res["intercept"])[ok][:, None])
        assert margins.min() >= 1 - 1e-10
        # The multipliers are those of the optimum: w = Σλᵢyᵢxᵢ.
        lam = to_numpy(res["dual"])[ok]
        np.testing.assert_allclose(np.einsum("kn,knp->kp", lam * y[keep][ok], X[keep][ok]),
                                   coef, atol=1e-9)


@pytest.mark.parametrize("m", [5, 150])
def test_spd_solver_equals_solve_on_every_backend(m):
    import array_api_compat.numpy as xp

    from neurolearn.backend import spd_solver

    rng = np.random.default_rng(m)
    A = rng.normal(size=(4, m, m))
    A = A @ A.transpose(0, 2, 1) + m * np.eye(m)
    B = rng.normal(size=(4, m, 3))
    expected = np.linalg.solve(A, B)
    np.testing.assert_allclose(spd_solver(xp, A)(B), expected, rtol=1e-10, atol=1e-12)
    strict = spd_solver(array_api_strict, array_api_strict.asarray(A))
    np.testing.assert_allclose(to_numpy(strict(array_api_strict.asarray(B))), expected,
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        spd_solver(xp, -A)
    # A + diag(d) without forming it: the same solves on both paths.
    d = rng.uniform(0.5, 2.0, size=(4, m))
    shifted = np.linalg.solve(A + np.eye(m) * d[:, None, :], B)
    np.testing.assert_allclose(spd_solver(xp, A, diagonal=d)(B), shifted, rtol=1e-10, atol=1e-12)
    strict_d = spd_solver(array_api_strict, array_api_strict.asarray(A),
                          diagonal=array_api_strict.asarray(d))
    np.testing.assert_allclose(to_numpy(strict_d(array_api_strict.asarray(B))), shifted,
                               rtol=1e-10, atol=1e-12)


def test_dual_active_set_out_of_steps_keeps_what_it_finished():
    """With its step budget cut short, fit_active_set returns the problems it
    finished (exactly the interior-point margins) and leaves the rest
    undecided, whatever step the budget ends on (problems retire at
    different steps)."""
    from neurolearn.svm.hard_margin import fit_active_set, fit_hard_margin

    rng = np.random.default_rng(5)
    N, n, p = 16, 120, 5
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :].repeat(N, 0)
    X = rng.normal(size=(N, n, p))
    X[..., 0] += np.linspace(2.5, 5.0, N)[:, None] * y
    full = fit_hard_margin(xnp, X, y)
    accepted = []
    for max_steps in range(1, 15):
        res = fit_active_set(xnp, X, y, max_steps=max_steps)
        ok = res["accepted"]
        np.testing.assert_allclose(res["margin"][ok], full["margin"][ok], rtol=1e-10)
        assert np.isnan(res["margin"][~ok]).all()
        accepted.append(int(ok.sum()))
    assert accepted == sorted(accepted) and 0 < accepted[-1] == N


@pytest.mark.parametrize("namespace", ["numpy", "strict"])
def test_dual_active_set_on_slots_drops_and_matches_the_interior_point(namespace):
    """From one trial per class on subset-shaped problems (8 units, up to 150
    trials, padded), the slot-based steps with their carried KKT inverse
    give the interior-point margins to 1e-10 on every problem, including
    ones whose first pair is not in the final support (so an active trial had
    to leave: the reverse bordering update), and multipliers with w = Σλᵢyᵢxᵢ."""
    from neurolearn.svm.hard_margin import _closest_pair, _scaled, fit_active_set, fit_hard_margin

    rng = np.random.default_rng(11)
    N, n, p = 60, 150, 8
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :].repeat(N, 0)
    X = rng.normal(size=(N, n, p))
    X[..., 0] += np.linspace(3.0, 6.0, N)[:, None] * y
    for k in range(0, N, 3):  # some problems padded with junk trials
        y[k, 100 + k % 40:] = 0.0
    full = fit_hard_margin(xnp, X, y)
    assert full["separable"].all()
    xp = array_api_strict if namespace == "strict" else xnp
    res = fit_active_set(xp, xp.asarray(X), xp.asarray(y))
    ok = res["accepted"]
    assert ok.all()
    np.testing.assert_allclose(to_numpy(res["margin"]), full["margin"], rtol=1e-10)
    lam = to_numpy(res["dual"])
    assert (lam >= 0).all() and (lam[y == 0] == 0).all()
    np.testing.assert_allclose(np.einsum("kn,knp->kp", lam * y, X), to_numpy(res["coef"]),
                               atol=1e-9)
    E, _, G, _ = _scaled(xnp, X, y)
    first = _closest_pair(xnp, G, E)
    assert (first & (lam == 0)).any(axis=1).sum() >= 3  # (4 of 60 with this seed)


def test_soft_margin_blocks_give_the_one_batch_answer(monkeypatch):
    """On the CPU the soft-margin solve runs in cache-sized blocks of problems:
    the answer is the one batch's, problem by problem (blocks of 7 problems,
    the last one short), and libsvm's."""
    import neurolearn.svm.soft_margin as sm

    rng = np.random.default_rng(3)
    N, n, p = 40, 60, 3
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :].repeat(N, 0)
    X = rng.normal(size=(N, n, p)) + 0.8 * y[..., None] * [1.0, 0.0, 0.0]
    whole = sm.fit_soft_margin(xnp, X, y, C=1.0, max_iter=80, tol=1e-9)
    monkeypatch.setattr(sm, "_BLOCK_ENTRIES", 7 * n)
    blocks = sm.fit_soft_margin(xnp, X, y, C=1.0, max_iter=80, tol=1e-9)
    assert blocks["converged"].all()
    for key in ("coef", "intercept", "dual", "slack"):
        np.testing.assert_allclose(blocks[key], whole[key], rtol=1e-6, atol=1e-8)
    ref = SVC(kernel="linear", C=1.0, tol=1e-10).fit(X[-1], y[-1])
    np.testing.assert_allclose(blocks["coef"][-1], ref.coef_[0], atol=1e-5)
