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
from data_loaders.caiman import load_caiman
from data_loaders.events import read_events
from data_loaders.ndt import load_ndt
from data_loaders.netcdf import load_netcdf, save_netcdf
from data_loaders.nwb import load_nwb
from data_loaders.phy import load_phy
from data_loaders.pynapple_io import from_pynapple
from data_loaders.suite2p import load_suite2p
from data_loaders.synthetic import make_overtraining_dataset
from neurolearn.errors import LoaderError

__all__ = [
    "load",
    "list_formats",
    "detect_format",
    "EVENT_FORMATS",
    "load_bernerslee",
    "write_bernerslee",
    "load_nwb",
    "load_suite2p",
    "load_caiman",
    "load_phy",
    "load_ndt",
    "from_pynapple",
    "read_events",
    "load_npz",
    "save_npz",
    "from_arrays",
    "load_netcdf",
    "save_netcdf",
    "make_overtraining_dataset",
]

_FORMATS = {
    "bernerslee": ("directory of Berners-Lee per-unit raster .mat files", load_bernerslee),
    "ndt": ("directory of Neural Decoding Toolbox raster .mat files (label_field=)", load_ndt),
    "nwb": (".nwb file, or a DANDI folder of them (units or ophys + trials)", load_nwb),
    "suite2p": ("Suite2p output folder(s) (plane*/F.npy …) + events table", load_suite2p),
    "caiman": ("CaImAn CNMF .hdf5 results + events table", load_caiman),
    "phy": ("Kilosort/Phy output folder(s) (spike_times.npy …) + events table", load_phy),
    "netcdf": (".nc file written by save_netcdf", load_netcdf),
    "npz": (".npz file written by save_npz", load_npz),
}

#: Formats that have no trials of their own: they need ``events=``.
EVENT_FORMATS = ("suite2p", "caiman", "phy")


def _has(path: Path, pattern: str, depth: int = 2) -> bool:
    return any(any(path.glob("/".join(["*"] * d + [pattern]))) for d in range(depth + 1))


def detect_format(path: str | Path) -> str:
    """The reader :func:`load` would choose for ``path``.

    Folders: a DANDI/NWB folder (``*.nwb`` within two levels), Suite2p
    output (``plane*/F.npy``), Kilosort/Phy output (``spike_times.npy``), else
    Berners-Lee rasters (``*.mat``). Files: by suffix; an ``.h5``/``.hdf5``
    file with an ``estimates`` group is CaImAn's, else netCDF.

    Parameters
    ----------
    path : path

    Returns
    -------
    str
        A key of :func:`list_formats`.

    Raises
    ------
    LoaderError
        If the path does not exist or its format cannot be told.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "s1" / "kilosort4").mkdir(parents=True)
    >>> (folder / "s1" / "kilosort4" / "spike_times.npy").touch()
    >>> (folder / "study.nc").touch()
    >>> detect_format(folder), detect_format(folder / "study.nc")
    ('phy', 'netcdf')
    """
    path = Path(path)
    if not path.exists():
        raise LoaderError(f"{path}: no such file or directory.")
    if path.is_dir():
        for pattern, name in (("*.nwb", "nwb"), ("F.npy", "suite2p"),
                              ("spike_times.npy", "phy")):
            if _has(path, pattern, depth=3 if name == "suite2p" else 2):
                return name
        return "bernerslee"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                if "estimates" in f:
                    return "caiman"
        except OSError:
            pass
        return "netcdf"
    found = {".nc": "netcdf", ".nwb": "nwb", ".npz": "npz"}.get(suffix)
    if found is None:
        raise LoaderError(
            f"{path}: cannot tell the format from the name. Raster .mat files are loaded per "
            f"directory; known formats: {', '.join(_FORMATS)}.")
    return found


def list_formats() -> dict[str, str]:
    """Formats :func:`load` understands, with what each expects.

    Returns
    -------
    dict
        Format name → what the reader expects at ``path``.

    Examples
    --------
    >>> sorted(list_formats())
    ['bernerslee', 'caiman', 'ndt', 'netcdf', 'npz', 'nwb', 'phy', 'suite2p']
    """
    return {name: description for name, (description, _) in _FORMATS.items()}


def load(path: str | Path, *, format: str | None = None, **kwargs: Any) -> xr.DataTree:
    """Load a recording from ``path``, choosing the reader from its form.

    Parameters
    ----------
    path : path
        A folder (Berners-Lee or NDT rasters, Suite2p or Kilosort/Phy output,
        a DANDI folder of NWB files) or a ``.nc``, ``.nwb``, ``.npz`` or
        CaImAn ``.hdf5`` file (see :func:`detect_format`).
    format : str, optional
        Force a reader (see :func:`list_formats`).
    **kwargs
        Passed to the reader (e.g. ``events=`` for Suite2p, CaImAn and Phy,
        ``label_field=`` for NDT rasters).

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
        format = detect_format(path)
    if format not in _FORMATS:
        raise LoaderError(f"unknown format {format!r}; known: {', '.join(_FORMATS)}.")
    return _FORMATS[format][1](path, **kwargs)
