"""Time-resolved and cross-temporal decoding against MNE-Python on identical splits."""

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data_loaders import make_overtraining_dataset
from neurolearn.decoding import binned_rates, cross_temporal, decode_time
from neurolearn.decoding.cv import session_problem
from neurolearn.schema import iter_sessions

mne_decoding = pytest.importorskip("mne.decoding")

WINDOW = 4


@pytest.fixture(scope="module")
def raw():
    """Spike counts only (no `rates`): what time-resolved decoding works from."""
    return make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
                                     units_per_session=(6, 8), trials_per_session=80,
                                     time_window=(-0.5, 1.0), preprocess=False, seed=3)


def _mne_inputs(ds):
    rates = binned_rates(ds, WINDOW)  # (time, trial, neuron)
    X = np.asarray(rates.transpose("trial", "neuron", "time").values)
    prob = session_problem(ds, n_folds=5, seed=0, X=X[:, :, 0])
    splits = [(np.flatnonzero(prob.train[f]), np.flatnonzero(prob.test[f])) for f in range(5)]
    return X, prob.y.astype(int), splits


@pytest.mark.parametrize("method, estimator", [
    ("lda", LinearDiscriminantAnalysis(solver="lsqr")),
    ("ridge", RidgeClassifier(alpha=1.0)),
])
def test_decode_time_equals_mne_sliding_estimator(raw, method, estimator):
    assert all("rates" not in ds for _, ds in iter_sessions(raw))
    res = decode_time(raw, method, window=WINDOW, n_folds=5, n_permutations=20, progress=False)
    for s, (_, ds) in enumerate(iter_sessions(raw)):
        X, y, splits = _mne_inputs(ds)
        sliding = mne_decoding.SlidingEstimator(make_pipeline(StandardScaler(), estimator),
                                                scoring="accuracy")
        ref = mne_decoding.cross_val_multiscore(sliding, X, y, cv=splits).mean(axis=0)
        np.testing.assert_allclose(res["accuracy"].values[s], ref, rtol=0, atol=1e-12)
    # The null and its p, per bin.
    assert res["null_accuracy"].shape[-1] == 20
    assert ((res["pvalue"] > 0) & (res["pvalue"] <= 1)).all()
    stim = res["time"].values >= 0.1
    assert float(res["accuracy"].where(res["time"] >= 0.1).mean()) > float(
        res["accuracy"].isel(time=~stim).mean())


def test_cross_temporal_equals_mne_generalizing_estimator(raw):
    res = cross_temporal(raw, "lda", window=WINDOW, n_folds=5, progress=False)
    for s, (_, ds) in enumerate(iter_sessions(raw)):
        X, y, splits = _mne_inputs(ds)
        general = mne_decoding.GeneralizingEstimator(
            make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr")),
            scoring="accuracy")
        ref = mne_decoding.cross_val_multiscore(general, X, y, cv=splits).mean(axis=0)
        np.testing.assert_allclose(res.values[s], ref, rtol=0, atol=1e-12)
    diagonal = np.diagonal(res.values, axis1=1, axis2=2)
    sliding = decode_time(raw, window=WINDOW, n_folds=5, n_permutations=0, progress=False)
    np.testing.assert_allclose(diagonal, sliding["accuracy"].values, rtol=0, atol=1e-12)
