import numpy as np
import pytest
import xarray as xr

from neurolearn.behavior import days_to_criterion, performance
from neurolearn.errors import SchemaError
from neurolearn.schema import make_session, to_tree
from neurolearn.summary import across_mice


def _session(mouse, day, correct, label, heldout=None):
    n = len(correct)
    return make_session(np.zeros((n, 1)), stimulus=["x"] * n, label=label,
                        session=f"{mouse}-{day}", mouse=mouse, day=day,
                        phase="training" if day < 3 else "overtraining", correct=correct,
                        heldout=heldout)


def test_performance_by_hand():
    s1 = _session("m1", 1, [1, 0, 1, np.nan, 1, 1], [1, 1, 0, 0, 0, 1],
                  heldout=[False] * 5 + [True])
    tree = to_tree([s1])
    perf = performance(tree)
    # Trained trials with an outcome: 0..2 and 4 -> correct 1,0,1,1.
    assert float(perf["fraction_correct"][0]) == pytest.approx(0.75)
    assert float(perf["fraction_correct_target"][0]) == pytest.approx(0.5)
    assert float(perf["fraction_correct_nontarget"][0]) == pytest.approx(1.0)
    assert int(perf["n_trials"][0]) == 4 and int(perf["n_no_outcome"][0]) == 1
    assert float(performance(tree, include_heldout=True)["fraction_correct"][0]) == 0.8
    with pytest.raises(SchemaError, match="needs the `correct` coordinate"):
        performance(to_tree([s1.drop_vars("correct")]))


def test_across_mice_mean_and_se():
    values = {("a", 1): 0.5, ("a", 2): 0.7, ("b", 1): 0.6, ("b", 2): 0.9, ("c", 2): np.nan}
    da = xr.DataArray(list(values.values()), dims="session", coords={
        "session": [f"{m}{d}" for m, d in values], "mouse": ("session", [m for m, _ in values]),
        "day": ("session", [d for _, d in values]),
        "phase": ("session", ["training"] * 5)})
    out = across_mice(da)
    np.testing.assert_allclose(out["mean"], [0.55, 0.8])
    np.testing.assert_allclose(out["sem"], [np.std([0.5, 0.6], ddof=1) / np.sqrt(2),
                                            np.std([0.7, 0.9], ddof=1) / np.sqrt(2)])
    np.testing.assert_array_equal(out["n_mice"], [2, 2])


def test_across_mice_matches_pandas_with_repeats_nan_and_extra_dims():
    """Against pandas: mean per (mouse, day), then mean, SD (ddof=1) / sqrt(n)
    and count across mice per day, NaN skipped at both stages; an extra dim
    (before ``session``) stays where it was and ``session`` becomes ``day``."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    mouse = rng.choice(["m1", "m2", "m3", "m4"], size=60)
    day = rng.integers(1, 7, size=60)  # repeated (mouse, day) pairs and gaps
    values = rng.normal(size=(2, 60))
    values[rng.random(values.shape) < 0.25] = np.nan
    da = xr.DataArray(values, dims=("k", "session"), coords={
        "k": [10, 20], "session": [f"s{i}" for i in range(60)], "mouse": ("session", mouse),
        "day": ("session", day), "phase": ("session", np.where(day > 3, "overtraining",
                                                              "training"))},
        attrs={"units": "Hz"})
    out = across_mice(da)
    assert out["mean"].dims == ("k", "day") and out["mean"].attrs["units"] == "Hz"
    for i, k in enumerate([10, 20]):
        frame = pd.DataFrame({"mouse": mouse, "day": day, "v": values[i]})
        per_mouse_day = frame.groupby(["mouse", "day"])["v"].mean().reset_index()
        table = per_mouse_day.groupby("day")["v"].agg(["mean", "std", "count"])
        np.testing.assert_array_equal(out["day"].values, table.index.values)
        np.testing.assert_allclose(out["mean"].sel(k=k), table["mean"], rtol=1e-12)
        np.testing.assert_allclose(out["sem"].sel(k=k),
                                   table["std"] / np.sqrt(table["count"].where(
                                       table["count"] > 0)), rtol=1e-12)
        np.testing.assert_array_equal(out["n_mice"].sel(k=k), table["count"])


def test_days_to_criterion():
    days = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    vals = [0.5, 0.85, 0.7, 0.82, 0.9, 0.5, 0.6, 0.7, 0.75, 0.79]
    da = xr.DataArray(vals, dims="session", coords={
        "mouse": ("session", ["a"] * 5 + ["b"] * 5), "day": ("session", days)})
    out = days_to_criterion(da, criterion=0.8, n_consecutive=2)
    assert out.sel(mouse="a") == 4 and np.isnan(out.sel(mouse="b"))
    assert days_to_criterion(da, n_consecutive=1).sel(mouse="a") == 2


def test_demo_data_behaviour(small_tree):
    perf = performance(small_tree)
    assert perf.sizes["session"] == 5 and perf["fraction_correct"].notnull().all()
