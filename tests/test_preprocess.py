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
    # The original study: no baseline subtraction.
    out = preprocess_session(ds, zscore=False)
    np.testing.assert_allclose(out["rates"].sel(neuron=1), [8.0, 6.0, 2.0, 2.0])
    # The baseline-subtracted preset, by name.
    old = preprocess_session(ds, preset="baseline_subtracted", min_total_spikes=0,
                             min_response_spikes=0, zscore=False)
    np.testing.assert_allclose(old["rates"].sel(neuron=1), [8.0, 6.0, 2.0, -6.0])
    z = preprocess_session(ds, preset="baseline_subtracted", min_total_spikes=0,
                           min_response_spikes=0)
    x = np.array([8.0, 6.0, 2.0, -6.0])
    np.testing.assert_allclose(z["rates"].values[:, 0], (x - x.mean()) / x.std())
    dropped = json.loads(z.attrs["dropped_units"])
    assert dropped == [{"unit_id": "s-u000", "reason":
                        "constant response across trials (cannot z-score)"}]
    params = json.loads(z.attrs["preprocessing"])
    assert params["response_window"] == [0.1, 0.6] and params["zscore"] is True
    assert params["preset"] == "baseline_subtracted" and params["zscore_ddof"] == 0


def test_original_rule_by_hand():
    """The default preset against a hand computation of the original MATLAB rules.

    100 ms bins, so one spike in a 500 ms window is 2 Hz: Σ(pre + response) > 5 Hz
    needs at least 3 spikes in the two windows, Σ response ≥ 5 Hz at least 3 in
    the response window.
    """
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    counts = np.zeros((6, 6, time.size), dtype=int)
    counts[[0, 1, 2], 0, 6] = 1          # 3 response spikes: Σ resp 6 Hz -> kept
    counts[[0, 1], 1, 0] = 1             # 2 pre spikes: Σ(pre+resp) = 4 Hz -> not included
    counts[[0, 1, 2], 2, 1] = 1          # 3 pre spikes: included (6 > 5), Σ resp 0 -> dropped
    counts[0, 3, 2] = 1                  # 1 pre + 2 response: included, Σ resp 4 < 5 -> dropped
    counts[[1, 2], 3, 7] = 1
    counts[:, 4, 8] = 1                  # the same response on every trial -> constant
    counts[[0, 0, 3], 5, [6, 7, 9]] = 1  # trial 0: 2 spikes, trial 3: 1; plus outside spikes
    counts[:, 5, 11] = 3                 # (0.6-0.7 s is outside both windows)
    ds = _binned_session(counts, time)
    out = preprocess_session(ds)
    assert list(out["unit_id"].values) == ["s-u000", "s-u005"]
    reasons = {d["unit_id"]: d["reason"] for d in json.loads(out.attrs["dropped_units"])}
    assert reasons["s-u001"].startswith("sum over trials of pre-onset + response rate is 4 Hz")
    assert reasons["s-u002"].startswith("sum over trials of response rate is 0 Hz")
    assert reasons["s-u003"].startswith("sum over trials of response rate is 4 Hz")
    assert reasons["s-u004"] == "constant response across trials (cannot z-score)"
    # Hand computation: rates (Hz), then z-scores with the sample SD (ddof = 1).
    r0 = np.array([2.0, 2.0, 2.0, 0.0, 0.0, 0.0])   # mean 1, sample SD sqrt(6/5)
    r5 = np.array([4.0, 0.0, 0.0, 2.0, 0.0, 0.0])   # mean 1, sample SD sqrt(14/5)
    np.testing.assert_allclose(out["rates"].values[:, 0], (r0 - 1.0) / np.sqrt(6 / 5),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["rates"].values[:, 1], (r5 - 1.0) / np.sqrt(14 / 5),
                               rtol=0, atol=1e-12)
    params = json.loads(out.attrs["preprocessing"])
    assert params["preset"] == "bernerslee2023" and params["subtract_baseline"] is False
    assert params["zscore_ddof"] == 1 and params["min_inclusion_rate"] == 5.0
    # Without z-scoring the rates are the plain response rates.
    raw = preprocess_session(ds, zscore=False)
    np.testing.assert_allclose(raw["rates"].values[:, 0], r0)
    assert raw["rates"].attrs["units"] == "Hz"


def test_exclude_lick_trials_and_units():
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    rng = np.random.default_rng(3)
    counts = rng.poisson(2, (6, 5, time.size))
    ds = _binned_session(counts, time).assign_coords(
        first_lick_time=("trial", [0.3, np.nan, 0.6, 0.59, 1.2, np.nan]))
    out = preprocess_session(ds, exclude_lick_trials=True, exclude_units=["s-u002"])
    # Licks before 0.6 s (the end of the response window) drop trials 0 and 3.
    assert out.sizes["trial"] == 4
    np.testing.assert_array_equal(out["first_lick_time"].values[[0, 2]], [np.nan, 1.2])
    assert [d["trial"] for d in json.loads(out.attrs["dropped_trials"])] == [0, 3]
    assert "s-u002" not in out["unit_id"].values
    assert {"unit_id": "s-u002", "reason": "listed in exclude_units"} in json.loads(
        out.attrs["dropped_units"])
    with pytest.raises(SchemaError, match="first_lick_time"):
        preprocess_session(_binned_session(counts, time), exclude_lick_trials=True)


def test_bad_preprocessing_parameters():
    from neurolearn.errors import ParameterError
    from neurolearn.preprocess import resolve_preset

    with pytest.raises(ParameterError, match="preset must be one of"):
        resolve_preset("nope")
    with pytest.raises(ParameterError, match=r"unknown preprocessing parameter\(s\) \['zcore'\]"):
        resolve_preset(zcore=False)
    with pytest.raises(ParameterError, match="zscore_ddof"):
        resolve_preset(zscore_ddof=2)
    with pytest.raises(ParameterError, match="response_window"):
        resolve_preset(response_window=(0.6, 0.1))
    with pytest.raises(ParameterError, match="min_response_rate"):
        resolve_preset(min_response_rate=-1)


def test_unit_filters_of_the_baseline_subtracted_preset():
    time = np.round(np.arange(-0.5, 0.7, 0.1), 9)
    counts = np.zeros((6, 4, time.size), dtype=int)
    counts[:, 0, :] = np.random.default_rng(1).poisson(4, (6, time.size))  # kept
    counts[0, 1, 6:8] = [3, 2]  # 5 spikes total, all in window: dropped (<= 5 total)
    counts[0, 2, 0:6] = 1       # 6 spikes in total but 0 in window: dropped (< 5)
    counts[:2, 3, 6:8] = 1      # 4 in window (trials 0,1 x bins 6,7) + 2 baseline: dropped
    counts[0, 3, 0:2] = 1
    ds = _binned_session(counts, time)
    out = preprocess_session(ds, preset="baseline_subtracted")
    assert list(out["unit_id"].values) == ["s-u000"]
    reasons = {d["unit_id"]: d["reason"] for d in json.loads(out.attrs["dropped_units"])}
    assert reasons["s-u001"].startswith("5 spikes in total")
    assert reasons["s-u002"].startswith("0 spikes in the response window")
    assert reasons["s-u003"].startswith("4 spikes in the response window")
    # A whole-raster spike count overrides the binned total.
    out = preprocess_session(ds.assign(total_spikes=("neuron", [100.0, 3.0, 100.0, 100.0])),
                             preset="baseline_subtracted")
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
