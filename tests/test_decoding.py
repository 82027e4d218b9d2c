import json

import array_api_strict
import numpy as np
import pytest
from scipy import stats
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from data_loaders.synthetic import make_overtraining_dataset
from neurolearn.decoding import (
    LDADecoder,
    LeastSquaresDecoder,
    LogisticDecoder,
    RidgeDecoder,
    decode,
    permutation_pvalue,
)
from neurolearn.decoding.cv import permuted_labels, session_problem
from neurolearn.errors import InsufficientDataError
from neurolearn.schema import iter_sessions, make_session
from neurolearn.summary import phase_summary

SKLEARN = {
    "lda": lambda: LinearDiscriminantAnalysis(solver="lsqr"),
    "ridge": lambda: RidgeClassifier(alpha=1.0),
    "lstsq": lambda: RidgeClassifier(alpha=0.0),
}


def _sklearn_fold_scores(ds, method, n_folds, seed, labels):
    prob = session_problem(ds, n_folds=n_folds, seed=seed)
    splits = [(np.flatnonzero(prob.train[f]), np.flatnonzero(prob.test[f]))
              for f in range(n_folds)]
    pipe = make_pipeline(StandardScaler(), SKLEARN[method]())
    return cross_val_score(pipe, prob.X, labels, cv=splits)


@pytest.mark.parametrize("method", ["lda", "ridge", "lstsq"])
def test_fold_accuracies_identical_to_sklearn(small_tree, method):
    res = decode(small_tree, method, n_folds=5, n_permutations=6, seed=3, progress=False)
    for i, (_, ds) in enumerate(iter_sessions(small_tree)):
        prob = session_problem(ds, n_folds=5, seed=3)
        Y = permuted_labels(prob, 6)
        sk = _sklearn_fold_scores(ds, method, 5, 3, Y[0])
        np.testing.assert_array_equal(res["fold_accuracy"].values[i], sk)
        assert res["accuracy"].values[i] == pytest.approx(sk.mean(), abs=1e-12)
        for q in (1, 4, 6):  # permutations use the same folds
            sk_null = _sklearn_fold_scores(ds, method, 5, 3, Y[q]).mean()
            assert res["null_accuracy"].values[i, q - 1] == pytest.approx(sk_null, abs=1e-12)


def test_shrinkage_lda_matches_sklearn(session):
    prob = session_problem(session, n_folds=4, seed=0)
    splits = [(np.flatnonzero(prob.train[f]), np.flatnonzero(prob.test[f])) for f in range(4)]
    sk = cross_val_score(make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
        solver="lsqr", shrinkage=0.4)), prob.X, prob.y, cv=splits)
    res = decode(session, "lda", n_folds=4, n_permutations=0, shrinkage=0.4, progress=False)
    np.testing.assert_array_equal(res["fold_accuracy"].values[0], sk)


def test_logistic_matches_sklearn(small_tree):
    res = decode(small_tree, "logistic", n_folds=4, n_permutations=0, C=0.5, progress=False)
    for i, (_, ds) in enumerate(iter_sessions(small_tree)):
        prob = session_problem(ds, n_folds=4, seed=0)
        splits = [(np.flatnonzero(prob.train[f]), np.flatnonzero(prob.test[f]))
                  for f in range(4)]
        sk = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=0.5)),
                             prob.X, prob.y, cv=splits)
        np.testing.assert_allclose(res["fold_accuracy"].values[i], sk, atol=1e-3)


def test_logistic_coefficients_match_sklearn(rng):
    X = rng.normal(size=(120, 6)) * [1, 2, 3, 1, 1, 5] + [0, 1, 0, 2, 0, 0]
    y = (X[:, 0] + 0.5 * X[:, 2] + rng.normal(size=120) > 0).astype(int)
    ours = LogisticDecoder(C=2.0).fit(X, y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0, tol=1e-12, max_iter=10_000))
    pipe.fit(X, y)
    scaler, lr = pipe[0], pipe[1]
    np.testing.assert_allclose(ours.coef_[0], lr.coef_[0] / scaler.scale_, rtol=1e-4)
    np.testing.assert_allclose(ours.decision_function(X), pipe.decision_function(X), rtol=1e-4,
                               atol=1e-6)


@parametrize_with_checks([LDADecoder(), LDADecoder(shrinkage=0.3), RidgeDecoder(),
                          LeastSquaresDecoder(), LogisticDecoder()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_numpy_and_array_api_strict_agree(small_tree):
    kw = dict(n_folds=4, n_permutations=5, seed=1, progress=False)
    for method in ("lda", "ridge", "logistic"):
        a = decode(small_tree, method, **kw)
        b = decode(small_tree, method, device=array_api_strict, **kw)
        np.testing.assert_array_equal(a["fold_accuracy"].values, b["fold_accuracy"].values)
        np.testing.assert_array_equal(a["null_accuracy"].values, b["null_accuracy"].values)


def test_chunking_and_threads_do_not_change_results(small_tree):
    kw = dict(n_folds=5, n_permutations=23, seed=2, progress=False)
    a = decode(small_tree, **kw)
    b = decode(small_tree, chunk_size=4, scheduler="threads", **kw)
    np.testing.assert_array_equal(a["null_accuracy"].values, b["null_accuracy"].values)
    np.testing.assert_array_equal(a["heldout_accuracy"].values, b["heldout_accuracy"].values)
    assert a.attrs["n_permutations"] == 23 and a.attrs["neurolearn_version"]


def test_pvalue_formula():
    null = np.array([[0.4, 0.6, 0.7, 0.5]])
    np.testing.assert_allclose(permutation_pvalue(np.array([0.6]), null), [(2 + 1) / 5])


def test_generalisation_and_per_stimulus(small_tree):
    res = decode(small_tree, n_folds=5, n_permutations=0, progress=False)
    training = res["phase"] == "training"
    assert res["heldout_accuracy"].where(training).isnull().all()
    assert res["heldout_accuracy"].where(~training, drop=True).notnull().all()
    # Held-out stimulus accuracy is the generalising decoder's, checked by hand.
    _, ds = list(iter_sessions(small_tree))[-1]
    train = ~ds["heldout"].values
    pipe = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr"))
    pipe.fit(ds["rates"].values[train], ds["label"].values[train])
    held = ds.isel(trial=~train)
    pred = pipe.predict(held["rates"].values)
    assert res["heldout_accuracy"].values[-1] == pytest.approx(
        np.mean(pred == held["label"].values))
    for stim in ("probes_comp_1", "nontarget repeat two"):
        sel = held["stimulus"].values == stim
        assert res["stimulus_accuracy"].sel(stimulus=stim).values[-1] == pytest.approx(
            np.mean(pred[sel] == held["label"].values[sel]))
    assert int(res["stimulus_n_trials"].sel(stimulus="target").values[0]) > 0


def _session(n_per_class, rng, label=None):
    n = 2 * n_per_class
    return make_session(rng.normal(size=(n, 3)), stimulus=["a", "b"] * n_per_class,
                        label=label if label is not None else [1, 0] * n_per_class,
                        session="s", mouse="m", day=1, phase="training")


def test_insufficient_data(rng):
    with pytest.raises(InsufficientDataError, match="need at least 10 per class"):
        decode(_session(6, rng), progress=False)
    with pytest.raises(InsufficientDataError, match="single class"):
        decode(_session(6, rng, label=[1] * 12), n_folds=2, progress=False)
    res = decode(_session(6, rng), progress=False, skip_insufficient=True, n_permutations=5)
    assert np.isnan(res["accuracy"].values[0])
    assert "too few trials" in json.loads(res.attrs["skipped_sessions"])["s"]
    with pytest.raises(ValueError, match="`method` must be one of"):
        decode(_session(6, rng), "svm", progress=False)


def test_null_calibration():
    tree = make_overtraining_dataset(n_mice=8, null=True, seed=21)
    res = decode(tree, n_permutations=300, progress=False)
    assert res.sizes["session"] >= 200
    assert abs(float(res["accuracy"].mean()) - 0.5) < 0.015  # SE over sessions ~0.003
    ks = stats.kstest(res["pvalue"].values, "uniform")
    assert ks.pvalue > 0.01


def test_planted_decoding_rises_in_training_then_plateaus(study_tree):
    res = decode(study_tree, n_permutations=100, progress=False)
    day = res["day"].values
    acc = res["accuracy"].values
    training, over = day <= 8, day > 8
    slope_train = stats.linregress(day[training], acc[training]).slope
    slope_over = stats.linregress(day[over], acc[over]).slope
    assert slope_train > 0.02 and slope_over < slope_train / 2
    phases = phase_summary(res["accuracy"])
    assert float(phases["mean"].sel(phase="overtraining")) > float(
        phases["mean"].sel(phase="training")) + 0.05
    assert (res["pvalue"].where(over) < 0.05).sum() >= 0.9 * over.sum()
    # Flipping held-out stimuli are misclassified before their flip day, right after.
    flips = {ds["mouse"].values[0]: json.loads(ds.attrs["planted_flip_days"])
             for _, ds in iter_sessions(study_tree)}
    for mouse, stimuli in flips.items():
        for stim, flip_day in stimuli.items():
            acc_s = res["stimulus_accuracy"].sel(stimulus=stim).where(
                res["mouse"] == mouse, drop=True)
            before = float(acc_s.where(acc_s["day"] < flip_day).mean())
            after = float(acc_s.where(acc_s["day"] >= flip_day + 1).mean())
            assert before < 0.5 < after, (mouse, stim, before, after)


@pytest.mark.slow
def test_distributed_local_cluster(small_tree):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            distributed.Client(cluster) as client:
        a = decode(small_tree, n_folds=5, n_permutations=20, progress=False)
        b = decode(small_tree, n_folds=5, n_permutations=20, scheduler=client, progress=False)
    np.testing.assert_array_equal(a["null_accuracy"].values, b["null_accuracy"].values)


def test_permutations_do_not_depend_on_their_number(session):
    prob = session_problem(session, n_folds=5, seed=0)
    a, b = permuted_labels(prob, 7), permuted_labels(prob, 30)
    np.testing.assert_array_equal(a, b[:8])
    # Every fold keeps its class counts.
    for fold in prob.test:
        counts = (b[:, fold > 0]).sum(axis=1)
        assert np.all(counts == counts[0])


@pytest.mark.gpu
def test_cupy_matches_numpy(small_tree):
    cp = pytest.importorskip("cupy")
    kw = dict(n_folds=5, n_permutations=50, seed=0, progress=False)
    a = decode(small_tree, **kw)
    b = decode(small_tree, device="cuda", **kw)
    np.testing.assert_array_equal(a["null_accuracy"].values, b["null_accuracy"].values)
    est = LDADecoder(device="cuda").fit(np.random.default_rng(0).normal(size=(40, 3)),
                                        [0, 1] * 20)
    assert isinstance(est.coef_, cp.ndarray)


@pytest.mark.parametrize("n_folds", [2, 10])
@pytest.mark.parametrize("offset", [0.0, 1e8])
def test_lda_permutation_batches_match_sklearn_far_from_zero(n_folds, offset):
    """A permutation batch's decisions come from the class-1 sums of each fold's
    training rows, whose zero sum the formulas assume; with the rows re-centred
    they give scikit-learn's LDA decision values for 2 and 10 folds, even for
    rates around 1e8 with unit spread (where the fold mean of the raw values
    leaves sums of ~1e-6 SD and decisions off by ~1e-6)."""
    import array_api_compat.numpy as xnp

    from neurolearn.decoding.engine import cv_scores

    rng = np.random.default_rng(4)
    n, p, Q = 120, 6, 9
    y = np.arange(n) % 2
    X = offset + rng.normal(size=(n, p)) + 0.8 * y[:, None] * (np.arange(p) < 2)
    fold = (np.arange(n) // 2) % n_folds  # both classes in every fold
    test = np.stack([fold == f for f in range(n_folds)]).astype(float)
    train = 1.0 - test
    Y = np.stack([y] + [rng.permutation(y) for _ in range(Q - 1)]).astype(float)
    acc, dec = cv_scores(xnp, "lda", xnp.asarray(X[None]), train, test, Y, {"shrinkage": 0.0})
    for q in range(Q):
        expected_dec = np.zeros(n)
        for f in range(n_folds):
            tr, te = train[f] > 0, test[f] > 0
            model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr"))
            model.fit(X[tr], Y[q, tr])
            expected_dec[te] = model.decision_function(X[te])
            np.testing.assert_allclose(acc[0, f, q], model.score(X[te], Y[q, te]), atol=1e-12)
        if q == 0:
            np.testing.assert_allclose(dec[0], expected_dec, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("counts", [(10, 10), (7, 13), (5, 9, 6), (12, 5, 5, 8)])
def test_stratified_folds_are_sklearns(counts):
    """`stratified_test_folds` gives StratifiedKFold(shuffle=True)'s folds, seed for seed."""
    from sklearn.model_selection import StratifiedKFold

    from neurolearn.decoding.cv import stratified_test_folds
    rng = np.random.default_rng(len(counts))
    # Class values not in order of first appearance, shuffled among samples.
    y = rng.permutation(np.repeat(np.arange(len(counts))[::-1] * 3, counts))
    for n_folds in (2, 3, 5):
        for seed in (0, 1, 17, 2**32 - 1):
            theirs = np.empty(y.size, int)
            splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
            for f, (_, te) in enumerate(splitter.split(y, y)):
                theirs[te] = f
            np.testing.assert_array_equal(stratified_test_folds(y, n_folds, seed), theirs)


def test_session_folds_are_sklearns_on_trained_trials(small_tree):
    from sklearn.model_selection import StratifiedKFold

    from neurolearn.decoding.cv import session_seed
    for _, ds in list(iter_sessions(small_tree))[:4]:
        prob = session_problem(ds, n_folds=5, seed=3)
        idx = np.flatnonzero(prob.trained)
        assert prob.seed == session_seed(3, prob.session)
        seed = prob.seed % 2**32
        splits = StratifiedKFold(5, shuffle=True, random_state=seed).split(idx, prob.y[idx])
        for f, (tr, te) in enumerate(splits):
            np.testing.assert_array_equal(np.flatnonzero(prob.test[f]), idx[te])
            np.testing.assert_array_equal(np.flatnonzero(prob.train[f]), idx[tr])


@pytest.mark.parametrize(("n", "p", "shrinkage"), [
    (120, 10, 0.0), (120, 10, 0.35), (30, 45, 0.0), (30, 45, 0.6), (40, 38, "per fold")])
def test_lda_test_decisions_equal_the_fitted_weights(n, p, shrinkage):
    """Decisions from the class-1 sums alone equal X_test @ coef + intercept of `fit_lda`."""
    import array_api_compat.numpy as xnp

    from neurolearn.decoding._linear import fit_lda, lda_test_decisions
    from neurolearn.decoding.engine import test_rows
    rng = np.random.default_rng(n + p)
    B, F, Q = 2, 4, 6
    y = (np.arange(n) % 3 == 0).astype(float)  # unbalanced classes: n₀ ≠ n₁
    X = rng.normal(size=(B, n, p)) * rng.uniform(0.5, 3, p) + 2.0 + y[:, None] * 0.7
    Y = np.stack([y] + [rng.permutation(y) for _ in range(Q - 1)])
    test = (rng.permutation(n)[None, :] % F == np.arange(F)[:, None]).astype(float)
    if shrinkage == "per fold":
        shrinkage = rng.uniform(0, 0.9, (B, F))
    _, _, X_test_t = test_rows(xnp, X, test)
    ours = lda_test_decisions(xnp, X, 1.0 - test, Y, X_test_t, shrinkage=shrinkage)
    coef, intercept, _ = fit_lda(xnp, X, 1.0 - test, Y, shrinkage=shrinkage)
    direct = np.matmul(coef, X_test_t) + intercept[..., None]
    np.testing.assert_allclose(ours, direct, rtol=1e-9, atol=1e-9 * np.abs(direct).max())
    assert np.array_equal(ours > 0, direct > 0)
