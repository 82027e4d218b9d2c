"""CaImAn CNMF results (``cnm.save('…hdf5')``), aligned to trials by an events table.

CaImAn saves its ``CNMF`` object as nested HDF5 groups: ``/estimates/C``
(denoised traces), ``/estimates/S`` (deconvolved activity) and
``/estimates/F_dff`` (ΔF/F, once ``detrend_df_f`` has run), each
(n_components, n_frames); ``/estimates/idx_components`` lists the accepted
components (``evaluate_components``); ``/params/data/fr`` is the frame rate
(Hz). A value that was ``None`` is stored as the string ``"NoneType"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from data_loaders._study import events_table, study_tree
from data_loaders.events import IMAGING_WINDOW, session_events, session_from_events, trace_responses
from neurolearn.errors import LoaderError, ParameterError

__all__ = ["load_caiman"]

SIGNALS = {"F_dff": "dF/F", "C": "a.u.", "S": "a.u."}


def _dataset(f: h5py.File, key: str) -> np.ndarray | None:
    """The array at ``key``, or None where CaImAn stored ``None`` or nothing."""
    if key not in f or not isinstance(f[key], h5py.Dataset):
        return None
    value = f[key][()]
    if isinstance(value, bytes | str) or (isinstance(value, np.ndarray) and value.dtype.kind in
                                          "SOU"):
        return None  # "NoneType"
    return np.asarray(value)


def _read(file: Path, signal: str, accepted_only: bool) -> dict[str, Any]:
    try:
        f = h5py.File(file, "r")
    except OSError as exc:
        raise LoaderError(f"{file}: cannot read as CaImAn HDF5 results: {exc}") from exc
    with f:
        if "estimates" not in f:
            raise LoaderError(f"{file}: no `estimates` group; is this a file written by "
                              "CaImAn's cnm.save()?")
        traces = _dataset(f, f"estimates/{signal}")
        if traces is None:
            hint = (" Run cnm.estimates.detrend_df_f() before saving, or choose signal='C'."
                    if signal == "F_dff" else "")
            raise LoaderError(f"{file}: `estimates/{signal}` is empty.{hint}")
        fr = _dataset(f, "params/data/fr")
        if fr is None:
            raise LoaderError(f"{file}: no frame rate at `params/data/fr`.")
        idx = _dataset(f, "estimates/idx_components")
    traces = np.atleast_2d(np.asarray(traces, dtype=float))
    n = traces.shape[0]
    if accepted_only and idx is not None:
        accepted = np.zeros(n, bool)
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise LoaderError(f"{file}: `estimates/idx_components` indexes past the {n} "
                              "components.")
        accepted[idx] = True
    else:
        accepted = np.ones(n, bool)
    return {"traces": traces[accepted], "component": np.flatnonzero(accepted),
            "fr": float(np.asarray(fr).ravel()[0]), "rejected": int(n - accepted.sum()),
            "evaluated": idx is not None}


def load_caiman(
    path: str | Path,
    events: str | Path | pd.DataFrame | None = None,
    *,
    session: str | None = None,
    mouse: str | None = None,
    day: int | None = None,
    phase: str | None = None,
    signal: str = "F_dff",
    accepted_only: bool = True,
    frame_times: Any = None,
    window: tuple[float, float] = IMAGING_WINDOW,
    baseline: tuple[float, float] | None = None,
    bin_size: float | None = None,
    zscore: bool = True,
    columns: dict[str, str] | None = None,
) -> xr.DataTree:
    """Load CaImAn HDF5 results, one file per session, aligned to trials.

    Parameters
    ----------
    path : path
        A ``.hdf5``/``.h5`` results file, or a folder of them (one per
        session, named after the file's stem).
    events : path or DataFrame
        Events table (see :mod:`data_loaders.events`).
    session, mouse, day, phase : optional
        Override the file stem and the table's columns.
    signal : {"F_dff", "C", "S"}, default "F_dff"
        ΔF/F, denoised calcium traces, or deconvolved activity.
    accepted_only : bool, default True
        Keep only ``idx_components`` (when the components were evaluated).
    frame_times : array, optional
        Frame times (s, events' clock); default ``frame / fr``.
    window, baseline, bin_size, zscore, columns
        As in :func:`data_loaders.load_suite2p`; ``window`` defaults to
        (0.0, 1.0) s.

    Returns
    -------
    DataTree
        One session per file; ``neuron`` coord ``component`` (index in
        CaImAn's estimates). ``attrs["rejected_components"]`` counts the
        components left out by evaluation.

    Raises
    ------
    LoaderError
        If the file is not CaImAn's, or the signal is missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import h5py, numpy as np, pandas as pd
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "m1-d02.hdf5"
    >>> with h5py.File(file, "w") as f:                     # cnm.save()'s layout
    ...     f["estimates/F_dff"] = np.random.default_rng(0).normal(size=(3, 600))
    ...     f["estimates/idx_components"] = np.array([0, 2])
    ...     f["params/data/fr"] = 10.0
    >>> events = pd.DataFrame({"time": np.arange(2.0, 50.0, 4.0), "stimulus": "A",
    ...                        "label": np.arange(12) % 2, "mouse": "m1", "day": 2})
    >>> load_caiman(file, events).leaves[0]["component"].values.tolist()
    [0, 2]
    """
    if signal not in SIGNALS:
        raise ParameterError(f"`signal` must be one of {tuple(SIGNALS)}; got {signal!r}.")
    path = Path(path)
    if not path.exists():
        raise LoaderError(f"{path}: no such file or directory.")
    files = ([path] if path.is_file() else
             sorted(p for p in path.iterdir() if p.suffix.lower() in (".hdf5", ".h5")))
    if not files:
        raise LoaderError(f"{path}: no CaImAn .hdf5/.h5 results here.")
    if session is not None and len(files) > 1:
        raise ParameterError(f"`session=` names one file; {path} holds {len(files)}.")
    table = events_table(events, columns)
    sessions = []
    for file in files:
        name = session or file.stem
        found = _read(file, signal, accepted_only)
        n_frames = found["traces"].shape[1]
        times = (np.arange(n_frames) / found["fr"] if frame_times is None
                 else np.asarray(frame_times, dtype=float))
        rows = session_events(table, name, where=str(file))
        responses = trace_responses(found["traces"], times, rows["time"].to_numpy(),
                                    window=window, baseline=baseline, bin_size=bin_size,
                                    session=name)
        sessions.append(session_from_events(
            responses, rows, session=name, unit_id=[f"c{c}" for c in found["component"]],
            mouse=mouse, day=day, phase=phase, units=SIGNALS[signal], zscore=zscore,
            neuron_coords={"component": found["component"]}, where=str(file),
            attrs={"source": str(file), "format": "caiman", "signal": signal,
                   "frame_rate_hz": found["fr"], "response_window": list(window),
                   "rejected_components": found["rejected"],
                   "components_evaluated": int(found["evaluated"])}))
    return study_tree(sessions, source=path, format="caiman")
