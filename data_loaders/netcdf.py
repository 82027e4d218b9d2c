"""Save and load a study DataTree as one netCDF-4 file (one group per session)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from data_loaders._atomic import atomic_write
from neurolearn.errors import LoaderError
from neurolearn.schema import validate

__all__ = ["save_netcdf", "load_netcdf"]


def save_netcdf(tree: xr.DataTree, path: str | Path) -> Path:
    """Write ``tree`` to ``path`` (netCDF-4, h5netcdf engine), all or nothing.

    Parameters
    ----------
    tree : DataTree
        A study in the canonical layout.
    path : path
        The file to write; an earlier file there is replaced only once the
        new one is complete.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SchemaError
        If ``tree`` is not in the canonical layout.
    LoaderError
        If ``path`` is a folder, its folder is missing, or it is not writable.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     back = load_netcdf(save_netcdf(tree, Path(folder) / "study.nc"))
    >>> back["A/A-d01"]["rates"].identical(tree["A/A-d01"]["rates"])
    True
    """
    validate(tree, require_rates=False)
    path = Path(path)
    with atomic_write(path) as tmp:
        try:
            tree.to_netcdf(tmp, engine="h5netcdf")
        except OSError as exc:
            raise LoaderError(f"{path}: cannot write ({exc}).") from exc
    return path


def load_netcdf(path: str | Path) -> xr.DataTree:
    """Read a DataTree written by :func:`save_netcdf`, fully into memory.

    Round trips are exact: ``xr.testing.assert_identical`` holds between the
    saved and the loaded tree.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    DataTree

    Raises
    ------
    LoaderError
        If the file is missing or not a readable netCDF-4/HDF5 file.

    Examples
    --------
    See :func:`save_netcdf` for a round trip.
    """
    try:
        # `time` holds seconds as plain floats: never decode them as timedeltas.
        with xr.open_datatree(Path(path), engine="h5netcdf", decode_timedelta=False) as tree:
            loaded = tree.load().copy()
    except (OSError, ValueError) as exc:
        raise LoaderError(f"{path}: cannot read as a netCDF-4 DataTree: {exc}") from exc
    validate(loaded, require_rates=False)
    return loaded
