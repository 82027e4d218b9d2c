"""Save and load a study DataTree as one netCDF-4 file (one group per session)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from neurolearn.errors import LoaderError
from neurolearn.schema import validate

__all__ = ["save_netcdf", "load_netcdf"]


def save_netcdf(tree: xr.DataTree, path: str | Path) -> Path:
    """Write ``tree`` to ``path`` with the h5netcdf engine; returns the path."""
    validate(tree, require_rates=False)
    path = Path(path)
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def load_netcdf(path: str | Path) -> xr.DataTree:
    """Read a DataTree written by :func:`save_netcdf`, fully into memory.

    Round trips are exact: ``xr.testing.assert_identical`` holds between the
    saved and the loaded tree.

    Raises
    ------
    LoaderError
        If the file is missing or not a readable netCDF-4/HDF5 file.
    """
    try:
        # `time` holds seconds as plain floats: never decode them as timedeltas.
        with xr.open_datatree(Path(path), engine="h5netcdf", decode_timedelta=False) as tree:
            loaded = tree.load().copy()
    except (OSError, ValueError) as exc:
        raise LoaderError(f"{path}: cannot read as a netCDF-4 DataTree: {exc}") from exc
    validate(loaded, require_rates=False)
    return loaded
