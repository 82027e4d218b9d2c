"""K-class decoding against scikit-learn on identical folds."""

import array_api_compat.numpy as xnp
import array_api_strict
import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurolearn.decoding import (
    LDADecoder,
    LogisticDecoder,
    RidgeDecoder,
    cross_temporal,
    decode,
    decode_time,
)
from neurolearn.decoding.cv import permuted_labels, session_problem, session_seed
from neurolearn.decoding.engine import cv_class_scores
from neurolearn.errors import InsufficientDataError, ParameterError, SchemaError
from neurolearn.schema import make_session, to_tree


def _k_class_session(K, n, p, *, seed=0, separation=0.8, heldout=0, name="m1-d01", binned=0):
    """n trials of K odours (class means apart along random directions) and p units."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    rng.shuffle(y)
    means = rng.normal(size=(K, p)) * separation
    X = 5.0 + means[y] + rng.normal(size=(n, p))
    held = np.zeros(n, bool)
    if heldout:
        held[rng.choice(n, heldout, replace=False)] = True
    stimulus = np.array([f"odour{k}" for k in y])
    kw = {}
    if binned:
        kw = dict(binned=rng.poisson(2.0 + 0.8 * (means[y] > 0)[:, :, None],
                                     (n, p, binned)).astype(float),
                  time=np.arange(binned) * 0.05, bin_size=0.05)
    return make_session(X, stimulus=stimulus, label=(y == 0).astype(int), session=name,
                        mouse=name.split("-")[0], day=int(name[-2:]), phase="overtraining",
                        heldout=held, **kw)


def _sklearn_folds(prob):
    return [(np.flatnonzero(prob.train[f]), np.flatnonzero(prob.test[f]))
            for f in range(prob.train.shape[0])]


# The table of the issue: K = 2, 3, 7 and p from 4 to 500, with and without
# shrinkage. Unshrunk LDA needs p < training trials − K (scikit-learn's lsqr
# solution is not defined beyond: its covariance is singular, and it returns
# weights along rounding noise); shrinkage makes every p well-posed.
LDA_TABLE = [(K, p, shrinkage) for K in (2, 3, 7) for p in (4, 40, 150, 500)
             for shrinkage in (0.0, 0.3) if shrinkage > 0 or p < 150]


@pytest.mark.parametrize("K,p,shrinkage", LDA_TABLE)
def test_lda_decisions_equal_sklearn_on_identical_folds(K, p, shrinkage):
    n = 210
    ds = _k_class_session(K, n, p, seed=K + p)
    prob = session_problem(ds, n_folds=5, seed=1, target="stimulus", binary=False)
    Y = permuted_labels(prob, 3)
    scores = cv_class_scores(xnp, "lda", xnp.asarray(prob.X[None]), prob.train, prob.test, Y,
                             {"shrinkage": shrinkage}, n_classes=K)
    sk_shrink = None if shrinkage == 0 else shrinkage
    for q in range(Y.shape[0]):
        decisions = np.zeros((n, K if K > 2 else 1))
        for f, (tr, te) in enumerate(_sklearn_folds(prob)):
            model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
                solver="lsqr", shrinkage=sk_shrink)).fit(prob.X[tr], Y[q, tr])
            d = model.decision_function(prob.X[te])
            decisions[te] = d.reshape(te.size, -1)
            acc = np.mean(model.predict(prob.X[te]) == Y[q, te])
            assert scores.fold_accuracy[0, f, q] == acc  # identical, not close
        if q == 0:
            ours = scores.decision[0].reshape(n, -1)
            scale = np.abs(decisions).max()
            np.testing.assert_allclose(ours, decisions, rtol=0, atol=1e-10 * scale)


@pytest.mark.parametrize("K", [3, 7])
def test_unshrunk_lda_beyond_the_trials_is_the_shrinkage_limit(K):
    """p ≥ n: the decoder is sklearn's at shrinkage 1e-9 (maximal data piling)."""
    ds = _k_class_session(K, 70, 120, seed=K)
    prob = session_problem(ds, n_folds=5, seed=0, target="stimulus", binary=False)
    scores = cv_class_scores(xnp, "lda", xnp.asarray(prob.X[None]), prob.train, prob.test,
                             prob.y[None], {"shrinkage": 0.0}, n_classes=K)
    for f, (tr, te) in enumerate(_sklearn_folds(prob)):
        model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
            solver="lsqr", shrinkage=1e-9)).fit(prob.X[tr], prob.y[tr])
        assert scores.fold_accuracy[0, f, 0] == np.mean(model.predict(prob.X[te]) == prob.y[te])


@pytest.mark.parametrize("K,p", [(3, 6), (7, 20), (3, 300)])
def test_auto_shrinkage_lda_equals_sklearn(K, p):
    ds = _k_class_session(K, 140, p, seed=3)
    prob = session_problem(ds, n_folds=4, seed=2, target="stimulus", binary=False)
    scores = cv_class_scores(xnp, "lda", xnp.asarray(prob.X[None]), prob.train, prob.test,
                             prob.y[None], {"shrinkage": "auto"}, n_classes=K)
    for tr, te in _sklearn_folds(prob):
        model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
            solver="lsqr", shrinkage="auto")).fit(prob.X[tr], prob.y[tr])
        d = model.decision_function(prob.X[te])
        np.testing.assert_allclose(scores.decision[0][te], d, atol=1e-10 * np.abs(d).max())


@pytest.mark.parametrize("alpha", [1.0, 0.0])
@pytest.mark.parametrize("K", [3, 7])
def test_ridge_is_one_vs_rest_as_sklearn(K, alpha):
    ds = _k_class_session(K, 140, 12, seed=K)
    res = decode(ds, "ridge" if alpha else "lstsq", target="stimulus", n_folds=4,
                 n_permutations=2, seed=5, alpha=alpha, progress=False)
    prob = session_problem(ds, n_folds=4, seed=5, target="stimulus", binary=False)
    Y = permuted_labels(prob, 2)
    for q in range(3):
        accs = [np.mean(make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha)).fit(
            prob.X[tr], Y[q, tr]).predict(prob.X[te]) == Y[q, te])
            for tr, te in _sklearn_folds(prob)]
        ours = res["accuracy"].values[0] if q == 0 else res["null_accuracy"].values[0, q - 1]
        assert ours == pytest.approx(np.mean(accs), abs=1e-12)


@pytest.mark.parametrize("K", [3, 7])
def test_logistic_is_multinomial_as_sklearn(K):
    ds = _k_class_session(K, 140, 8, seed=K, separation=0.5)
    res = decode(ds, "logistic", target="stimulus", n_folds=4, n_permutations=0, seed=5,
                 C=0.5, progress=False)
    prob = session_problem(ds, n_folds=4, seed=5, target="stimulus", binary=False)
    accs, post = [], np.zeros(prob.y.size)
    for tr, te in _sklearn_folds(prob):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, tol=1e-10,
                                                                   max_iter=10_000))
        model.fit(prob.X[tr], prob.y[tr])
        accs.append(np.mean(model.predict(prob.X[te]) == prob.y[te]))
        post[te] = model.predict_proba(prob.X[te])[np.arange(te.size), prob.y[te].astype(int)]
    assert abs(res["accuracy"].values[0] - np.mean(accs)) <= 1e-3
    assert res["posterior_correct"].values[0] == pytest.approx(post.mean(), abs=1e-5)


def test_balanced_accuracy_confusion_and_posterior_equal_sklearn():
    K = 4
    ds = _k_class_session(K, 160, 10, seed=9, separation=0.6)
    res = decode(ds, target="stimulus", n_folds=5, n_permutations=30, seed=2, shrinkage=0.1,
                 progress=False)
    prob = session_problem(ds, n_folds=5, seed=2, target="stimulus", binary=False)
    pred, post = np.zeros(prob.y.size), np.zeros(prob.y.size)
    for tr, te in _sklearn_folds(prob):
        model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
            solver="lsqr", shrinkage=0.1)).fit(prob.X[tr], prob.y[tr])
        pred[te] = model.predict(prob.X[te])
        post[te] = model.predict_proba(prob.X[te])[np.arange(te.size), prob.y[te].astype(int)]
    assert res["balanced_accuracy"].values[0] == pytest.approx(
        balanced_accuracy_score(prob.y, pred), abs=1e-12)
    np.testing.assert_array_equal(res["confusion"].values[0], confusion_matrix(prob.y, pred))
    assert res["posterior_correct"].values[0] == pytest.approx(post.mean(), abs=1e-10)
    assert list(res["true_class"].values) == [f"odour{k}" for k in range(K)]
    assert res.attrs["chance"] == 0.25
    # The permutation null is at chance and the planted classes beat it.
    assert abs(float(res["null_balanced_accuracy"].mean()) - 0.25) < 0.05
    assert res["balanced_pvalue"].values[0] == pytest.approx(1 / 31)
    assert res["posterior_pvalue"].values[0] == pytest.approx(1 / 31)


def test_explicit_folds_reproduce_another_tools_folds():
    """Folds from a trial coord: here MATLAB-style unstratified folds, checked against sklearn."""
    K, n = 3, 90
    base = _k_class_session(K, n, 6, seed=4)
    rng = np.random.default_rng(0)
    assignment = np.resize(rng.permutation(10) + 1, n)  # 1..10 repeated, as the original
    ds = base.assign_coords(fold=("trial", assignment))
    res = decode(ds, target="stimulus", folds="fold", n_permutations=0, progress=False)
    y = np.searchsorted(np.unique(ds["stimulus"].values), ds["stimulus"].values)
    X = ds["rates"].values
    for f, value in enumerate(np.unique(assignment)):
        tr, te = assignment != value, assignment == value
        model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr"))
        acc = np.mean(model.fit(X[tr], y[tr]).predict(X[te]) == y[te])
        assert res["fold_accuracy"].values[0, f] == pytest.approx(acc, abs=1e-12)
    assert res.sizes["fold"] == 10 and "fold" in res.attrs["cv"]


def test_two_classes_of_any_target_are_the_binary_decoder(small_tree):
    """target="stimulus" with two trained odours is the label decoder, unchanged."""
    a = decode(small_tree, n_folds=5, n_permutations=10, seed=1, progress=False)
    b = decode(small_tree, target="stimulus", n_folds=5, n_permutations=10, seed=1,
               progress=False)
    np.testing.assert_array_equal(a["null_accuracy"].values, b["null_accuracy"].values)
    # "nontarget" < "target": class 1 of the stimulus decoder is the target, as label 1.
    np.testing.assert_array_equal(a["accuracy"].values, b["accuracy"].values)


def test_heldout_trials_of_untrained_classes_are_counted_not_scored():
    ds = _k_class_session(3, 120, 5, seed=1, heldout=20)
    res = decode(ds, target="stimulus", n_folds=4, n_permutations=5, progress=False)
    assert res["n_heldout"].values[0] == 20  # their odours are trained classes here
    ds2 = ds.assign_coords(stimulus=ds["stimulus"].where(~ds["heldout"], "novel"))
    res2 = decode(ds2, target="stimulus", n_folds=4, n_permutations=5, progress=False)
    assert res2["n_heldout"].values[0] == 0 and res2["n_heldout_unscored"].values[0] == 20
    assert np.isnan(res2["heldout_accuracy"].values[0])
    # Trained on ("train"), the novel odour is a fourth class.
    res3 = decode(ds2, target="stimulus", heldout="train", n_folds=4, n_permutations=5,
                  progress=False)
    assert res3["n_classes"].values[0] == 4 and res3["n_trained"].values[0] == 120


def test_bad_targets_and_folds_raise_clear_errors():
    ds = _k_class_session(3, 60, 4)
    with pytest.raises(SchemaError, match="target='odour'"):
        decode(ds, target="odour", n_permutations=0, progress=False)
    with pytest.raises(SchemaError, match="folds='split'"):
        decode(ds, target="stimulus", folds="split", n_permutations=0, progress=False)
    with pytest.raises(ParameterError, match="heldout"):
        decode(ds, heldout="ignore", n_permutations=0, progress=False)
    one_class_fold = ds.assign_coords(fold=("trial", (ds["stimulus"].values == "odour0")
                                            .astype(int)))
    no_trial = r"training fold 0 has no trial of class\(es\) \['odour1', 'odour2'\]"
    with pytest.raises(InsufficientDataError, match=no_trial):
        decode(one_class_fold, target="stimulus", folds="fold", n_permutations=0,
               progress=False)
    with pytest.raises(InsufficientDataError, match=r"few trials per class \(stimulus odour0: "):
        decode(ds.isel(trial=slice(0, 20)), target="stimulus", n_folds=10, n_permutations=0,
               progress=False)


@pytest.mark.parametrize("estimator,reference", [
    (LDADecoder(), LinearDiscriminantAnalysis(solver="lsqr")),
    (LDADecoder(shrinkage=0.2), LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.2)),
    (RidgeDecoder(alpha=2.0), RidgeClassifier(alpha=2.0)),
])
def test_estimators_with_k_classes_equal_sklearn(estimator, reference):
    ds = _k_class_session(5, 150, 7, seed=2)
    X, y = ds["rates"].values, ds["stimulus"].values.astype(str)
    ours = estimator.fit(X[:100], y[:100])
    ref = make_pipeline(StandardScaler(), reference).fit(X[:100], y[:100])
    assert ours.coef_.shape == (5, 7) and list(ours.classes_) == list(ref.classes_)
    d = ref.decision_function(X[100:])
    np.testing.assert_allclose(ours.decision_function(X[100:]), d, atol=1e-10 * abs(d).max())
    np.testing.assert_array_equal(ours.predict(X[100:]), ref.predict(X[100:]))
    if hasattr(reference, "predict_proba"):
        np.testing.assert_allclose(ours.predict_proba(X[100:]), ref.predict_proba(X[100:]),
                                   atol=1e-10)


def test_logistic_estimator_with_k_classes_matches_sklearn_posteriors():
    ds = _k_class_session(3, 150, 7, seed=2, separation=0.4)
    X, y = ds["rates"].values, ds["stimulus"].values.astype(str)
    ours = LogisticDecoder(C=1.0).fit(X[:100], y[:100])
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=1e-10,
                                                             max_iter=10_000)).fit(X[:100],
                                                                                   y[:100])
    np.testing.assert_allclose(ours.predict_proba(X[100:]), ref.predict_proba(X[100:]),
                               atol=1e-5)


def test_k_class_numpy_and_array_api_strict_agree():
    ds = _k_class_session(3, 90, 5, seed=6, heldout=12)
    # Held-out trials of a class never trained (label −1 inside the kernels).
    ds = ds.assign_coords(stimulus=ds["stimulus"].where(~ds["heldout"], "novel"))
    kw = dict(target="stimulus", n_folds=3, n_permutations=4, seed=1, progress=False)
    for method in ("lda", "ridge", "logistic"):
        a = decode(ds, method, **kw)
        b = decode(ds, method, device=array_api_strict, **kw)
        np.testing.assert_array_equal(a["null_accuracy"].values, b["null_accuracy"].values)
        np.testing.assert_allclose(a["posterior_correct"].values,
                                   b["posterior_correct"].values, rtol=1e-12)


def test_k_class_over_time_equals_sklearn_per_bin():
    ds = _k_class_session(3, 90, 5, seed=8, binned=6)
    res = decode_time(ds, target="stimulus", n_folds=3, n_permutations=3, progress=False)
    gen = cross_temporal(ds, target="stimulus", n_folds=3, progress=False)
    np.testing.assert_allclose(np.diagonal(gen.values[0]), res["accuracy"].values[0],
                               atol=1e-12)
    prob = session_problem(ds, n_folds=3, seed=0, target="stimulus", binary=False)
    rates = ds["binned"].values / 0.05
    for t in (0, 5):
        accs = [np.mean(make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
            solver="lsqr")).fit(rates[tr, :, t], prob.y[tr]).predict(rates[te, :, t])
            == prob.y[te]) for tr, te in _sklearn_folds(prob)]
        assert res["accuracy"].values[0, t] == pytest.approx(np.mean(accs), abs=1e-12)


def test_study_of_sessions_with_different_class_sets():
    a = _k_class_session(3, 90, 5, seed=1, name="m1-d01")
    b = _k_class_session(4, 120, 5, seed=2, name="m1-d02")
    res = decode(to_tree([a, b]), target="stimulus", n_folds=3, n_permutations=5,
                 progress=False)
    assert res.sizes["true_class"] == 4
    assert res["confusion"].values[0, 3].sum() == 0 and res["confusion"].values[1].sum() == 120
    assert np.isnan(res.attrs["chance"])  # K differs; per session in chance_by_session
    assert '"m1-d02": 0.25' in res.attrs["chance_by_session"]


def test_stratified_folds_are_sklearns():
    ds = _k_class_session(3, 90, 4, seed=1)
    prob = session_problem(ds, n_folds=5, seed=3, target="stimulus", binary=False)
    ref = StratifiedKFold(5, shuffle=True, random_state=session_seed(3, "m1-d01") % 2**32)
    for f, (tr, te) in enumerate(ref.split(np.arange(90), prob.y)):
        np.testing.assert_array_equal(np.flatnonzero(prob.test[f]), te)
        np.testing.assert_array_equal(np.flatnonzero(prob.train[f]), tr)


def test_dprime_takes_the_same_explicit_folds_as_decode(small_tree):
    from neurolearn.schema import iter_sessions
    from neurolearn.separation import dprime

    _, ds = next(iter_sessions(small_tree))
    default = session_problem(ds, n_folds=5, seed=2)
    assignment = np.argmax(default.test, axis=0)  # the stratified folds, written out
    explicit = ds.assign_coords(fold=("trial", assignment))
    a = dprime(ds, n_folds=5, seed=2)
    b = dprime(explicit, folds="fold")
    np.testing.assert_allclose(b.values, a.values, rtol=1e-12)
    other = explicit.assign_coords(fold=("trial", (assignment + 1) % 3))
    assert not np.allclose(dprime(other, folds="fold").values, a.values)
