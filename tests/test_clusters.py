"""Cluster-based permutation tests over time bins: against MNE, SciPy and planted truth."""

import numpy as np
import pytest
from scipy import ndimage

from neurolearn.decoding import cross_temporal, decode_time
from neurolearn.decoding.clusters import cluster_masses, cluster_test, group_cluster_test
from neurolearn.schema import make_session, to_tree

mne = pytest.importorskip("mne")


def _session(rng, name, mouse, signal, *, n=60, p=5, T=12, window=(4, 8)):
    """Poisson counts; the classes differ only in bins window[0]..window[1]−1."""
    y = np.arange(n) % 2
    rng.shuffle(y)
    lam = np.full((n, p, T), 3.0)
    sign = (np.arange(p) % 2 * 2 - 1)[None, :, None]
    lam[:, :, window[0]:window[1]] += signal * (2 * y[:, None, None] - 1) * sign
    binned = rng.poisson(np.clip(lam, 0.1, None)).astype(float)
    return make_session(binned=binned, time=np.arange(T) * 0.05, bin_size=0.05,
                        stimulus=np.where(y, "t", "n"), label=y, session=name, mouse=mouse,
                        day=1, phase="overtraining")


def _study(rng, signal, n_mice=6):
    return to_tree([_session(rng, f"m{m}-d01", f"m{m}", signal) for m in range(n_mice)])


def test_cluster_masses_equal_scipy_labelling_map_by_map():
    rng = np.random.default_rng(0)
    for shape in ((7, 30), (5, 9, 11)):
        stat = rng.normal(size=shape)
        supra = stat > 0.3
        labels, mass = cluster_masses(supra, stat)
        for q in range(shape[0]):
            ref, n = ndimage.label(supra[q])  # 4-connected in 2-D, runs in 1-D
            ref_mass = sorted(stat[q][ref == k].sum() for k in range(1, n + 1))
            ours = sorted(mass[np.unique(labels[q][labels[q] > 0])])
            np.testing.assert_allclose(ours, ref_mass, atol=1e-12)


def _runs(values, supra):
    """Masses of runs of True, written plainly."""
    masses, current = [], None
    for v, on in zip(values, supra, strict=True):
        if on:
            current = v if current is None else current + v
        elif current is not None:
            masses.append(current)
            current = None
    return masses + ([current] if current is not None else [])


def test_cluster_test_equals_a_plain_loop_over_permutations():
    rng = np.random.default_rng(5)
    T, P = 20, 199
    null = 0.5 + 0.05 * rng.normal(size=(T, P))
    observed = 0.5 + 0.05 * rng.normal(size=T)
    observed[6:10] += 0.15
    res = cluster_test(observed, null)
    every = np.concatenate([observed[:, None], null], axis=1)  # true and permuted labels
    centre, thr = every.mean(axis=1), np.quantile(every, 0.95, axis=1)
    largest = [max(_runs(null[:, q] - centre, null[:, q] > thr), default=0.0)
               for q in range(P)]
    for mass in _runs(observed - centre, observed > thr):
        p = (np.sum(np.array(largest) >= mass) + 1) / (P + 1)
        at = np.flatnonzero(np.isclose(res["cluster_mass"], mass))
        assert at.size and np.allclose(res["cluster_pvalue"][at], p)
    top = (null - centre[:, None]).max(axis=0)
    for t in range(T):
        p_max = (np.sum(top >= observed[t] - centre[t]) + 1) / (P + 1)
        assert res["pvalue_max"][t] == pytest.approx(p_max)
    assert res["cluster_pvalue"][7] <= 0.01 and np.isnan(res["cluster_pvalue"][0])


@pytest.mark.parametrize("shape", [(14,), (6, 7)])
def test_group_test_equals_mne_permutation_cluster_1samp_test(shape):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, *shape)) * 0.05
    X[:, 2:5] += 0.06  # a real effect across mice
    ours = group_cluster_test(X, threshold=2.0)
    # MNE enumerates every flip when n_permutations exceeds 2^M − 1 ("all"
    # samples 2^M − 2 of them at random for a one-tailed test).
    t, clusters, pvals, H0 = mne.stats.permutation_cluster_1samp_test(
        X, threshold=2.0, tail=1, n_permutations=2 ** 7, out_type="mask", verbose=False)
    np.testing.assert_allclose(ours["t"], t, rtol=1e-10)
    assert ours["exact"] and ours["n_flips"] == 2 ** 7
    assert len(clusters) >= 1
    # The same null: MNE's exact enumeration holds every flip's largest mass
    # once, except that it counts the identity twice in place of the
    # all-flipped pattern (its orders map 0/1 to −1/+1 and skip the first).
    null = ours["null_max"].copy()
    null[np.all(ours["flips"] == -1, axis=1)] = null[0]
    np.testing.assert_allclose(np.sort(null), np.sort(H0), rtol=1e-10)
    for mask, p in zip(clusters, pvals, strict=True):
        mass = t[mask].sum()
        assert np.all(ours["cluster_mass"][mask] == pytest.approx(mass, rel=1e-10))
        # MNE's p comes from that null (mne ≤ 1.13.1: the share of it ≥ the mass;
        # 1.13.2 counts the doubled identity once); ours, each flip once, is the
        # same up to that one flip.
        assert abs(ours["cluster_pvalue"][mask][0] - p) <= 1 / 2 ** 7 + 1e-12


def test_decode_time_cluster_tests_find_the_planted_window_and_nothing_else():
    rng = np.random.default_rng(1)
    res = decode_time(_study(rng, 1.0), n_folds=5, n_permutations=99, progress=False)
    inside = res["cluster_pvalue"].isel(time=slice(4, 8))
    assert bool((inside <= 0.05).any("time").all())  # every session finds the window
    assert float(res["group_cluster_pvalue"].isel(time=slice(4, 8)).max()) <= 1 / 64 + 1e-12
    outside = res["pvalue_max"].isel(time=[0, 1, 10, 11])
    assert float((outside <= 0.05).mean()) <= 0.1
    assert "6 mice" in res.attrs["group_test"] and "64 flips (all)" in res.attrs["group_test"]
    assert "smallest possible p 0.0156" in res.attrs["group_test"]


def test_familywise_error_of_the_corrected_tests_on_null_studies():
    """40 null studies × 6 sessions: uncorrected bins err often, the corrected tests do not."""
    rng = np.random.default_rng(2)
    any_unc = any_max = any_cluster = groups = 0
    n = 0
    for s in range(40):
        res = decode_time(_study(rng, 0.0), n_folds=5, n_permutations=99, seed=s,
                          progress=False)
        any_unc += int(np.sum(np.any(res["pvalue"].values <= 0.05, axis=1)))
        any_max += int(np.sum(np.any(res["pvalue_max"].values <= 0.05, axis=1)))
        any_cluster += int(np.sum(np.any(res["cluster_pvalue"].values <= 0.05, axis=1)))
        groups += int(np.any(res["group_cluster_pvalue"].values <= 0.05))
        n += res.sizes["session"]
    # 240 sessions: a true FWER of 0.05 gives ≤ 0.085 with probability ≈ 0.99.
    assert any_max / n <= 0.085 and any_cluster / n <= 0.085
    assert any_unc / n > 0.2  # 12 uncorrected bins
    assert groups <= 6  # 40 studies: ≤ 6 of 40 at a true 0.05, p ≈ 0.99


def test_cross_temporal_null_and_2d_clusters():
    rng = np.random.default_rng(4)
    tree = to_tree([_session(rng, f"m{m}-d01", f"m{m}", 1.2, T=8, window=(3, 6))
                    for m in range(3)])
    res = cross_temporal(tree, n_folds=4, n_permutations=39, progress=False)
    plain = cross_temporal(tree, n_folds=4, progress=False)
    np.testing.assert_array_equal(res["accuracy"].values, plain.values)
    assert res["null_accuracy"].dims[-1] == "permutation"
    assert abs(float(res["null_accuracy"].mean()) - 0.5) < 0.03
    block = res["cluster_pvalue"].isel(train_time=slice(3, 6), test_time=slice(3, 6))
    assert bool((block <= 0.05).all())  # the planted block is one significant 2-D cluster
    corner = res["cluster_pvalue"].isel(train_time=slice(0, 2), test_time=slice(6, 8))
    assert bool(((corner > 0.05) | np.isnan(corner)).all())  # no signal, no significant cluster
    # The diagonal of the null is decode_time's null (same folds, same permutations).
    dt = decode_time(tree, n_folds=4, n_permutations=39, progress=False)
    np.testing.assert_allclose(np.diagonal(res["null_accuracy"].values, axis1=1, axis2=2),
                               np.moveaxis(dt["null_accuracy"].values, 1, 2), atol=1e-12)
