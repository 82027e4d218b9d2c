import array_api_strict
import numpy as np
import pytest
import xarray as xr
from scipy import stats
from sklearn.svm import SVC

from data_loaders.synthetic import make_overtraining_dataset
from neurolearn.decoding import decode
from neurolearn.errors import InsufficientDataError
from neurolearn.margins import heldout_margin, signed_margins, svm_margin
from neurolearn.schema import iter_sessions, make_session, to_tree
from neurolearn.separation import dprime, fisher_separation
from neurolearn.summary import normalize_per_mouse, stimulus_flips
from neurolearn.trends import day_trend


def _gt(tree, key="planted_margin_per_unit"):
    return np.array([ds.attrs[key] for _, ds in iter_sessions(tree)])


def test_recovers_planted_margin_growth(study_tree):
    res = heldout_margin(study_tree, n_units=4, n_subsamples=10, progress=False)
    rho = stats.spearmanr(res["heldout_margin"].values, _gt(study_tree)).statistic
    assert rho >= 0.8
    # Two mice: the sessions' trend (the margin's growth), not inference about mice.
    trend = day_trend(res["heldout_margin"], method="sessions", seed=1)
    assert float(trend["slope"]) > 0 and float(trend["ci_low"]) > 0
    assert float(trend["pvalue"]) < 0.01
    per_mouse = day_trend(res["heldout_margin"], seed=1)["mouse_slope"]
    assert (per_mouse > 0).all()


def test_hidden_learning_is_visible_in_margins_not_accuracy():
    tree = make_overtraining_dataset(n_mice=2, n_training_days=2, seed=5, hidden=True)
    acc = decode(tree, n_permutations=0, progress=False)["accuracy"]
    acc_trend = day_trend(acc, method="sessions", seed=1)
    assert abs(float(acc_trend["slope"])) * 17 < 0.01  # flat: < 1 point over overtraining
    res = heldout_margin(tree, n_units=4, n_subsamples=30, progress=False)
    assert stats.spearmanr(res["heldout_margin"].values, _gt(tree)).statistic >= 0.8
    trend = day_trend(res["heldout_margin"], method="sessions", seed=1)
    assert float(trend["ci_low"]) > 0
    # Overtraining sessions are separable, so the hard margin (at a fixed unit
    # count: margins grow with units) is defined and grows too.
    hard = svm_margin(tree, n_units=4, n_subsamples=20, progress=False)
    over = hard["phase"] == "overtraining"
    assert float(hard["fraction_separable"].where(over, drop=True).mean()) > 0.8
    assert float(day_trend(hard["margin_mean"], method="sessions", seed=1)["ci_low"]) > 0


def test_null_trend_ci_includes_zero():
    tree = make_overtraining_dataset(n_mice=2, n_training_days=2, seed=8, null=True)
    res = heldout_margin(tree, n_units=4, n_subsamples=10, progress=False)
    trend = day_trend(res["heldout_margin"], seed=1)
    assert float(trend["ci_low"]) < 0 < float(trend["ci_high"])


def _gaussian_session(delta, rng, n=200, p=6, name="s"):
    y = np.arange(n) % 2
    X = rng.normal(size=(n, p))
    X[:, :2] += delta * (y[:, None] - 0.5)
    return make_session(X, stimulus=np.where(y, "t", "n"), label=y, session=name, mouse="m",
                        day=1, phase="training")


def test_heldout_margin_grows_with_separation():
    rng = np.random.default_rng(0)
    deltas = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]  # overlapping ... separable
    tree = to_tree([_gaussian_session(d, rng, name=f"s{i}") for i, d in enumerate(deltas)])
    res = heldout_margin(tree, progress=False)
    values = res["heldout_margin"].values
    assert np.all(np.diff(values) > 0)
    hard = svm_margin(tree, progress=False)
    sep = hard["separable"].values[:, 0]
    assert not sep[0] and sep[-1]
    assert np.isnan(hard["margin"].values[0, 0]) and np.isfinite(hard["margin"].values[-1, 0])


def test_svm_margin_matches_sklearn(small_tree):
    res = svm_margin(small_tree, C=1.0, progress=False)
    for i, (_, ds) in enumerate(iter_sessions(small_tree)):
        train = ~ds["heldout"].values
        X = ds["rates"].values[train]
        X = (X - X.mean(0)) / X.std(0)
        y = ds["label"].values[train]
        soft = SVC(kernel="linear", C=1.0, tol=1e-9).fit(X, y)
        assert res["soft_margin"].values[i, 0] == pytest.approx(
            1 / np.linalg.norm(soft.coef_), rel=1e-3)
        if res["separable"].values[i, 0]:
            hard = SVC(kernel="linear", C=1e6, tol=1e-9).fit(X, y)
            geo = np.min(np.where(y, 1, -1) * hard.decision_function(X)) / np.linalg.norm(
                hard.coef_)
            assert res["margin"].values[i, 0] == pytest.approx(geo, rel=1e-4)
        else:
            assert np.isnan(res["margin"].values[i, 0])
    assert "not a separation measure" in res["soft_margin"].attrs["note"]


def test_subsampled_margins_and_strict_namespace(small_tree):
    a = svm_margin(small_tree, n_units=4, n_subsamples=5, progress=False)
    assert a["margin"].shape == (5, 5)
    b = svm_margin(small_tree, n_units=4, n_subsamples=5, progress=False,
                   device=array_api_strict)
    np.testing.assert_allclose(a["margin"].values, b["margin"].values, rtol=1e-9)
    np.testing.assert_array_equal(a["separable"].values, b["separable"].values)
    # Batches split over Dask threads give the same margins.
    c = svm_margin(small_tree, n_units=4, n_subsamples=5, progress=False, scheduler="threads")
    np.testing.assert_allclose(a["margin"].values, c["margin"].values, rtol=1e-7)
    with pytest.raises(InsufficientDataError, match="no session has 50 units"):
        svm_margin(small_tree, n_units=50, n_subsamples=3, progress=False)
    some = svm_margin(small_tree, n_units=7, n_subsamples=3, progress=False)
    few = [ds.sizes["neuron"] < 7 for _, ds in iter_sessions(small_tree)]
    np.testing.assert_array_equal(np.isnan(some["fraction_separable"].values), few)


def _svc_heldout(ds, n_folds=10, C=1.0):
    """The held-out margin by an explicit SVC + stratified-fold loop (scikit-learn)."""
    from sklearn.svm import SVC

    from neurolearn.decoding.cv import session_problem

    prob = session_problem(ds, n_folds=n_folds, seed=0)
    X, y = prob.X, np.where(prob.y > 0.5, 1.0, -1.0)
    dist = np.full(y.size, np.nan)
    for f in range(n_folds):
        tr, te = prob.train[f] > 0, prob.test[f] > 0
        mean, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
        Z = (X - mean) / sd
        svc = SVC(kernel="linear", C=C, tol=1e-12).fit(Z[tr], y[tr])
        w = svc.coef_[0]
        dist[te] = y[te] * svc.decision_function(Z[te]) / np.linalg.norm(w)
    t = prob.trained
    d, lab = dist[t], y[t]
    sd = np.sqrt(0.5 * (d[lab > 0].var() + d[lab < 0].var()))
    return d.mean() / sd, d / sd


def test_heldout_and_signed_margins_equal_an_svc_loop(small_tree):
    hm = heldout_margin(small_tree, progress=False)
    sm = signed_margins(small_tree, progress=False)
    n_trained = sum(int((~ds["heldout"]).sum()) for _, ds in iter_sessions(small_tree))
    assert sm.sizes["sample"] == n_trained
    assert set(np.unique(sm["day"].values)) == {1, 2, 3, 4, 5}
    for path, ds in iter_sessions(small_tree):
        s = str(ds["session"].values[0])
        margin, per_trial = _svc_heldout(ds)
        assert float(hm["heldout_margin"].sel(session=s)) == pytest.approx(margin, abs=1e-5)
        np.testing.assert_allclose(sm["signed_margin"].values[sm["session"].values == s],
                                   per_trial, rtol=0, atol=1e-5, err_msg=path)


def _exact_classes(rng, n, delta):
    """Two balanced classes whose sample moments are exact: class means 0 and
    ``delta``, pooled within-class covariance (biased) the identity."""
    p = delta.size
    parts = []
    for mu in (np.zeros(p), delta):
        E = rng.normal(size=(n // 2, p))
        E -= E.mean(axis=0)
        L = np.linalg.cholesky(E.T @ E / E.shape[0])
        parts.append(E @ np.linalg.inv(L).T + mu)
    return np.vstack(parts), np.repeat([0, 1], n // 2)


def test_fisher_and_dprime_closed_form():
    rng = np.random.default_rng(1)
    delta = np.array([1.0, 0.5, 0.0])
    X, y = _exact_classes(rng, 400, delta)
    ds = make_session(X, stimulus=np.where(y, "t", "n"), label=y, session="s", mouse="m",
                      day=1, phase="training")
    # J is invariant to the per-unit z-scoring (an invertible diagonal map), so
    # with an identity within-class covariance it is exactly ‖δ‖².
    J = float(fisher_separation(ds)[0])
    assert J == pytest.approx(delta @ delta, rel=1e-10)
    # d′ of cross-validated decision values estimates ‖δ‖ (the Mahalanobis
    # distance); its sampling SD at n = 20000 is ≈ 0.014, the tolerance 3.5 SD.
    big = np.random.default_rng(2)
    n = 20000
    yb = np.arange(n) % 2
    Xb = big.normal(size=(n, 3)) + np.outer(yb, delta)
    dsb = make_session(Xb, stimulus=np.where(yb, "t", "n"), label=yb, session="s", mouse="m",
                       day=1, phase="training")
    assert float(dprime(dsb)[0]) == pytest.approx(np.linalg.norm(delta), abs=0.05)


def test_normalize_per_mouse():
    da = xr.DataArray([1.0, 2.0, 4.0, 3.0, 6.0], dims="session", coords={
        "mouse": ("session", ["a", "a", "a", "b", "b"]), "day": ("session", [1, 2, 3, 2, 3]),
        "phase": ("session", ["training", "overtraining", "overtraining", "overtraining",
                              "overtraining"])})
    np.testing.assert_allclose(normalize_per_mouse(da), [0.5, 1, 2, 1, 2])
    np.testing.assert_allclose(normalize_per_mouse(da, by="mean"),
                               [3 / 7, 6 / 7, 12 / 7, 2 / 3, 4 / 3])


def test_stimulus_flips():
    acc = np.array([[0.2, 0.9], [0.3, 0.8], [0.4, 0.9], [0.7, 0.9], [0.8, 0.2], [0.9, 0.3]])
    da = xr.DataArray(acc, dims=("session", "stimulus"), coords={
        "stimulus": ["probe", "repeat"], "mouse": ("session", ["a"] * 6),
        "day": ("session", np.arange(1, 7))})
    flips = stimulus_flips(da, n_days=2)
    assert bool(flips["flipped"].sel(mouse="a", stimulus="probe"))
    assert int(flips["flip_day"].sel(mouse="a", stimulus="probe")) == 4
    assert not bool(flips["flipped"].sel(mouse="a", stimulus="repeat"))


def test_trend_matches_linregress(study_tree):
    fj = fisher_separation(study_tree)
    trend = day_trend(fj, method="sessions", phase=None, n_boot=500, n_permutations=500)
    ref = stats.linregress(fj["day"].values, fj.values)
    assert float(trend["slope"]) == pytest.approx(ref.slope)
    assert float(trend["ci_low"]) < ref.slope < float(trend["ci_high"])


def test_fisher_discriminant_by_hand(rng):
    from neurolearn.separation import fisher_discriminant

    A = rng.normal(size=(30, 4)) + [1.0, 0, 0, 0]
    B = rng.normal(size=(50, 4))
    Sw = (30 * np.cov(A.T, bias=True) + 50 * np.cov(B.T, bias=True)) / 80
    d = A.mean(0) - B.mean(0)
    assert fisher_discriminant(A, B) == pytest.approx(d @ np.linalg.solve(Sw, d))
    # With shrinkage, rescaling both sets leaves J unchanged.
    assert fisher_discriminant(3 * A, 3 * B, shrinkage=0.2) == pytest.approx(
        fisher_discriminant(A, B, shrinkage=0.2))
    # And J is d'S⁻¹d with the shrunk S, by hand (the shrunk path solves).
    S = 0.8 * Sw + 0.2 * np.trace(Sw) / 4 * np.eye(4)
    assert fisher_discriminant(A, B, shrinkage=0.2) == pytest.approx(d @ np.linalg.solve(S, d))


@pytest.mark.parametrize("two_pass", [True, False])
def test_pooled_fisher_direction_on_padded_batches(rng, two_pass):
    """Each problem of a zero-padded batch (padding rows holding junk, which
    y = 0 must hide) gets the direction np.cov gives on its own trials, by
    either centring."""
    from neurolearn.session_arrays import pooled_fisher_direction

    sizes = [(40, 25), (60, 60), (30, 45)]
    X = rng.normal(size=(3, 130, 5)) * 7.0  # junk on padding too
    y = np.zeros((3, 130))
    for k, (a, b) in enumerate(sizes):
        X[k, :a] += [2.0, 0, 1.0, 0, 0]
        y[k, :a], y[k, a:a + b] = 1.0, -1.0
    w, mu1, _ = pooled_fisher_direction(X, y, two_pass=two_pass)
    for k, (a, b) in enumerate(sizes):
        A, B = X[k, :a], X[k, a:a + b]
        Sw = (a * np.cov(A.T, bias=True) + b * np.cov(B.T, bias=True)) / (a + b)
        np.testing.assert_allclose(w[k], np.linalg.solve(Sw, A.mean(0) - B.mean(0)),
                                   rtol=1e-10)
        np.testing.assert_allclose(mu1[k], A.mean(0), rtol=1e-12)


def _edit_solver_output(monkeypatch, key, problem, value):
    """Make the SVM solver report ``value`` as ``key`` of problem ``problem``, all
    problems in one batch in input order (so problem k is session 0's, fold 0,
    subset k, for k below the subsamples)."""
    import neurolearn.svm.batches as m

    real = m.fit_linear_svm_working_set

    def edited(*args, **kwargs):
        out = real(*args, **kwargs)
        out[key] = out[key].copy()
        out[key][problem] = value
        return out

    monkeypatch.setattr(m, "fit_linear_svm_working_set", edited)
    monkeypatch.setattr(m, "size_groups", lambda shapes: [np.arange(len(shapes))])


def test_unconverged_svms_are_left_out_and_reported(small_tree, monkeypatch):
    from neurolearn.errors import NeurolearnWarning

    clean = heldout_margin(small_tree, n_units=4, n_subsamples=3, progress=False)
    _edit_solver_output(monkeypatch, "converged", 0, False)
    with pytest.warns(NeurolearnWarning, match="1 unit subsets with an SVM that did not "
                                               "converge"):
        res = heldout_margin(small_tree, n_units=4, n_subsamples=3, progress=False)
    assert res["n_unconverged"].values.tolist() == [1] + [0] * (res.sizes["session"] - 1)
    sub = res["heldout_margin_subsample"].values
    assert np.isnan(sub[0, 0]) and np.isfinite(sub[0, 1:]).all()
    assert float(res["heldout_margin"][0]) == pytest.approx(
        float(clean["heldout_margin_subsample"][0, 1:].mean()))
    np.testing.assert_array_equal(res["heldout_margin"].values[1:],
                                  clean["heldout_margin"].values[1:])


def test_svms_without_direction_are_left_out_and_reported(small_tree, monkeypatch):
    from neurolearn.errors import NeurolearnWarning

    clean = heldout_margin(small_tree, n_units=4, n_subsamples=3, progress=False)
    _edit_solver_output(monkeypatch, "coef", 1, 0.0)  # w = 0, as for constant units
    with pytest.warns(NeurolearnWarning, match="0 unit subsets with an SVM that did not "
                                               "converge and 1 with no direction"):
        res = heldout_margin(small_tree, n_units=4, n_subsamples=3, progress=False)
    assert res["n_no_direction"].values.tolist() == [1] + [0] * (res.sizes["session"] - 1)
    sub = res["heldout_margin_subsample"].values
    assert np.isnan(sub[0, 1]) and np.isfinite(sub[0, [0, 2]]).all()
    np.testing.assert_allclose(sub[0, [0, 2]], clean["heldout_margin_subsample"].values[0, [0, 2]])
    np.testing.assert_array_equal(res["heldout_margin"].values[1:],
                                  clean["heldout_margin"].values[1:])
