import numpy as np
import pytest
import xarray as xr

from neurolearn.errors import InsufficientDataError, NeurolearnError, SchemaError
from neurolearn.schema import (
    check_classes,
    iter_sessions,
    make_session,
    session_table,
    stack_sessions,
    to_tree,
    validate,
)


def _session(rng, n_trials=20, n_units=4, **overrides):
    kwargs = dict(stimulus=np.where(np.arange(n_trials) % 2, "a", "b"),
                  label=np.arange(n_trials) % 2, session="s1", mouse="m1", day=3,
                  phase="training")
    kwargs.update(overrides)
    return make_session(rng.normal(size=(n_trials, n_units)), **kwargs)


def test_make_session_layout(rng):
    ds = _session(rng)
    assert ds["rates"].dims == ("trial", "neuron")
    assert set(ds["day"].values) == {3}
    assert not ds["heldout"].values.any()
    assert list(ds["unit_id"].values) == ["s1-u000", "s1-u001", "s1-u002", "s1-u003"]
    validate(ds)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_rates_name_the_field(rng, bad):
    ds = _session(rng)
    ds["rates"][3, 1] = bad
    with pytest.raises(SchemaError, match=r"`rates` holds 1 non-finite.*trial 3, neuron 1"):
        validate(ds)


def test_wrong_dims(rng):
    ds = _session(rng).transpose("neuron", "trial", ...)
    with pytest.raises(SchemaError, match=r"`rates` must have dims \('trial', 'neuron'\)"):
        validate(ds)
    with pytest.raises(SchemaError, match="must be 2-D"):
        make_session(np.zeros(5), stimulus=["a"] * 5, label=[0] * 5, session="s",
                     mouse="m", day=1, phase="training")


def test_missing_coord(rng):
    ds = _session(rng).drop_vars("label")
    with pytest.raises(SchemaError, match="missing coordinate `label`"):
        validate(ds)
    with pytest.raises(SchemaError, match="missing data variable `rates`"):
        validate(_session(rng).drop_vars("rates"))


def test_bad_coordinate_values(rng):
    with pytest.raises(SchemaError, match="`day` must be a positive integer"):
        _session(rng, day=0)
    ds = _session(rng).assign_coords(label=("trial", np.linspace(0, 1, 20)))
    with pytest.raises(SchemaError, match="`label` must hold integer classes"):
        validate(ds)
    ds = _session(rng).assign_coords(session=("trial", np.array(["a", "b"] * 10, dtype=object)))
    with pytest.raises(SchemaError, match="`session` must be constant"):
        validate(ds)
    with pytest.raises(SchemaError, match="one value per trial"):
        _session(rng, stimulus=["a"] * 3)
    with pytest.raises(SchemaError, match="`unit_id` has repeated values"):
        _session(rng, unit_id=["u", "u", "v", "w"])
    with pytest.raises(SchemaError, match="`correct` must hold 1, 0 or NaN"):
        _session(rng, correct=np.full(20, 2.0))


def test_errors_share_a_base_class():
    assert issubclass(SchemaError, NeurolearnError) and issubclass(SchemaError, ValueError)
    assert issubclass(InsufficientDataError, NeurolearnError)


def test_check_classes(rng):
    ds = _session(rng)
    check_classes(ds, min_per_class=10)
    with pytest.raises(InsufficientDataError, match="too few trials per class.*label 0: 10"):
        check_classes(ds, min_per_class=11)
    one = _session(rng, label=np.ones(20, int))
    with pytest.raises(InsufficientDataError, match="single class"):
        check_classes(one)
    # Held-out trials do not count towards training classes.
    held = _session(rng, heldout=np.arange(20) % 2 == 1)
    with pytest.raises(InsufficientDataError, match="single class"):
        check_classes(held)


def test_tree_paths_and_stacking(rng):
    sessions = [_session(rng, session=f"m{m}-d{d}", mouse=f"m{m}", day=d,
                         phase="training" if d < 3 else "overtraining")
                for m in (2, 1) for d in (3, 1, 2)]
    tree = to_tree(sessions, attrs={"source": "test"})
    validate(tree)
    paths = [p for p, _ in iter_sessions(tree)]
    assert paths == ["/m1/m1-d1", "/m1/m1-d2", "/m1/m1-d3", "/m2/m2-d1", "/m2/m2-d2",
                     "/m2/m2-d3"]
    table = session_table(tree)
    assert table["n_units"].values.tolist() == [4] * 6
    values = {p: float(ds["day"].values[0]) * 10 for p, ds in iter_sessions(tree)}
    stacked = stack_sessions(values, tree, name="x")
    assert stacked.dims == ("session",)
    np.testing.assert_array_equal(stacked.values, stacked["day"].values * 10)
    assert list(stacked["mouse"].values) == ["m1"] * 3 + ["m2"] * 3
    per_fold = {s: xr.DataArray(np.arange(3) + i, dims="fold")
                for i, s in enumerate(table["session"].values)}
    stacked = stack_sessions(per_fold, tree)
    assert stacked.dims == ("session", "fold") and stacked.shape == (6, 3)
    with pytest.raises(SchemaError, match="not in the tree"):
        stack_sessions({"nope": 1.0}, tree)


def test_tree_errors(rng):
    with pytest.raises(SchemaError, match="no session"):
        validate(xr.DataTree())
    tree = xr.DataTree.from_dict({"/wrong/place": _session(rng)})
    with pytest.raises(SchemaError, match=r"must sit at /<mouse>/<session>, i.e. /m1/s1"):
        validate(tree)
    with pytest.raises(SchemaError, match="share the path"):
        to_tree([_session(rng), _session(rng)])
    with pytest.raises(SchemaError, match="expected an xarray.Dataset"):
        validate(np.zeros((3, 3)))


@pytest.mark.parametrize(("dtype", "bad", "units", "fails"), [
    (np.int16, None, "spike count", False), (np.uint8, None, "spike count", False),
    (np.float64, None, "spike count", False), (np.int16, -1, "spike count", True),
    (np.float64, -1.0, "spike count", True), (np.float64, np.nan, "spike count", True),
    (np.float64, np.inf, "Hz", True), (np.float64, -1.0, "Hz", False),
    (np.int64, -3, "Hz", False),
])
def test_binned_values_are_checked_whatever_their_dtype(rng, dtype, bad, units, fails):
    """Counts must be finite and non-negative; integer counts skip the float copy."""
    ds = _session(rng)
    counts = rng.poisson(2.0, size=(20, 4, 5)).astype(dtype)
    if bad is not None:
        counts[2, 1, 3] = bad
    ds["binned"] = (("trial", "neuron", "time"), counts,
                    {"bin_size": 0.05, "units": units})
    ds = ds.assign_coords(time=np.arange(5) * 0.05)
    if fails:
        with pytest.raises(SchemaError, match="`binned` must hold finite values"):
            validate(ds)
    else:
        validate(ds)
