"""Readers that put recordings into neurolearn's canonical layout.

Every loader returns an ``xarray.DataTree`` with one session per node at
``/<mouse>/<session>`` (see :mod:`neurolearn.schema`). :func:`load` picks the
reader from the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from data_loaders.arrays import from_arrays, load_npz, save_npz
from data_loaders.bernerslee import load_bernerslee, write_bernerslee
from data_loaders.netcdf import load_netcdf, save_netcdf
from data_loaders.nwb import load_nwb
from data_loaders.synthetic import make_overtraining_dataset
from neurolearn.errors import LoaderError

__all__ = [
    "load",
    "list_formats",
    "load_bernerslee",
    "write_bernerslee",
    "load_nwb",
    "load_npz",
    "save_npz",
    "from_arrays",
    "load_netcdf",
    "save_netcdf",
    "make_overtraining_dataset",
]

_FORMATS = {
    "bernerslee": ("directory of per-unit raster .mat files", load_bernerslee),
    "netcdf": (".nc file written by save_netcdf", load_netcdf),
    "nwb": (".nwb file with units and trials tables", load_nwb),
    "npz": (".npz file written by save_npz", load_npz),
}


def list_formats() -> dict[str, str]:
    """Formats :func:`load` understands, with what each expects.

    Returns
    -------
    dict
        Format name → what the reader expects at ``path``.

    Examples
    --------
    >>> sorted(list_formats())
    ['bernerslee', 'netcdf', 'npz', 'nwb']
    """
    return {name: description for name, (description, _) in _FORMATS.items()}


def load(path: str | Path, *, format: str | None = None, **kwargs: Any) -> xr.DataTree:
    """Load a recording from ``path``, choosing the reader from its form.

    Parameters
    ----------
    path : path
        A directory (Berners-Lee rasters) or a ``.nc``, ``.nwb`` or ``.npz``
        file.
    format : str, optional
        Force a reader (see :func:`list_formats`).
    **kwargs
        Passed to the reader.

    Returns
    -------
    DataTree
        One validated session per node at ``/<mouse>/<session>``.

    Raises
    ------
    LoaderError
        If the path does not exist or its format is not recognised.
    """
    path = Path(path)
    if format is None:
        if not path.exists():
            raise LoaderError(f"{path}: no such file or directory.")
        if path.is_dir():
            format = "bernerslee"
        else:
            format = {".nc": "netcdf", ".h5": "netcdf", ".nwb": "nwb", ".npz": "npz",
                      ".mat": None}.get(path.suffix.lower())
            if format is None:
                raise LoaderError(
                    f"{path}: cannot tell the format from the name. Berners-Lee .mat files are "
                    f"loaded per directory; known formats: {', '.join(_FORMATS)}.")
    if format not in _FORMATS:
        raise LoaderError(f"unknown format {format!r}; known: {', '.join(_FORMATS)}.")
    return _FORMATS[format][1](path, **kwargs)
