"""Tracker outputs written in each tool's documented layout, read back into `track`."""

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io as sio

from data_loaders.tracks import assign_tracks, read_tracks
from neurolearn.errors import LoaderError, ParameterError, SchemaError
from neurolearn.schema import iter_sessions, make_session, to_tree
from neurolearn.tracking import common_tracks, has_tracks, session_tracks


@pytest.fixture
def study(rng):
    sessions = []
    for day, n in ((1, 5), (2, 4), (3, 6)):
        sessions.append(make_session(
            rng.normal(size=(20, n)), stimulus=["a", "b"] * 10, label=[1, 0] * 10,
            session=f"M-d{day}", mouse="M", day=day, phase="training",
            unit_id=[f"u{day}{j}" for j in range(n)]).assign_coords(
                cluster_id=("neuron", 100 * day + np.arange(n)), roi=("neuron", 2 * np.arange(n))))
    return to_tree(sessions)


def _tracks(tree):
    return {p.split("/")[-1]: ds["track"].values.tolist() for p, ds in iter_sessions(tree)}


def test_csv_by_unit_id(study, tmp_path):
    pd.DataFrame({"session": ["M-d1", "M-d2", "M-d3", "M-d1"],
                  "unit_id": ["u10", "u22", "u35", "u13"],
                  "track": ["A", "A", "A", "B"]}).to_csv(tmp_path / "t.csv", index=False)
    tree = assign_tracks(study, tmp_path / "t.csv")
    got = _tracks(tree)
    assert got["M-d1"] == ["A", "", "", "B", ""] and got["M-d2"] == ["", "", "A", ""]
    assert has_tracks(tree) and not has_tracks(study)
    ds = dict(iter_sessions(tree))
    assert common_tracks(ds["/M/M-d1"], ds["/M/M-d3"]).tolist() == ["A"]
    assert ds["/M/M-d1"].attrs["n_tracked"] == 2
    bad = pd.DataFrame({"session": ["M-d1"], "unit_id": ["nope"], "track": ["A"]})
    with pytest.raises(LoaderError, match="not in the session"):
        assign_tracks(study, bad)
    with pytest.raises(LoaderError, match="does not have: M-d9"):
        assign_tracks(study, bad.assign(session="M-d9"))
    with pytest.raises(LoaderError, match="names two units"):
        read_tracks(pd.DataFrame({"session": ["M-d1"] * 2, "unit_id": ["u10", "u11"],
                                  "track": ["A", "A"]}))


def test_cellreg_v5_and_v73(study, tmp_path):
    # CellReg: rows are registered cells, columns sessions, 1-based indices, 0 = absent.
    index_map = np.array([[1, 2, 6], [3, 0, 1], [0, 4, 2], [5, 1, 0]], dtype=float)
    sio.savemat(tmp_path / "cellRegistered_v5.mat",
                {"cell_registered_struct": {"cell_to_index_map": index_map}})
    with h5py.File(tmp_path / "cellRegistered_v73.mat", "w") as f:  # MATLAB -v7.3 layout
        g = f.create_group("cell_registered_struct")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        d = g.create_dataset("cell_to_index_map", data=index_map.T)  # column-major
        d.attrs["MATLAB_class"] = np.bytes_("double")
    expected = {"M-d1": ["cell0", "", "cell1", "", "cell3"],
                "M-d2": ["cell3", "cell0", "", "cell2"],
                "M-d3": ["cell1", "cell2", "", "", "", "cell0"]}
    for name in ("cellRegistered_v5.mat", "cellRegistered_v73.mat"):
        assert _tracks(assign_tracks(study, tmp_path / name)) == expected
    with pytest.raises(LoaderError, match="has 3 sessions but `sessions=` names 2"):
        assign_tracks(study, tmp_path / "cellRegistered_v5.mat", sessions=["M-d1", "M-d2"])


def test_roicat_by_roi_coordinate(study, tmp_path):
    # ROICaT: one array of cluster labels (UCIDs) per session over its ROIs; -1 unclustered.
    results = {"clusters": {"labels_bySession": [np.array([0, -1, 7, 3, -1]),
                                                 np.array([7, 0, -1, 3]),
                                                 np.array([-1, 0, 3, 7, -1, -1])]}}
    with open(tmp_path / "tracking.results.pkl", "wb") as fh:
        pickle.dump(results, fh)
    got = _tracks(assign_tracks(study, tmp_path / "tracking.results.pkl"))
    assert got["M-d1"] == ["ucid0", "", "ucid7", "ucid3", ""]
    assert got["M-d3"] == ["", "ucid0", "ucid3", "ucid7", "", ""]
    # Indices that name the Suite2p ROI (the `roi` coordinate: 0, 2, 4, ...).
    results = {"clusters": {"labels_bySession": [np.array([5, -1, 1, -1, -1]),
                                                 np.array([1, -1, -1, -1, 5]),
                                                 np.array([-1] * 11)]}}
    with open(tmp_path / "by_roi.pkl", "wb") as fh:
        pickle.dump(results, fh)
    got = _tracks(assign_tracks(study, tmp_path / "by_roi.pkl", key="roi"))
    assert got["M-d1"] == ["ucid5", "ucid1", "", "", ""]
    assert got["M-d2"] == ["ucid1", "", "ucid5", ""]


def test_unitmatch_by_cluster_id(study, tmp_path):
    sio.savemat(tmp_path / "UnitMatch.mat", {"UniqueIDConversion": {
        "UniqueID": np.array([1, 2, 3, 1, 3, 2, 1]),
        "OriginalClusID": np.array([100, 101, 102, 200, 203, 301, 305]),
        "recsesAll": np.array([1, 1, 1, 2, 2, 3, 3]),
        "GoodID": np.array([1, 1, 0, 1, 1, 1, 1])}})
    got = _tracks(assign_tracks(study, tmp_path / "UnitMatch.mat"))
    assert got["M-d1"] == ["uid1", "uid2", "", "", ""]  # cluster 102 is not good
    assert got["M-d2"] == ["uid1", "", "", "uid3"]
    assert got["M-d3"] == ["", "uid2", "", "", "", "uid1"]


def test_tracker_errors(study, tmp_path):
    (tmp_path / "x.mat").write_bytes(b"not a mat file")
    with pytest.raises(LoaderError, match="cannot read"):
        read_tracks(tmp_path / "x.mat", sessions=["a"])
    sio.savemat(tmp_path / "other.mat", {"something": np.ones(3)})
    with pytest.raises(LoaderError, match="cell_to_index_map"):
        read_tracks(tmp_path / "other.mat", sessions=["a"])
    sio.savemat(tmp_path / "cellreg.mat",
                {"cell_registered_struct": {"cell_to_index_map": np.ones((2, 3))}})
    with pytest.raises(ParameterError, match="pass `sessions=`"):
        read_tracks(tmp_path / "cellreg.mat")
    ds = next(iter_sessions(study))[1].assign_coords(track=("neuron", ["a", "a", "", "", ""]))
    with pytest.raises(SchemaError, match="track ids repeat"):
        session_tracks(ds)
