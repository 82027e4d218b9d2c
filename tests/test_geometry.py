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
    assert kernel_target_alignment(np.outer(y, y), y) == pytest.approx(1.0)
    K = np.eye(6)
    yc = y - y.mean()
    Kc = K - K.mean(0) - K.mean(1)[:, None] + K.mean()
    assert kernel_target_alignment(K, y) == pytest.approx(
        yc @ Kc @ yc / (np.linalg.norm(Kc) * yc @ yc))


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
    Z = (X - X.mean(0)) / X.std(0)
    order = np.lexsort((train["stimulus"].values.astype(str), -train["label"].values))
    np.testing.assert_allclose(R.values, np.corrcoef(Z[order]))
    assert list(R["label"].values[:3]) == [1, 1, 1]
    np.testing.assert_allclose(rdm(session).values, 1 - R.values)


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
    res = pca(session, n_components=2)
    assert res["scores"].shape[1] == 2
    assert 0 < float(res["explained_variance_ratio"].sum()) <= 1
    # Scores are uncorrelated.
    s = res["scores"].values
    assert abs(np.corrcoef(s.T)[0, 1]) < 1e-8


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
