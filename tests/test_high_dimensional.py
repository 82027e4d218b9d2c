"""Sessions with as many units as trials, or more: decoders and margins stay exact and quiet.

At p ≥ n − 1 (units ≥ training trials − 1) the pooled within-class
covariance S_w is singular along the mean difference: the classes lie on two
parallel hyperplanes. Unshrunk LDA is then the limit shrinkage → 0+, the
"maximal data piling" direction; that is what
``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=1e-9)`` returns. The
unshrunk lsqr solution of scikit-learn is not a reference there: its weights
reach ~1e13 along rounding-noise directions, and a 1e-13 relative change of
the data moves its test accuracy from 0.62 to 0.39 (measured, p = 80, n = 54).

Measured on this file's sessions (10 folds; mean CV accuracy; a
RuntimeWarning fails the suite, and none is raised):

===  ===  ================================  =====================
n    p    sklearn, shrinkage 1e-9 / ours     sklearn, unshrunk lsqr
===  ===  ================================  =====================
60   4    0.783 / 0.783                      0.783
60   45   0.467 / 0.467                      0.467
60   53   0.550 / 0.550                      0.483
60   58   0.467 / 0.467                      0.533
60   80   0.650 / 0.650                      0.567
60   200  0.667 / 0.667                      0.483
60   500  0.517 / 0.517                      0.583
200  53   0.675 / 0.675                      0.675
200  199  0.555 / 0.555                      0.515
200  500  0.550 / 0.550                      0.475
===  ===  ================================  =====================
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurolearn.decoding import LDADecoder, decode
from neurolearn.decoding.cv import session_problem
from neurolearn.margins import heldout_margin, svm_margin
from neurolearn.schema import make_session

SHAPES = [(60, p) for p in (4, 20, 45, 53, 58, 80, 200, 500)] + [
    (200, p) for p in (4, 53, 80, 199, 200, 500)]


def _session(n, p, seed=0):
    rng = np.random.default_rng([seed, n, p])
    y = np.arange(n) % 2
    X = rng.normal(size=(n, p))
    X[:, :3] += 0.8 * (y[:, None] - 0.5)
    return make_session(X, stimulus=np.where(y, "t", "n"), label=y, session=f"n{n}p{p}",
                        mouse="m", day=1, phase="training"), X, y


def _sklearn_cv(ds, X, y, estimator):
    prob = session_problem(ds, n_folds=10, seed=0)
    acc = []
    for f in range(10):
        tr, te = prob.train[f] > 0, prob.test[f] > 0
        model = make_pipeline(StandardScaler(), estimator).fit(X[tr], y[tr])
        acc.append(np.mean(model.predict(X[te]) == y[te]))
    return np.array(acc)


@pytest.mark.parametrize("n, p", SHAPES)
def test_lda_equals_sklearn_at_every_dimension(n, p):
    ds, X, y = _session(n, p)
    ours = decode(ds, n_permutations=20, progress=False)
    ref = _sklearn_cv(ds, X, y, LinearDiscriminantAnalysis(solver="lsqr", shrinkage=1e-9))
    np.testing.assert_array_equal(ours["fold_accuracy"].values[0], ref)
    assert np.isfinite(ours["null_accuracy"].values).all()
    # With real shrinkage the problem is well posed at every p: the same folds agree.
    shrunk = decode(ds, n_permutations=0, shrinkage=0.3, progress=False)
    ref = _sklearn_cv(ds, X, y, LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.3))
    np.testing.assert_array_equal(shrunk["fold_accuracy"].values[0], ref)


@pytest.mark.parametrize("n, p", [(60, 4), (60, 58), (60, 500), (200, 15), (200, 500)])
def test_ledoit_wolf_lda_equals_sklearn(n, p):
    """``shrinkage="auto"``: each class's Ledoit–Wolf coefficient, as scikit-learn's
    ``shrinkage="auto"``, for the true labels and for permuted ones (whose
    coefficients differ), fold by fold."""
    ds, X, y = _session(n, p)
    ours = decode(ds, n_permutations=3, shrinkage="auto", progress=False)
    ref = _sklearn_cv(ds, X, y, LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    np.testing.assert_array_equal(ours["fold_accuracy"].values[0], ref)
    assert ours.attrs["shrinkage"] == "auto"
    # The kernel's decision values themselves, for a permuted label vector.
    from neurolearn.decoding._linear import fit_lda

    prob = session_problem(ds, n_folds=10, seed=0)
    Y = np.stack([y, np.random.default_rng(1).permutation(y)]).astype(float)
    coef, intercept, delta = fit_lda(np, X[None], prob.train, Y, shrinkage="auto")
    for f in (0, 9):
        tr = prob.train[f] > 0
        model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
            solver="lsqr", shrinkage="auto")).fit(X[tr], Y[1][tr])
        np.testing.assert_allclose(X @ coef[0, f, 1] + intercept[0, f, 1],
                                   model.decision_function(X), rtol=1e-9, atol=1e-9)
    assert ((delta > 0) & (delta <= 1)).all()


def test_ledoit_wolf_estimator_and_contract():
    ds, X, y = _session(60, 120)
    ours = LDADecoder(shrinkage="auto").fit(X[:40], y[:40])
    ref = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
        solver="lsqr", shrinkage="auto")).fit(X[:40], y[:40])
    np.testing.assert_allclose(ours.decision_function(X[40:]), ref.decision_function(X[40:]),
                               rtol=1e-9, atol=1e-9)
    assert LDADecoder(shrinkage="auto").get_params()["shrinkage"] == "auto"
    from neurolearn.errors import ParameterError

    with pytest.raises(ParameterError, match="shrinkage.*'auto'"):
        decode(ds, shrinkage="oas", progress=False)


@pytest.mark.parametrize("n, p", [(60, 80), (60, 500), (200, 500)])
def test_ridge_and_logistic_at_p_above_n(n, p):
    ds, X, y = _session(n, p)
    ridge = decode(ds, "ridge", n_permutations=0, progress=False)
    np.testing.assert_array_equal(ridge["fold_accuracy"].values[0],
                                  _sklearn_cv(ds, X, y, RidgeClassifier(alpha=1.0)))
    logistic = decode(ds, "logistic", n_permutations=0, progress=False)
    ref = _sklearn_cv(ds, X, y, LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000))
    assert np.max(np.abs(logistic["fold_accuracy"].values[0] - ref)) <= 1e-3 + 1 / (n / 10)
    assert abs(float(logistic["accuracy"].values[0]) - ref.mean()) <= 1e-3 + 1 / n


@settings(max_examples=25, deadline=None)
@given(n=st.integers(16, 80), p=st.integers(1, 300), seed=st.integers(0, 10_000),
       shrinkage=st.sampled_from([0.0, 0.2]))
def test_lda_estimator_over_shapes(n, p, seed, shrinkage):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, p)) + 0.7 * y[:, None] * (np.arange(p) < 2)
    Xt = rng.normal(size=(50, p))
    ours = LDADecoder(shrinkage=shrinkage).fit(X, y)
    ref = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
        solver="lsqr", shrinkage=shrinkage or 1e-9)).fit(X, y)
    scores = ours.decision_function(Xt)
    assert np.isfinite(scores).all()
    clear = np.abs(scores) > 1e-6 * np.max(np.abs(scores))  # exact ties excepted
    np.testing.assert_array_equal(ours.predict(Xt)[clear], ref.predict(Xt)[clear])


@pytest.mark.parametrize("n, p", [(60, 59), (60, 80), (60, 300)])
def test_margins_at_p_above_n(n, p):
    ds, _, _ = _session(n, p)
    hard = svm_margin(ds, progress=False)
    # n points in general position in p ≥ n − 1 dimensions are always separable.
    assert bool(hard["separable"].all()) and np.isfinite(hard["margin"].values).all()
    held = heldout_margin(ds, progress=False)
    assert np.isfinite(held["heldout_margin"].values).all()
