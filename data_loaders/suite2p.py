"""Suite2p output folders, aligned to trials by an events table.

Suite2p writes, per imaging plane, ``plane<k>/`` with ``F.npy`` and
``Fneu.npy`` (n_rois, n_frames) raw and neuropil fluorescence, ``spks.npy``
(deconvolved activity, same shape), ``iscell.npy`` (n_rois, 2: is-cell 0/1,
classifier probability), ``stat.npy`` (one dict per ROI; ``med`` is its
centre in pixels) and ``ops.npy`` (a dict; ``fs`` is the frame rate per
plane in Hz). A single-plane run may write those files straight into
``suite2p/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from data_loaders._study import events_table, session_folders, study_tree
from data_loaders.events import IMAGING_WINDOW, session_events, session_from_events, trace_responses
from neurolearn.errors import LoaderError, ParameterError

__all__ = ["load_suite2p", "dff"]

_REQUIRED = ("F.npy", "Fneu.npy", "iscell.npy", "ops.npy")
SIGNALS = ("dff", "spks", "F")


def _planes(folder: Path) -> list[Path]:
    planes = sorted((p for p in folder.glob("plane*") if p.is_dir()),
                    key=lambda p: int("".join(c for c in p.name if c.isdigit()) or 0))
    if planes:
        return planes
    return [folder] if (folder / "F.npy").is_file() else []


def _is_suite2p(folder: Path) -> bool:
    return bool(_planes(folder))


def dff(F: np.ndarray, Fneu: np.ndarray, *, neuropil: float = 0.7,
        percentile: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """ΔF/F of Suite2p traces: (Fc − F0) / F0 with Fc = F − neuropil·Fneu.

    Parameters
    ----------
    F, Fneu : arrays of shape (n_rois, n_frames)
        Raw and neuropil fluorescence.
    neuropil : float, default 0.7
        Neuropil coefficient (Suite2p's own default).
    percentile : float, default 8.0
        F0 is this percentile of Fc over the whole recording, per ROI.

    Returns
    -------
    dff : array of shape (n_rois, n_frames)
    f0 : array of shape (n_rois,)
        The baseline; ΔF/F is undefined where it is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> F = np.array([[10.0, 10.0, 20.0, 10.0]]); Fneu = np.zeros_like(F)
    >>> dff(F, Fneu, percentile=0)[0].tolist()
    [[0.0, 0.0, 1.0, 0.0]]
    """
    corrected = np.asarray(F, dtype=float) - neuropil * np.asarray(Fneu, dtype=float)
    f0 = np.percentile(corrected, percentile, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (corrected - f0[:, None]) / f0[:, None]
    return out, f0


def _load(plane: Path, name: str) -> Any:
    try:
        return np.load(plane / name, allow_pickle=name in ("ops.npy", "stat.npy"))
    except Exception as exc:  # numpy raises several types for a corrupt file
        raise LoaderError(f"{plane / name}: cannot read: {exc}") from exc


def _plane_traces(plane: Path, *, signal: str, neuropil: float, percentile: float,
                  iscell_threshold: float | None) -> dict[str, Any]:
    missing = [n for n in _REQUIRED + (("spks.npy",) if signal == "spks" else ())
               if not (plane / n).is_file()]
    if missing:
        raise LoaderError(f"{plane}: missing Suite2p file(s) {', '.join(missing)}.")
    ops = _load(plane, "ops.npy")
    ops = ops.item() if isinstance(ops, np.ndarray) and ops.dtype == object else ops
    if not isinstance(ops, dict) or "fs" not in ops:
        raise LoaderError(f"{plane / 'ops.npy'}: expected a dict with the frame rate `fs` (Hz).")
    iscell = np.asarray(_load(plane, "iscell.npy"), dtype=float)
    F = _load(plane, "F.npy")
    if iscell.ndim != 2 or iscell.shape[0] != F.shape[0]:
        raise LoaderError(f"{plane / 'iscell.npy'}: expected shape ({F.shape[0]}, 2) "
                          f"(one row per ROI); got {iscell.shape}.")
    chosen = (iscell[:, 0] > 0.5 if iscell_threshold is None
              else iscell[:, 1] >= float(iscell_threshold))
    rejected = int((~chosen).sum())
    if signal == "spks":
        traces = np.asarray(_load(plane, "spks.npy"), dtype=float)[chosen]
        units, dropped = "a.u.", []
    elif signal == "F":
        traces = np.asarray(F, dtype=float)[chosen]
        units, dropped = "a.u.", []
    else:
        Fneu = _load(plane, "Fneu.npy")
        if Fneu.shape != F.shape:
            raise LoaderError(f"{plane}: F.npy {F.shape} and Fneu.npy {Fneu.shape} differ.")
        traces, f0 = dff(F[chosen], Fneu[chosen], neuropil=neuropil, percentile=percentile)
        units = "dF/F"
        bad = f0 <= 0
        dropped = [{"unit_id": f"{plane.name}-roi{i}",
                    "reason": f"F0 = {b:.3g} ≤ 0 after neuropil subtraction: ΔF/F undefined"}
                   for i, b in zip(np.flatnonzero(chosen)[bad], f0[bad], strict=True)]
        chosen[np.flatnonzero(chosen)[bad]] = False
        traces = traces[~bad]
    roi = np.flatnonzero(chosen)
    coords: dict[str, Any] = {"roi": roi, "plane": np.full(roi.size, plane.name, dtype=object),
                              "iscell_prob": iscell[roi, 1]}
    if (plane / "stat.npy").is_file():
        stat = _load(plane, "stat.npy")
        if len(stat) == F.shape[0] and all("med" in s for s in stat[roi]):
            med = np.array([s["med"] for s in stat[roi]], dtype=float).reshape(roi.size, 2)
            coords["y_px"], coords["x_px"] = med[:, 0], med[:, 1]
    return {"traces": traces, "fs": float(ops["fs"]), "coords": coords, "units": units,
            "rejected_by_iscell": rejected, "dropped": dropped}


def load_suite2p(
    path: str | Path,
    events: str | Path | pd.DataFrame | None = None,
    *,
    session: str | None = None,
    mouse: str | None = None,
    day: int | None = None,
    phase: str | None = None,
    signal: str = "dff",
    neuropil: float = 0.7,
    f0_percentile: float = 8.0,
    iscell_threshold: float | None = None,
    frame_times: Any = None,
    window: tuple[float, float] = IMAGING_WINDOW,
    baseline: tuple[float, float] | None = None,
    bin_size: float | None = None,
    zscore: bool = True,
    columns: dict[str, str] | None = None,
) -> xr.DataTree:
    """Load Suite2p output folders, one session each, aligned to trials.

    Parameters
    ----------
    path : path
        A Suite2p output folder (``suite2p/`` with ``plane0/``, ``plane1/`` …
        or the plane files themselves), or a folder whose sub-folders are
        such outputs, one per session. A session is named after its folder
        (the folder above ``suite2p/``).
    events : path or DataFrame
        Events table (see :mod:`data_loaders.events`); its ``session`` column
        names the folders when there are several.
    session, mouse, day, phase : optional
        Override the folder name and the table's columns (single folder only
        for ``session``).
    signal : {"dff", "spks", "F"}, default "dff"
        ΔF/F (``(Fc − F0)/F0``, ``Fc = F − neuropil·Fneu``), Suite2p's
        deconvolved ``spks``, or raw ``F``.
    neuropil : float, default 0.7
        Neuropil coefficient for ΔF/F.
    f0_percentile : float, default 8.0
        F0 is this percentile of Fc over the recording, per cell.
    iscell_threshold : float, optional
        Keep ROIs whose classifier probability (``iscell[:, 1]``) is at least
        this; by default Suite2p's own choice (``iscell[:, 0]``).
    frame_times : array, optional
        Time of each frame in s on the events' clock (e.g. frame TTLs); by
        default ``frame / ops['fs']``. Multi-plane recordings share it.
    window : (float, float), default (0.0, 1.0)
        Response window in s from onset.
    baseline : (float, float), optional
        Baseline window subtracted from the response.
    bin_size : float, optional
        Also keep ``binned`` per-bin means over ``window`` (for time-resolved
        decoding).
    zscore : bool, default True
        Z-score each cell within its session (ddof = 1).
    columns : mapping, optional
        Renames of the events table's columns.

    Returns
    -------
    DataTree
        One session per folder at ``/<mouse>/<session>``; ``neuron`` coords
        ``roi`` (index in the plane's ``stat.npy``), ``plane``,
        ``iscell_prob`` and the ROI centre ``x_px``/``y_px``. ``attrs`` record
        the frame rate, the ROIs rejected by ``iscell`` and any cell dropped
        (F0 ≤ 0, constant response).

    Raises
    ------
    LoaderError
        If a file is missing or corrupt, or the events do not fit.
    EventOutsideRecordingError
        If an event's window reaches outside the recording.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> plane = pathlib.Path(tempfile.mkdtemp()) / "m1-d01" / "suite2p" / "plane0"
    >>> plane.mkdir(parents=True)
    >>> rng = np.random.default_rng(0)
    >>> np.save(plane / "F.npy", rng.uniform(200, 300, (4, 600)))
    >>> np.save(plane / "Fneu.npy", rng.uniform(50, 60, (4, 600)))
    >>> np.save(plane / "iscell.npy", np.array([[1, 0.9], [0, 0.2], [1, 0.8], [1, 0.7]]))
    >>> np.save(plane / "ops.npy", np.array({"fs": 10.0}, dtype=object), allow_pickle=True)
    >>> events = pd.DataFrame({"time": np.arange(2.0, 50.0, 4.0), "stimulus": "A",
    ...                        "label": np.arange(12) % 2, "mouse": "m1", "day": 1})
    >>> ds = load_suite2p(plane.parent, events).leaves[0]
    >>> ds["roi"].values.tolist(), ds.attrs["rejected_by_iscell"]
    ([0, 2, 3], 1)
    """
    if signal not in SIGNALS:
        raise ParameterError(f"`signal` must be one of {SIGNALS}; got {signal!r}.")
    path = Path(path)
    table = events_table(events, columns)
    folders = session_folders(path, _is_suite2p, "Suite2p output (plane*/F.npy)")
    if session is not None and len(folders) > 1:
        raise ParameterError("`session=` names one folder; this path holds "
                             f"{len(folders)} sessions (named after their folders).")
    sessions = []
    for name, folder in folders:
        name = session or name
        planes = [_plane_traces(p, signal=signal, neuropil=neuropil, percentile=f0_percentile,
                                iscell_threshold=iscell_threshold) for p in _planes(folder)]
        n_frames = min(p["traces"].shape[1] for p in planes)
        traces = np.concatenate([p["traces"][:, :n_frames] for p in planes])
        times = (np.arange(n_frames) / planes[0]["fs"] if frame_times is None
                 else np.asarray(frame_times, dtype=float)[:n_frames])
        rows = session_events(table, name, where=str(folder))
        responses = trace_responses(traces, times, rows["time"].to_numpy(), window=window,
                                    baseline=baseline, bin_size=bin_size, session=name)
        coords = {k: np.concatenate([p["coords"][k] for p in planes])
                  for k in planes[0]["coords"] if all(k in p["coords"] for p in planes)}
        unit_id = [f"{pl}-roi{r}" for pl, r in zip(coords["plane"], coords["roi"], strict=True)]
        ds = session_from_events(
            responses, rows, session=name, unit_id=unit_id, mouse=mouse, day=day, phase=phase,
            units=planes[0]["units"], zscore=zscore, neuron_coords=coords, where=str(folder),
            attrs={"source": str(folder), "format": "suite2p", "signal": signal,
                   "frame_rate_hz": planes[0]["fs"], "n_planes": len(planes),
                   "neuropil": neuropil, "f0_percentile": f0_percentile,
                   "response_window": list(window),
                   "rejected_by_iscell": sum(p["rejected_by_iscell"] for p in planes)})
        if any(p["dropped"] for p in planes):
            ds.attrs["dropped_units"] = json.dumps(
                [d for p in planes for d in p["dropped"]] + json.loads(ds.attrs["dropped_units"]))
        sessions.append(ds)
    return study_tree(sessions, source=path, format="suite2p")
