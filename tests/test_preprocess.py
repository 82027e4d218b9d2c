import json

import numpy as np
import pytest

from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.preprocess import filter_sessions, preprocess_session, window_counts, window_rates
from neurolearn.schema import make_session, to_tree


def _binned_session(counts, time, name="s", mouse="m", total=None):
    n_trials = counts.shape[0]
    ds = make_session(binned=counts, time=time, bin_size=0.1,
                      stimulus=["a", "b"] * (n_trials // 2), label=[1, 0] * (n_trials // 2),
                      session=name, mouse=mouse, day=1, phase="training")
    if total is not None:
        ds = ds.assign(total_spikes=("neuron", np.asarray(total, float)))
    return ds


def test_hand_computed_rates():
    # 4 trials, 2 units, 100 ms bins from -0.5 s to 0.7 s.
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    counts = np.zeros((4, 2, time.size), dtype=int)
    counts[:, 0, :] = 1  # one spike per bin everywhere
    counts[0, 1, 6] = 3  # bin [0.1, 0.2): response window
    counts[1, 1, 10] = 2  # bin [0.5, 0.6): last bin of the response window
    counts[2, 1, 11] = 5  # bin [0.6, 0.7): just outside
    counts[3, 1, 0] = 4  # bin [-0.5, -0.4): baseline
    counts[:, 1, 7] += 1  # keep unit 1 above the filters
    ds = _binned_session(counts, time)
    resp = window_rates(ds["binned"], (0.1, 0.6))
    # Unit 0: 5 spikes in 0.5 s = 10 Hz; baseline also 10 Hz.
    np.testing.assert_allclose(resp[:, 0], 10.0)
    np.testing.assert_allclose(resp[:, 1], [8.0, 6.0, 2.0, 2.0])
    base = window_rates(ds["binned"], (-0.5, 0.0))
    np.testing.assert_allclose(base[:, 1], [0.0, 0.0, 0.0, 8.0])
    out = preprocess_session(ds, min_total_spikes=0, min_response_spikes=0, zscore=False)
    # Unit 0 has zero variance after baseline subtraction; zscore=False keeps it.
    np.testing.assert_allclose(out["rates"].sel(neuron=1), [8.0, 6.0, 2.0, -6.0])
    z = preprocess_session(ds, min_total_spikes=0, min_response_spikes=0)
    x = np.array([8.0, 6.0, 2.0, -6.0])
    np.testing.assert_allclose(z["rates"].values[:, 0], (x - x.mean()) / x.std())
    dropped = json.loads(z.attrs["dropped_units"])
    assert dropped == [{"unit_id": "s-u000", "reason":
                        "constant response across trials (cannot z-score)"}]
    params = json.loads(z.attrs["preprocessing"])
    assert params["response_window"] == [0.1, 0.6] and params["zscore"] is True


def test_unit_filters_match_the_study_rule():
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    counts = np.zeros((6, 4, time.size), dtype=int)
    counts[:, 0, :] = np.random.default_rng(1).poisson(4, (6, time.size))  # kept
    counts[0, 1, 6:8] = [3, 2]  # 5 spikes total, all in window: dropped (<= 5 total)
    counts[0, 2, 0:6] = 1       # 6 spikes in total but 0 in window: dropped (< 5)
    counts[:2, 3, 6:8] = 1      # 4 in window (trials 0,1 x bins 6,7) + 2 baseline: dropped
    counts[0, 3, 0:2] = 1
    ds = _binned_session(counts, time)
    out = preprocess_session(ds)
    assert list(out["unit_id"].values) == ["s-u000"]
    reasons = {d["unit_id"]: d["reason"] for d in json.loads(out.attrs["dropped_units"])}
    assert reasons["s-u001"].startswith("5 spikes in total")
    assert reasons["s-u002"].startswith("0 spikes in the response window")
    assert reasons["s-u003"].startswith("4 spikes in the response window")
    # A whole-raster spike count overrides the binned total.
    out = preprocess_session(ds.assign(total_spikes=("neuron", [100.0, 3.0, 100.0, 100.0])))
    assert "s-u001" not in out["unit_id"].values


def test_misaligned_window_raises():
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    ds = _binned_session(np.ones((2, 1, time.size), int), time)
    with pytest.raises(SchemaError, match="not a whole number of 0.1 s bins"):
        window_counts(ds["binned"], (0.15, 0.6))
    with pytest.raises(SchemaError, match="not a whole number"):
        window_counts(ds["binned"], (0.1, 0.9))  # beyond the binned span


def test_filter_sessions_records_drops():
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    rng = np.random.default_rng(0)
    big = preprocess_session(_binned_session(rng.poisson(3, (6, 5, time.size)), time, "big"))
    small = preprocess_session(_binned_session(rng.poisson(3, (6, 2, time.size)), time, "small"))
    tree = filter_sessions(to_tree([big, small]), min_units=4)
    assert [n for n in tree["m"].children] == ["big"]
    assert json.loads(tree.attrs["dropped_sessions"]) == [
        {"path": "/m/small", "reason": "2 units (< 4)"}]
    with pytest.raises(InsufficientDataError, match="no session has at least 9 units"):
        filter_sessions(to_tree([big, small]), min_units=9)
