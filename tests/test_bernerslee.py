import json
import shutil

import numpy as np
import pytest
import scipy.io as sio

from data_loaders import load, load_bernerslee, write_bernerslee
from data_loaders._matfile import read_mat, write_mat
from neurolearn.errors import LoaderError
from neurolearn.schema import iter_sessions, validate

COORDS = ("stimulus", "label", "heldout", "choice", "correct", "day", "mouse", "phase",
          "session")


def _assert_same_sessions(a_tree, b_tree):
    a_items, b_items = list(iter_sessions(a_tree)), list(iter_sessions(b_tree))
    assert [p for p, _ in a_items] == [p for p, _ in b_items]
    for (_, a), (_, b) in zip(a_items, b_items, strict=True):
        np.testing.assert_array_equal(a["unit_id"].values, b["unit_id"].values)
        np.testing.assert_array_equal(a["binned"].values, b["binned"].values)
        np.testing.assert_allclose(a["rates"].values, b["rates"].values, rtol=0, atol=1e-12)
        for name in COORDS:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_round_trip(small_tree, tmp_path, version):
    files = write_bernerslee(small_tree, tmp_path, version=version, progress=False)
    n_units = sum(ds.sizes["neuron"] for _, ds in iter_sessions(small_tree))
    assert len(files) == n_units
    assert {f.parent.name for f in files} == {"training", "probes"}
    loaded = load_bernerslee(tmp_path, progress=False)
    validate(loaded)
    _assert_same_sessions(small_tree, loaded)
    # The raw file follows the study's layout.
    raw = read_mat(files[0])
    assert raw["raster_data"].shape[1] == 17000
    assert set(np.unique(raw["raster_data"])) <= {0, 1}
    labels = raw["raster_labels"]
    assert isinstance(labels["mouse_name"], str) and int(labels["day_of_behavior"]) == 1
    assert "stimulus_category_with_nontarg_repeats" not in labels  # training session
    probe_file = next(f for f in files if f.parent.name == "probes")
    labels = read_mat(probe_file)["raster_labels"]
    cats = set(labels["stimulus_category_with_nontarg_repeats"])
    assert {"target", "nontarget nonrepeat", "nontarget repeat one", ""} <= cats
    assert {"probes_comp_1", "probes_comp_2", "probes_comp_3"} <= set(
        labels["stimulus_category_with_probes"])


def test_onset_column_alignment(tmp_path):
    # One spike at MATLAB column 5101 (100 ms after onset) on every trial.
    n = 12
    raster = np.zeros((n, 17000), np.uint8)
    raster[:, 5100] = 1
    raster[:, 5599] = 1  # column 5600 = 599 ms: last ms inside the window
    raster[:, 5600] = 1  # 600 ms: outside
    raster[:6, 4600] = 1  # -400 ms: baseline, half the trials
    stim = ["target", "nontarget"] * (n // 2)
    labels = {"stimulus_category_with_probes": stim, "correct_vs_error": ["correct"] * n,
              "lick_choice": ["right", "left"] * (n // 2),
              # Lick times in ms from onset; trial 0 licked right (port one), trial 1 left.
              "all_licks_port_one": [np.array([250.0, 300.0])] + [""] * (n - 1),
              "all_licks_port_two": [np.array([900.0])] * 2 + [""] * (n - 2),
              "mouse_name": "Q", "day_of_behavior": 4.0}
    for u in range(4):
        unit = raster.copy()
        unit[:, 10000 + u] = 1  # 5 s after onset: distinct units, outside every window
        write_mat(tmp_path / f"unit{u}.mat", unit, labels)
    ds = next(iter_sessions(load_bernerslee(tmp_path, progress=False, near_duplicate_threshold=2,
                                            zscore=False)))[1]
    # 2 spikes in 0.5 s = 4 Hz; the baseline spikes are never subtracted (original rule).
    np.testing.assert_allclose(ds["rates"].values[:, 0], 4.0)
    old = next(iter_sessions(load_bernerslee(tmp_path, progress=False, near_duplicate_threshold=2,
                                             preset="baseline_subtracted", zscore=False)))[1]
    # The baseline-subtracted preset: baseline 1 spike in 0.5 s = 2 Hz on trials 0-5.
    np.testing.assert_allclose(old["rates"].values[:, 0], np.where(np.arange(n) < 6, 2.0, 4.0))
    # First lick on the chosen port, ms -> s: trial 0 chose right (250 ms), trial 1 left (900).
    np.testing.assert_array_equal(ds["first_lick_time"].values[:3], [0.25, 0.9, np.nan])
    assert ds["phase"].values[0] == "training" and ds["session"].values[0] == "Q-d04"
    np.testing.assert_array_equal(ds["total_spikes"].values, 4 * n + 6)


def _write_unit(path, n_trials=10, mouse="Q", day=1, seed=0, stim=None):
    rng = np.random.default_rng(seed)
    raster = (rng.random((n_trials, 17000)) < 0.01).astype(np.uint8)
    stim = stim or ["target", "nontarget"] * (n_trials // 2)
    write_mat(path, raster, {"stimulus_category_with_probes": stim,
                             "correct_vs_error": ["correct"] * n_trials,
                             "lick_choice": ["right"] * n_trials,
                             "mouse_name": mouse, "day_of_behavior": float(day)})
    return raster


def test_mismatched_trial_counts(tmp_path):
    _write_unit(tmp_path / "a.mat", n_trials=10)
    _write_unit(tmp_path / "b.mat", n_trials=12, seed=1)
    with pytest.raises(LoaderError, match=r"b.mat has 12 trials but a.mat has 10"):
        load_bernerslee(tmp_path, progress=False)


def test_mismatched_labels(tmp_path):
    _write_unit(tmp_path / "a.mat")
    _write_unit(tmp_path / "b.mat", seed=1, stim=["target"] * 9 + ["nontarget"])
    with pytest.raises(LoaderError, match=r"stimulus_category_with_probes` disagrees between "
                                          r"a.mat and b.mat at trial 2"):
        load_bernerslee(tmp_path, progress=False)


def test_truncated_file(tmp_path):
    _write_unit(tmp_path / "a.mat")
    data = (tmp_path / "a.mat").read_bytes()
    (tmp_path / "a.mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(LoaderError, match=r"a.mat: cannot read .*corrupt"):
        load_bernerslee(tmp_path, progress=False)
    (tmp_path / "a.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(LoaderError, match="a.mat"):
        load_bernerslee(tmp_path, progress=False)


def test_missing_variable(tmp_path):
    write_mat(tmp_path / "a.mat", np.zeros((2, 17000), np.uint8), {"mouse_name": "Q"})
    with pytest.raises(LoaderError, match=r"raster_labels.day_of_behavior` is missing"):
        load_bernerslee(tmp_path, progress=False)


def test_empty_directory(tmp_path):
    with pytest.raises(LoaderError, match="no .mat files"):
        load_bernerslee(tmp_path, progress=False)
    with pytest.raises(LoaderError, match="not a directory"):
        load_bernerslee(tmp_path / "absent", progress=False)


def test_duplicate_unit_file(tmp_path):
    _write_unit(tmp_path / "a.mat")
    shutil.copy(tmp_path / "a.mat", tmp_path / "a_copy.mat")
    with pytest.raises(LoaderError, match=r"a.mat and .*a_copy.mat hold identical rasters"):
        load_bernerslee(tmp_path, progress=False)


def test_near_duplicate_units_are_dropped_and_reported(tmp_path):
    for u in range(5):
        _write_unit(tmp_path / f"u{u}.mat", n_trials=40, seed=u)
    raster = _write_unit(tmp_path / "u5.mat", n_trials=40, seed=0)  # same as u0 ...
    spikes = np.flatnonzero(raster)
    raster.ravel()[spikes[:3]] = 0  # ... but for three spikes
    write_mat(tmp_path / "u5.mat", raster, read_mat(tmp_path / "u0.mat")["raster_labels"])
    tree = load_bernerslee(tmp_path, progress=False)
    ds = next(iter_sessions(tree))[1]
    assert "u5" not in ds["unit_id"].values and ds.sizes["neuron"] == 5
    report = json.loads(ds.attrs["near_duplicate_units"])
    assert report[0]["unit_id"] == "u5" and report[0]["duplicate_of"] == "u0"
    assert report[0]["cosine"] > 0.99


def test_load_dispatch(small_tree, tmp_path):
    write_bernerslee(small_tree, tmp_path, progress=False)
    _assert_same_sessions(small_tree, load(tmp_path, progress=False))
    with pytest.raises(LoaderError, match="no such file"):
        load(tmp_path / "nothing.nc")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(LoaderError, match="cannot tell the format"):
        load(tmp_path / "x.txt")


def test_raster_too_short_for_the_window(tmp_path):
    # The window's end is measured from the onset column: 5000 + 500 columns needed.
    write_mat(tmp_path / "a.mat", np.zeros((4, 1000), np.uint8),
              {"stimulus_category_with_probes": ["target", "nontarget"] * 2,
               "mouse_name": "Q", "day_of_behavior": 1.0})
    with pytest.raises(LoaderError, match=r"a.mat: `raster_data` has 1000 columns; .* needs 5500"):
        load_bernerslee(tmp_path, time_window=(-0.5, 0.5), progress=False)


def test_worker_processes_write_and_read_the_same_study(small_tree, tmp_path):
    """workers=2 writes byte-identical rasters and reads back the same study as
    one process (the spikes are placed in the parent, the files only
    compressed and parsed in the workers)."""
    one = write_bernerslee(small_tree, tmp_path / "one", progress=False)
    two = write_bernerslee(small_tree, tmp_path / "two", workers=2, progress=False)
    assert [f.relative_to(tmp_path / "one") for f in one] == \
        [f.relative_to(tmp_path / "two") for f in two]
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(read_mat(a)["raster_data"], read_mat(b)["raster_data"])
    serial = load_bernerslee(tmp_path / "one", progress=False)
    parallel = load_bernerslee(tmp_path / "two", workers=2, progress=False)
    _assert_same_sessions(serial, parallel)
    _assert_same_sessions(small_tree, parallel)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_session_whose_files_are_apart_is_read_whole(small_tree, tmp_path, workers):
    """Sessions are assembled while files are still being read, as soon as the
    (sorted) stream of files moves past them: a unit file that sorts far from
    the rest of its session must still land in it."""
    files = write_bernerslee(small_tree, tmp_path, progress=False)
    moved = next(f for f in files if f.parent.name == "training")
    (tmp_path / "zz_late").mkdir()
    shutil.move(moved, tmp_path / "zz_late" / moved.name)
    tree = load_bernerslee(tmp_path, workers=workers, progress=False)
    _assert_same_sessions(small_tree, tree)


def _savemat_unit(path, raster, mouse, day, stim):
    """A unit file written by SciPy itself in the documented layout (cells as
    n × 1 object arrays), not by our writer."""
    cell = lambda values: np.array(values, dtype=object).reshape(-1, 1)  # noqa: E731
    n = raster.shape[0]
    sio.savemat(path, {"raster_data": raster, "raster_labels": {
        "stimulus_category_with_probes": cell(stim),
        "correct_vs_error": cell(["correct"] * n), "lick_choice": cell(["right"] * n),
        "mouse_name": mouse, "day_of_behavior": float(day)}}, do_compression=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_scipy_written_files_with_a_session_split_across_folders(tmp_path, workers):
    """Files from ``scipy.io.savemat``; session Q day 2 has one file in each of
    two folders that sort apart, with session R day 1 between them: every
    unit lands in its session, binned as the raster's 50 ms window sums."""
    rng = np.random.default_rng(5)
    stim = ["target", "nontarget"] * 10
    plan = [("a", "q1", "Q", 2), ("b", "r1", "R", 1), ("b", "r2", "R", 1), ("c", "q2", "Q", 2)]
    rasters = {}
    for folder, name, mouse, day in plan:
        (tmp_path / folder).mkdir(exist_ok=True)
        rasters[name] = (rng.random((20, 17000)) < 0.02).astype(np.uint8)
        _savemat_unit(tmp_path / folder / f"{name}.mat", rasters[name], mouse, day, stim)
    tree = load_bernerslee(tmp_path, workers=workers, preprocess=False, progress=False)
    assert [node.path for node in tree.leaves] == ["/Q/Q-d02", "/R/R-d01"]
    for path, names in (("Q/Q-d02", ["q1", "q2"]), ("R/R-d01", ["r1", "r2"])):
        ds = tree[path].to_dataset()
        assert ds["unit_id"].values.tolist() == names
        assert ds["stimulus"].values.tolist() == stim
        expected = np.stack([rasters[u][:, 4000:7500].reshape(20, 70, 50).sum(axis=2)
                             for u in names], axis=1)
        np.testing.assert_array_equal(ds["binned"].values, expected)


def test_session_errors_are_raised_in_session_order(tmp_path):
    """A session that fails is reported as after a whole read: the first
    failing session in (mouse, day) order, not in file order."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_unit(tmp_path / "a" / "late1.mat", mouse="Z", n_trials=10)
    _write_unit(tmp_path / "a" / "late2.mat", mouse="Z", n_trials=12, seed=1)
    _write_unit(tmp_path / "b" / "early1.mat", mouse="A", n_trials=10, seed=2)
    _write_unit(tmp_path / "b" / "early2.mat", mouse="A", n_trials=14, seed=3)
    with pytest.raises(LoaderError, match=r"session A day 1: early2.mat has 14 trials"):
        load_bernerslee(tmp_path, progress=False)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(small_tree, tmp_path, workers):
    from neurolearn.errors import ParameterError

    with pytest.raises(ParameterError, match="workers"):
        load_bernerslee(tmp_path, workers=workers, progress=False)
    with pytest.raises(ParameterError, match="workers"):
        write_bernerslee(small_tree, tmp_path, workers=workers, progress=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_a_raster_with_a_non_count_is_refused(tmp_path, bad):
    raster = np.zeros((3, 17000))
    raster[1, 9000] = bad
    labels = {"stimulus_category_with_probes": ["target", "nontarget", "target"],
              "mouse_name": "m", "day_of_behavior": 1.0}
    write_mat(tmp_path / "u1.mat", raster, labels)
    with pytest.raises(LoaderError, match="non-negative spike counts"):
        load_bernerslee(tmp_path, progress=False)


@pytest.mark.parametrize("dtype", [np.uint8, bool, np.float64, np.int16])
@pytest.mark.parametrize("order", ["C", "F"])
def test_spike_positions_are_flatnonzero_whatever_the_layout(dtype, order):
    from data_loaders.bernerslee import _nonzero_positions

    rng = np.random.default_rng(3)
    for shape in [(40, 1700), (7, 3), (0, 8)]:
        a = np.asarray((rng.random(shape) < 0.02) * rng.integers(1, 3, shape), dtype=dtype,
                       order=order)
        np.testing.assert_array_equal(_nonzero_positions(a), np.flatnonzero(a))
