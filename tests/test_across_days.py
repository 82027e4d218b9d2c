"""Tracked cells: stacking, the across-days analyses, and their recovery of planted truth."""

import numpy as np
import pytest
import scipy.spatial
from scipy.stats import spearmanr
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from data_loaders import make_overtraining_dataset
from data_loaders.synthetic_tracked import make_tracked_dataset
from neurolearn.across_days import (
    aligned_transfer,
    decoder_transfer,
    drift_rates,
    learning_vs_drift,
    procrustes_angle,
    representational_drift,
    transfer_by_lag,
)
from neurolearn.errors import InsufficientDataError
from neurolearn.tracking import common_tracks, select_tracks, stack_tracks, tracked_sessions

N_CELLS = 300


@pytest.fixture(scope="module")
def tracked():
    return make_tracked_dataset(n_mice=4, n_training_days=6, n_overtraining_days=14,
                                n_cells=N_CELLS, seed=0)


@pytest.fixture(scope="module")
def split(tracked):
    return learning_vs_drift(tracked, progress=False)


def _cell_index(tracks):
    return np.array([int(t.split("cell")[1]) for t in tracks])


def test_stack_keeps_missing_cells_as_nan(tracked):
    stack = stack_tracks(tracked, mouse="B")
    sessions = tracked_sessions(tracked)["B"]
    assert stack.sizes["track"] == N_CELLS and stack.sizes["session"] == len(sessions)
    for s, (_, ds) in enumerate(sessions):
        own = set(ds["track"].values.tolist())
        present = np.array([t in own for t in stack["track"].values])
        np.testing.assert_array_equal(stack["present"].values[s], present)
        # Absent cells are NaN in every condition, never 0; present ones are finite.
        assert np.isnan(stack["mean"].values[s][:, ~present]).all()
        assert np.isfinite(stack["mean"].values[s][:, present]).all()
        # The stacked means are the cells' own condition means, whatever their order.
        cell = ds["track"].values[5]
        rates = ds["rates"].values[:, 5]
        for c, cond in enumerate(stack["condition"].values):
            expected = rates[ds["stimulus"].values == cond].mean()
            assert stack["mean"].sel(track=cell).values[s, c] == pytest.approx(expected)
    assert 0.55 < stack.attrs["n_present"] / (N_CELLS * len(sessions)) < 0.95
    with pytest.raises(InsufficientDataError, match="pass `mouse=`"):
        stack_tracks(tracked)


def test_learning_vs_drift_recovers_planted_change(tracked, split):
    est_along, exp_along, est_orth, exp_orth = [], [], [], []
    for mouse, sessions in tracked_sessions(tracked).items():
        for i, (_, a) in enumerate(sessions):
            for _, b in sessions[i + 1:]:
                cells = _cell_index(common_tracks(a, b))
                da = np.asarray(a.attrs["planted_class_difference"])[cells]
                db = np.asarray(b.attrs["planted_class_difference"])[cells]
                along = (db - da) @ da / np.linalg.norm(da)
                at = split.sel(mouse=mouse, day_from=int(a["day"][0]), day_to=int(b["day"][0]))
                assert int(at["n_cells"]) == cells.size
                est_along.append(float(at["along"]))
                exp_along.append(along)
                est_orth.append(float(at["orthogonal_sq"]))
                exp_orth.append((db - da) @ (db - da) - along**2)
    est_along, exp_along = np.array(est_along), np.array(exp_along)
    est_orth, exp_orth = np.array(est_orth), np.array(exp_orth)
    # Measured over seeds 0-3: correlation 0.88-0.91 (along), 0.89-0.91 (orthogonal);
    # means within 8 % of the planted values, with either sign.
    assert np.corrcoef(est_along, exp_along)[0, 1] > 0.8
    assert np.corrcoef(est_orth, exp_orth)[0, 1] > 0.8
    assert est_along.mean() == pytest.approx(exp_along.mean(), rel=0.15)
    assert est_orth.mean() == pytest.approx(exp_orth.mean(), rel=0.15)


def test_drift_rate_and_growth_recovered(split):
    rates = drift_rates(split)
    # Planted: a daily orthogonal step of norm 1 over 300 cells, i.e. 1/sqrt(300) per cell.
    per_cell = float(rates["drift_per_day_per_cell"].mean()) * np.sqrt(N_CELLS)
    assert per_cell == pytest.approx(1.0, rel=0.15)
    # Growth along the axis is positive in every mouse (planted +0.15 per day).
    assert (rates["along_per_day"] > 0).all()


def test_fixed_axis_falls_behind_the_refit_one_with_lag(split):
    ratio = (split["separation_fixed"] / split["separation_refit"]).rename(
        day_from="train_day", day_to="test_day")
    by_lag = transfer_by_lag(ratio.to_dataset(name="ratio"), "ratio").mean("mouse")
    lags = by_lag["lag"].values
    positive = lags > 0
    rho = spearmanr(lags[positive], by_lag.values[positive]).statistic
    assert rho < -0.9  # rotation of the code by the planted drift
    refit = transfer_by_lag(split["separation_refit"].rename(
        day_from="train_day", day_to="test_day").to_dataset(name="s"), "s").mean("mouse")
    assert spearmanr(lags[positive], refit.values[positive]).statistic > 0.9  # growth


def test_representational_drift_falls_with_lag(tracked):
    drift = representational_drift(tracked, progress=False)
    assert drift.sizes == {"mouse": 4, "day_from": 20, "day_to": 20}
    by_lag = transfer_by_lag(drift.rename(day_from="train_day", day_to="test_day"),
                             "pv_correlation").mean("mouse")
    lags = by_lag["lag"].values
    positive = lags > 0
    assert spearmanr(lags[positive], by_lag.values[positive]).statistic < -0.9
    cka = drift["cka"].values[np.isfinite(drift["cka"].values)]
    assert ((cka > 0) & (cka <= 1)).all()
    assert (drift["n_stimuli"].values[np.isfinite(drift["pv_correlation"].values)] == 4).all()


def test_decoder_transfer_matches_sklearn_off_the_diagonal():
    tree = make_tracked_dataset(n_mice=1, n_training_days=2, n_overtraining_days=2,
                                n_cells=60, trials_per_session=80, seed=3)
    out = decoder_transfer(tree, shrinkage=0.5, n_permutations=50, progress=False)
    sessions = tracked_sessions(tree)["A"]
    for _, a in sessions:
        for _, b in sessions:
            if a is b:
                continue
            cells = common_tracks(a, b)
            Xa = StandardScaler().fit_transform(select_tracks(a, cells)["rates"].values)
            Xb = StandardScaler().fit_transform(select_tracks(b, cells)["rates"].values)
            model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.5)
            model.fit(StandardScaler().fit_transform(Xa), a["label"].values)
            expected = model.score(Xb, b["label"].values)
            at = out.sel(mouse="A", train_day=int(a["day"][0]), test_day=int(b["day"][0]))
            assert float(at["accuracy"]) == pytest.approx(expected, abs=1e-12)
            assert int(at["n_cells"]) == cells.size
    assert 0.4 < float(out["null_mean"].mean()) < 0.6
    assert (out["p_value"] >= 1 / 51).all()


def test_decoder_transfer_follows_the_planted_codes(tracked):
    from scipy.stats import norm

    out = decoder_transfer(tracked["C"], shrinkage=0.5, n_permutations=0, progress=False)
    sessions = tracked_sessions(tracked)["C"]
    measured, predicted = [], []
    for _, a in sessions:
        for _, b in sessions:
            if a is b:
                continue
            cells = _cell_index(common_tracks(a, b))
            da = np.asarray(a.attrs["planted_class_difference"])[cells]
            db = np.asarray(b.attrs["planted_class_difference"])[cells]
            # Ideal observer with day d's axis on day d′ (unit noise, centred days).
            predicted.append(norm.cdf(db @ da / np.linalg.norm(da) / 2))
            measured.append(float(out["accuracy"].sel(
                mouse="C", train_day=int(a["day"][0]), test_day=int(b["day"][0]))))
    measured, predicted = np.array(measured), np.array(predicted)
    # Measured: Spearman 0.94, mean shortfall 0.029 against the ideal observer.
    assert spearmanr(measured, predicted).statistic > 0.85
    # Finite training sets lose a little accuracy against the ideal observer.
    assert -0.08 < np.mean(measured - predicted) < 0.01


def test_procrustes_angle_matches_scipy(rng):
    for _ in range(5):
        A, B = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
        _, _, disparity = scipy.spatial.procrustes(A, B)
        # scipy's disparity is 1 − (nuclear norm)² after the same centring and scaling.
        assert np.cos(procrustes_angle(A, B)) ** 2 == pytest.approx(1 - disparity, rel=1e-10)


def test_aligned_transfer_on_untracked_sessions():
    study = make_overtraining_dataset(n_mice=1, n_training_days=2, n_overtraining_days=3,
                                      units_per_session=(12, 20), seed=2)
    out = aligned_transfer(study, progress=False)
    acc = out["aligned_accuracy"].values
    off = ~np.eye(acc.shape[1], dtype=bool)[None]
    assert np.isnan(acc[~off]).all() and np.isfinite(acc[off]).all()
    assert np.nanmean(acc) > 0.6  # planted separation survives the alignment
    assert (out["procrustes_angle"].values[off] >= 0).all()
    assert "weaker" in out.attrs["evidence"]


def test_transfer_across_mice_null():
    strong = make_tracked_dataset(n_mice=3, n_training_days=1, n_overtraining_days=2,
                                  n_cells=40, trials_per_session=80, seed=4)
    out = decoder_transfer(strong, n_permutations=30, progress=False)
    assert out["accuracy_across_mice"].dims == ("train_day", "test_day")
    np.testing.assert_allclose(out["accuracy_across_mice"], out["accuracy"].mean("mouse"))
    assert (out["n_mice"] == 3).all()
    np.testing.assert_allclose(out["p_value_across_mice"], 1 / 31)  # every pair beats its null
    null = make_tracked_dataset(n_mice=3, n_training_days=2, n_overtraining_days=2,
                                n_cells=40, trials_per_session=80, separation=0.0,
                                growth=0.0, drift_rate=0.0, seed=5)
    p = decoder_transfer(null, n_permutations=30, progress=False)["p_value_across_mice"]
    assert 0.25 < float(p.mean()) < 0.75 and float((p < 0.05).mean()) <= 0.25


def test_across_days_needs_one_day_per_session():
    tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
                                n_cells=20, trials_per_session=40, seed=6)
    same_day = tree.map_over_datasets(
        lambda ds: ds.assign_coords(day=ds["day"] * 0 + 1) if "day" in ds.coords else ds)
    with pytest.raises(InsufficientDataError, match="two sessions share a day"):
        learning_vs_drift(same_day, progress=False)
    no_day = tree.map_over_datasets(lambda ds: ds.drop_vars(["day", "phase"], errors="ignore"))
    with pytest.raises(InsufficientDataError, match="need a `day` on every session"):
        decoder_transfer(no_day, n_permutations=0, progress=False)
