import numpy as np
import pytest
from scipy.stats import ortho_group

from neurolearn.geometry import (
    class_similarity,
    first_vs_last_days,
    kernel_distance,
    kernel_target_alignment,
    linear_cka,
    participation_ratio,
    pca,
    rdm,
    rsm,
)
from neurolearn.schema import iter_sessions


def _hsic_reference(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H)


def test_linear_cka_against_hsic_formula(rng):
    X = rng.normal(size=(50, 7))
    Y = X @ rng.normal(size=(7, 4)) + 0.5 * rng.normal(size=(50, 4))
    K, L = X @ X.T, Y @ Y.T
    ref = _hsic_reference(K, L) / np.sqrt(_hsic_reference(K, K) * _hsic_reference(L, L))
    assert linear_cka(X, Y) == pytest.approx(ref)
    # Invariant to rotations and isotropic scaling, 1 for identical inputs.
    Q = ortho_group.rvs(7, random_state=1)
    assert linear_cka(X, 3 * X @ Q) == pytest.approx(1.0)
    # Debiased CKA of independent data is near 0; the biased one is not.
    A, B = rng.normal(size=(40, 30)), rng.normal(size=(40, 30))
    assert abs(linear_cka(A, B, debiased=True)) < 0.1 < linear_cka(A, B)


def test_kernel_target_alignment():
    y = np.array([1, 1, -1, -1, 1, -1.0])
    n = y.size
    assert kernel_target_alignment(np.outer(y, y), y) == pytest.approx(1.0)
    # Closed forms for balanced ±1 labels (y is centred, so H y = y):
    # K = I: A = yᵀHy / (‖H‖_F ‖y‖²) = 1/√(n − 1).
    assert kernel_target_alignment(np.eye(n), y) == pytest.approx(1 / np.sqrt(n - 1))
    # K = yyᵀ + cI: A = (n + c) / √(n² + 2cn + c²(n − 1)).
    for c in (0.5, 3.0, 40.0):
        expected = (n + c) / np.sqrt(n ** 2 + 2 * c * n + c ** 2 * (n - 1))
        assert kernel_target_alignment(np.outer(y, y) + c * np.eye(n), y) == pytest.approx(
            expected, rel=1e-12)
    # Centring: adding a constant to the kernel changes nothing.
    assert kernel_target_alignment(np.eye(n) + 7.0, y) == pytest.approx(1 / np.sqrt(n - 1))


def test_participation_ratio(rng):
    assert participation_ratio(rng.normal(size=(20000, 5))) == pytest.approx(5, rel=0.02)
    assert participation_ratio(np.outer(rng.normal(size=300), rng.normal(size=6))) == \
        pytest.approx(1.0)


def test_kernel_distance():
    K0 = np.eye(3)
    assert kernel_distance(2 * K0, K0) == pytest.approx(1.0)


def test_rsm_is_trial_correlation(session):
    R = rsm(session)
    train = session.isel(trial=~session["heldout"].values)
    X = train["rates"].values
    # Pearson r between trials across units, after z-scoring units (ddof does
    # not matter to r); SciPy's correlation distance is 1 − r.
    Z = (X - X.mean(0)) / X.std(0)
    order = np.lexsort((train["stimulus"].values.astype(str), -train["label"].values))
    from scipy.spatial.distance import pdist, squareform

    np.testing.assert_allclose(R.values, 1 - squareform(pdist(Z[order], "correlation")),
                               rtol=0, atol=1e-12)
    assert list(R["label"].values[:3]) == [1, 1, 1]
    np.testing.assert_allclose(rdm(session).values, 1 - R.values)
    # The input's trials and coords are kept: R["trial"] is each row's
    # position in the session, and every per-trial coord follows it.
    trained = np.flatnonzero(~session["heldout"].values)
    np.testing.assert_array_equal(R["trial"].values, trained[order])
    np.testing.assert_array_equal(R["trial_2"].values, trained[order])
    for name in ("stimulus", "choice", "correct"):
        np.testing.assert_array_equal(R[name].values, session[name].values[R["trial"].values])
    everyone = rsm(session, include_heldout=True)
    np.testing.assert_array_equal(np.sort(everyone["trial"].values),
                                  np.arange(session.sizes["trial"]))


def test_class_similarity_falls_with_learning(study_tree):
    cs = class_similarity(study_tree)
    change = first_vs_last_days(cs["between"], n_days=3)
    assert (change["change"] < -0.05).all()  # every mouse: target and non-target decorrelate
    by_hand = cs["between"].where((cs["mouse"] == "A") & (cs["day"] <= 3), drop=True).mean()
    assert float(change["first"].sel(mouse="A")) == pytest.approx(float(by_hand))
    first = cs["between"].where(cs["day"] <= 3, drop=True).mean()
    last = cs["between"].where(cs["day"] >= 24, drop=True).mean()
    assert float(last) < float(first) - 0.05
    assert float(cs["separation"].where(cs["day"] >= 24, drop=True).mean()) > float(
        cs["separation"].where(cs["day"] <= 3, drop=True).mean())


def test_pca_scores(session):
    from sklearn.decomposition import PCA

    res = pca(session, n_components=2)
    train = session.isel(trial=~session["heldout"].values)
    X = train["rates"].values
    Z = (X - X.mean(0)) / X.std(0)  # z-scored with the population SD (ddof = 0)
    ref = PCA(n_components=2).fit(Z)
    scores = ref.transform(Z)
    signs = np.sign(np.sum(scores * res["scores"].values, axis=0))  # PCs are up to sign
    np.testing.assert_allclose(res["scores"].values * signs, scores, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res["explained_variance_ratio"].values,
                               ref.explained_variance_ratio_, rtol=1e-10)


def test_plots_render(small_tree, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurolearn.margins import signed_margins
    from neurolearn.plotting import plot_margin_distributions, plot_pca, plot_rsm

    sessions = [ds for _, ds in iter_sessions(small_tree)]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    plot_margin_distributions(signed_margins(small_tree, progress=False), ax=axes[0])
    plot_rsm(rsm(sessions[-1]), ax=axes[1])
    plot_pca(pca(sessions[0]), ax=axes[2])
    fig.savefig(tmp_path / "panels.png")
    plt.close(fig)
    assert (tmp_path / "panels.png").stat().st_size > 20_000
