"""The MATLAB v5 encoder against SciPy's writer, byte for byte."""

import io

import numpy as np
import pytest
import scipy.io as sio

from data_loaders import make_overtraining_dataset
from data_loaders._mat5 import Unsupported, mat5_bytes
from data_loaders._matfile import _cell, read_mat, write_mat
from data_loaders.bernerslee import _session_labels, _spread_counts
from neurolearn.schema import iter_sessions

_PREFIX = len(b"MATLAB 5.0 MAT-file Platform: posix, Created on: ")


def _savemat_bytes(variables):
    """What `savemat` writes for the variables, lists as n × 1 cells as `write_mat` has it."""
    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return _cell(value) if isinstance(value, list) else value
    buffer = io.BytesIO()
    sio.savemat(buffer, {key: plain(value) for key, value in variables.items()},
                do_compression=True, oned_as="column", long_field_names=True)
    return buffer.getvalue()


def _assert_same_file(ours: bytes, scipys: bytes) -> None:
    # The 116-byte text header differs only in its creation time.
    assert ours[:_PREFIX] == scipys[:_PREFIX]
    assert ours[116:] == scipys[116:]


def test_unit_files_are_scipys_bytes():
    """A synthetic session's unit file (raster + the label struct the writer builds)."""
    tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
                                     units_per_session=(3, 4), trials_per_session=60)
    _, ds = next(iter_sessions(tree))
    labels = _session_labels(ds)
    counts = np.asarray(ds["binned"].values)[:, 0, :]
    spread = _spread_counts(counts, 50, np.random.default_rng(0))
    raster = np.zeros((counts.shape[0], 6000), dtype=np.uint8, order="F")
    raster[:, 1000:1000 + spread.shape[1]] = spread
    assert raster.any()
    variables = {"raster_data": raster, "raster_labels": labels}
    _assert_same_file(b"".join(mat5_bytes(variables)), _savemat_bytes(variables))
    # A C-ordered raster gives the same file.
    variables["raster_data"] = np.ascontiguousarray(raster)
    _assert_same_file(b"".join(mat5_bytes(variables)), _savemat_bytes(variables))


@pytest.mark.parametrize("value", [
    3.0, 7, np.int32(-2), np.uint16(9), np.float32(0.5), "", "odor A",
    np.arange(5.0), np.arange(6, dtype=np.int8).reshape(2, 3), np.zeros((0, 0)),
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    ["a", "", "a", np.array([1.5, 2.5]), np.zeros(0), 4.0],
    [],
    {"inner": ["x", "y"], "n": 2.0, "a_field_name_well_beyond_thirty_one_characters": "z"},
])
def test_values_are_scipys_bytes(value):
    variables = {"v": value, "w": {"field": value, "other": "text"}}
    _assert_same_file(b"".join(mat5_bytes(variables)), _savemat_bytes(variables))


@pytest.mark.parametrize("value", [
    np.array([1 + 2j]), np.array([True, False]), "café", np.array(["ab", "cd"]),
    {"_hidden": 1.0}, {}, None, (1, 2), np.array([object()], dtype=object),
])
def test_unsupported_values_raise(value):
    with pytest.raises(Unsupported):
        mat5_bytes({"v": value})


def test_write_mat_falls_back_to_scipy(tmp_path):
    """A label outside the encoder's set is still written (by SciPy) and read back."""
    raster = np.eye(3, 8, dtype=np.uint8)
    write_mat(tmp_path / "a.mat", raster, {"mouse_name": "Q", "flags": np.array([True, False])})
    back = read_mat(tmp_path / "a.mat")
    np.testing.assert_array_equal(back["raster_data"], raster)
    assert back["raster_labels"]["mouse_name"] == "Q"
    np.testing.assert_array_equal(back["raster_labels"]["flags"], [True, False])
