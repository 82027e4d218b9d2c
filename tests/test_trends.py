"""Day trends: inference about mice, calibrated on simulated studies with known truth.

The simulation is DESIGN §5's: 4 mice over days 9-26, each mouse with its own
overtraining slope (SD 0.02/day around the true mean) and intercept (SD 0.3),
session noise SD 0.1. Each scenario runs 400 seeded studies; the Monte-Carlo
SE of a 0.05 rate is 0.011.

Measured here (400 seeded studies each; false-positive rate at α = 0.05 /
95 % CI coverage of the truth):

=================================  =============  ===============
scenario                           two-stage      sessions pooled
=================================  =============  ===============
slopes differ between mice          0.055 / 0.945  0.212 / 0.772
i.i.d. sessions                     0.055 / 0.945  0.052 / 0.930
intercepts differ, slopes equal     0.055 / 0.945  0.000 / 0.993
20 % of sessions missing            0.037 / 0.963  0.223 / 0.777
=================================  =============  ===============

Power of the two-stage test at 4 mice, true mean slope 0.02/day: 0.98 with
per-mouse slope SD 0.005 (DESIGN: 0.96), 0.29 with SD 0.02 (DESIGN: 0.27);
and at the slope ``detectable_slope`` names, 0.8 within Monte-Carlo error.
"""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neurolearn.errors import InsufficientDataError, ParameterError
from neurolearn.trends import day_trend, detectable_slope

DAYS = np.arange(9, 27)


def _study(rng, *, mean=0.0, slope_sd=0.02, intercept_sd=0.3, noise=0.1, n_mice=4,
           missing=0.0):
    mouse, day, y = [], [], []
    for m in range(n_mice):
        b, a = rng.normal(mean, slope_sd), rng.normal(0.0, intercept_sd)
        keep = rng.random(DAYS.size) >= missing
        d = DAYS[keep]
        mouse += [f"m{m}"] * d.size
        day += list(d)
        y += list(a + b * (d - DAYS.mean()) + rng.normal(0, noise, d.size))
    return xr.DataArray(np.array(y), dims="session", name="measure",
                        coords={"mouse": ("session", np.array(mouse)),
                                "day": ("session", np.array(day)),
                                "phase": ("session", np.full(len(y), "overtraining"))})


def _rates(truth=0.0, n_studies=400, method="two_stage", seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    reject = cover = 0
    for _ in range(n_studies):
        t = day_trend(_study(rng, mean=truth, **kwargs), method=method, n_boot=200,
                      n_permutations=200)
        reject += float(t["pvalue"]) < 0.05
        cover += float(t["ci_low"]) <= truth <= float(t["ci_high"])
    return reject / n_studies, cover / n_studies


@pytest.mark.parametrize("scenario", [
    {"slope_sd": 0.02, "intercept_sd": 0.3},            # mice differ in slope and level
    {"slope_sd": 0.0, "intercept_sd": 0.0},             # i.i.d. sessions
    {"slope_sd": 0.0, "intercept_sd": 0.3},             # only the levels differ
    {"slope_sd": 0.02, "intercept_sd": 0.3, "missing": 0.2},
])
def test_two_stage_is_calibrated(scenario):
    false_positive, coverage = _rates(**scenario)
    assert false_positive <= 0.07
    assert coverage >= 0.93


def test_sessions_pooled_are_anti_conservative_when_mice_differ():
    """Why the default is about mice: pooling sessions rejects a true 0 far too often."""
    false_positive, coverage = _rates(method="sessions", n_studies=200)
    assert false_positive > 0.12 and coverage < 0.88


def test_two_stage_power():
    reject, _ = _rates(truth=0.02, slope_sd=0.005)
    assert reject >= 0.85


def test_detectable_slope_has_the_power_it_states():
    sd, n_mice = 0.02, 4
    delta = detectable_slope(sd, n_mice)
    assert delta / sd == pytest.approx(2.1, abs=0.05)  # DESIGN §5: ≈ 2.1 per-mouse SDs
    rng = np.random.default_rng(1)
    slopes = rng.normal(delta, sd, (4000, n_mice))
    p = stats.ttest_1samp(slopes, 0.0, axis=1).pvalue
    assert np.mean(p < 0.05) == pytest.approx(0.8, abs=0.03)


def test_two_stage_equals_per_mouse_regressions_and_a_t_test():
    study = _study(np.random.default_rng(3), mean=0.01)
    trend = day_trend(study)
    slopes = []
    for m in np.unique(study["mouse"].values):
        sel = study.where(study["mouse"] == m, drop=True)
        slopes.append(stats.linregress(sel["day"].values, sel.values).slope)
    ref = stats.ttest_1samp(slopes, 0.0)
    ci = ref.confidence_interval(0.95)
    assert float(trend["slope"]) == pytest.approx(np.mean(slopes), rel=1e-12)
    assert float(trend["pvalue"]) == pytest.approx(ref.pvalue, rel=1e-9)
    assert float(trend["ci_low"]) == pytest.approx(ci.low, rel=1e-9)
    assert float(trend["ci_high"]) == pytest.approx(ci.high, rel=1e-9)
    np.testing.assert_allclose(trend["mouse_slope"].values, slopes, rtol=1e-12)
    assert int(trend["n_mice"]) == 4 and int(trend["n_sessions"]) == study.size
    assert trend.attrs["unit"] == "mice"


def test_session_method_matches_linregress():
    study = _study(np.random.default_rng(4), mean=0.02, slope_sd=0.0)
    trend = day_trend(study, method="sessions", n_boot=500, n_permutations=500)
    ref = stats.linregress(study["day"].values, study.values)
    assert float(trend["slope"]) == pytest.approx(ref.slope)
    assert float(trend["ci_low"]) < ref.slope < float(trend["ci_high"])
    assert trend.attrs["unit"] == "sessions"


def test_too_few_mice_or_sessions():
    one = _study(np.random.default_rng(5), n_mice=1)
    with pytest.raises(InsufficientDataError, match="at least 2 mice"):
        day_trend(one)
    assert np.isfinite(float(day_trend(one, method="sessions")["slope"]))
    with pytest.raises(InsufficientDataError, match="at least 3 sessions on 2 days"):
        day_trend(one.isel(session=[0, 1]), method="sessions")
    with pytest.raises(ParameterError, match="`method` must be one of 'two_stage', 'sessions'"):
        day_trend(one, method="bootstrap")


def test_constant_measure_has_no_rank_correlation_and_no_warning():
    study = _study(np.random.default_rng(6), slope_sd=0.0, intercept_sd=0.0, noise=0.0)
    trend = day_trend(study)
    assert np.isnan(float(trend["spearman_rho"])) and "constant" in trend.attrs["note"]
    assert float(trend["slope"]) == 0.0 and float(trend["pvalue"]) == 1.0
