import numpy as np
import pytest
import xarray as xr

from data_loaders import from_arrays, load, load_netcdf, load_npz, save_netcdf, save_npz
from neurolearn.errors import InsufficientDataError, LoaderError
from neurolearn.schema import iter_sessions


def test_netcdf_round_trip_is_identical(small_tree, tmp_path):
    path = save_netcdf(small_tree, tmp_path / "study.nc")
    loaded = load_netcdf(path)
    xr.testing.assert_identical(small_tree, loaded)
    xr.testing.assert_identical(small_tree, load(path))


def test_netcdf_corrupt(tmp_path):
    (tmp_path / "bad.nc").write_bytes(b"\x89HDF garbage")
    with pytest.raises(LoaderError, match="bad.nc: cannot read"):
        load_netcdf(tmp_path / "bad.nc")


def test_npz_round_trip(small_tree, tmp_path):
    path = save_npz(small_tree, tmp_path / "study.npz")
    loaded = load_npz(path)
    for (pa, a), (pb, b) in zip(iter_sessions(small_tree), iter_sessions(loaded), strict=True):
        assert pa == pb
        np.testing.assert_array_equal(a["rates"].values, b["rates"].values)
        np.testing.assert_array_equal(a["binned"].values, b["binned"].values)
        for name in ("stimulus", "label", "heldout", "correct", "choice", "unit_id"):
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "x.npz", rates=np.zeros((3, 3)))
    with pytest.raises(LoaderError, match="no `<session>/meta`"):
        load_npz(tmp_path / "x.npz")
    (tmp_path / "y.npz").write_bytes(b"garbage")
    with pytest.raises(LoaderError, match="cannot read as a NumPy .npz"):
        load_npz(tmp_path / "y.npz")


def test_from_arrays(rng):
    ds = from_arrays(rng.normal(size=(10, 3)), stimulus=["a"] * 10, label=[0, 1] * 5,
                     session="s", mouse="m", day=2, phase="overtraining",
                     heldout=[False] * 8 + [True] * 2)
    assert int(ds["heldout"].sum()) == 2 and ds.sizes == {"trial": 10, "neuron": 3}


def _write_nwb(path, spike_times, onsets, stim, label, day=5, heldout=None):
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    nwb = NWBFile(session_description="test", identifier="id1", session_id="R-d05",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
                  subject=Subject(subject_id="R", species="Mus musculus"))
    for col in ("stimulus", "label", "day", "heldout", "correct"):
        nwb.add_trial_column(col, f"{col} of the trial")
    for i, t in enumerate(onsets):
        nwb.add_trial(start_time=t, stop_time=t + 3.0, stimulus=stim[i], label=label[i],
                      day=day, heldout=bool(heldout[i]) if heldout is not None else False,
                      correct=1.0)
    for st in spike_times:
        nwb.add_unit(spike_times=st)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_round_trip(tmp_path, rng):
    pytest.importorskip("pynwb")
    onsets = np.arange(20) * 10.0 + 5.0
    spikes = [np.sort(rng.uniform(0, 210, 400)) for _ in range(5)]
    stim = ["target", "nontarget"] * 10
    _write_nwb(tmp_path / "s.nwb", spikes, onsets, stim, [1, 0] * 10)
    tree = load(tmp_path / "s.nwb", zscore=False, subtract_baseline=False)
    ds = next(iter_sessions(tree))[1]
    assert ds["session"].values[0] == "R-d05" and ds["mouse"].values[0] == "R"
    assert int(ds["day"].values[0]) == 5 and ds["phase"].values[0] == "training"
    # Independent reference: count spikes in [onset + 0.1, onset + 0.6) by hand.
    expected = np.array([[np.sum((s >= t + 0.1) & (s < t + 0.6)) / 0.5 for s in spikes]
                         for t in onsets])
    np.testing.assert_allclose(ds["rates"].values, expected)
    np.testing.assert_array_equal(ds["stimulus"].values, stim)


def test_nwb_errors(tmp_path, rng):
    pytest.importorskip("pynwb")
    (tmp_path / "bad.nwb").write_bytes(b"nope")
    with pytest.raises(LoaderError, match="bad.nwb: cannot read as an NWB file"):
        load(tmp_path / "bad.nwb")
    onsets = np.arange(6) * 10.0 + 5.0
    _write_nwb(tmp_path / "s.nwb", [np.array([1.0, 2.0])], onsets, ["a", "b"] * 3, [1, 0] * 3)
    with pytest.raises(LoaderError, match="no column `odour`"):
        load(tmp_path / "s.nwb", stimulus_column="odour")
    with pytest.raises(InsufficientDataError, match="no session has at least 4 units"):
        load(tmp_path / "s.nwb")
